"""Open NetCDF files gsae wrote with xarray (Debian's python3-xarray), as a user would:
xr.open_dataset must accept each file and load every variable; every variable, coordinates
included, carries the CF attributes long_name and units; the dimensions that index things a
user selects by (feature, token, prompt, position) have coordinate variables.

usage: xr_open.py FILE.nc...   Exit 0: all good; 1: a file fails (each problem printed)."""
import sys

import xarray as xr

INDEXED = ("feature", "token", "prompt", "position")

bad = 0
for path in sys.argv[1:]:
    problems = []
    try:
        with xr.open_dataset(path) as ds:
            ds.load()
            for name, var in ds.variables.items():
                for att in ("long_name", "units"):
                    if att not in var.attrs:
                        problems.append(f"{name} lacks {att}")
            for dim in ds.dims:
                if dim in INDEXED and dim not in ds.coords:
                    problems.append(f"dimension {dim} has no coordinate")
            sizes = ", ".join(f"{k} {v}" for k, v in ds.sizes.items())
    except Exception as ex:  # xarray raises many kinds; any is a failure to open
        problems.append(f"{type(ex).__name__}: {ex}")
    if problems:
        bad += 1
        print(f"FAIL {path}: " + "; ".join(problems))
    else:
        print(f"ok   {path}: {len(ds.variables)} variables ({sizes})")
sys.exit(1 if bad else 0)
