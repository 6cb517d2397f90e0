"""Compare two feature_stats.nc files (io/featstats_nc.c): same dimensions, same variables
(type, dimensions, attributes, every value bit for bit, NaN equal to NaN) and same global
attributes, except those in IGNORED_GLOBAL_ATTRS, which legitimately differ between two runs
of one job: gsae_version names the build that wrote the file (a store resumed by a newer
build). The file carries no timestamps.

usage: compare_stats.py EXPECTED.nc GOT.nc
Exit 0: equal; 1: they differ (each difference printed); 2: a file is missing, unreadable or
has no variables.
"""
import sys

import netCDF4
import numpy as np

IGNORED_GLOBAL_ATTRS = {"gsae_version"}


def attrs(obj, ignored=()):
    return {k: obj.getncattr(k) for k in obj.ncattrs() if k not in ignored}


def same_value(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")))
    return bool(np.array_equal(a, b))


def main():
    exp_path, got_path = sys.argv[1:3]
    try:
        e, g = netCDF4.Dataset(exp_path), netCDF4.Dataset(got_path)
    except (OSError, RuntimeError) as ex:
        print(f"FAIL: cannot open: {ex}")
        return 2
    diffs = []
    if not e.variables or not g.variables:
        print(f"FAIL: no variables in {exp_path if not e.variables else got_path}")
        return 2
    ed = {k: len(v) for k, v in e.dimensions.items()}
    gd = {k: len(v) for k, v in g.dimensions.items()}
    if ed != gd:
        diffs.append(f"dimensions {gd}, expected {ed}")
    for name in sorted(e.variables.keys() | g.variables.keys()):
        if name not in g.variables:
            diffs.append(f"variable {name}: missing")
            continue
        if name not in e.variables:
            diffs.append(f"variable {name}: not expected")
            continue
        ev, gv = e.variables[name], g.variables[name]
        if ev.dtype != gv.dtype or ev.dimensions != gv.dimensions:
            diffs.append(f"variable {name}: {gv.dtype}{gv.dimensions}, "
                         f"expected {ev.dtype}{ev.dimensions}")
            continue
        if attrs(ev) != attrs(gv):
            diffs.append(f"variable {name}: attributes {attrs(gv)}, expected {attrs(ev)}")
        a, b = np.ma.getdata(ev[...]), np.ma.getdata(gv[...])
        if a.shape != b.shape:
            diffs.append(f"variable {name}: shape {b.shape}, expected {a.shape}")
        elif not same_value(a, b):
            bits = (lambda x: x.view(f"u{x.itemsize}")) if a.dtype.kind == "f" else (lambda x: x)
            bad = np.argwhere(bits(a) != bits(b))
            at = tuple(int(i) for i in bad[0])
            diffs.append(f"variable {name}: {len(bad)} of {a.size} values differ, first at {at}: "
                         f"{b[at]!r}, expected {a[at]!r}")
    ea, ga = attrs(e, IGNORED_GLOBAL_ATTRS), attrs(g, IGNORED_GLOBAL_ATTRS)
    for k in sorted(ea.keys() | ga.keys()):
        if k not in ea or k not in ga or not same_value(ea[k], ga[k]):
            diffs.append(f"global attribute {k}: {ga.get(k)!r}, expected {ea.get(k)!r}")
    for d in diffs:
        print("FAIL " + d)
    if not diffs:
        print(f"ok   {got_path}: {len(e.variables)} variables equal to {exp_path}'s "
              f"(ignoring {', '.join(sorted(IGNORED_GLOBAL_ATTRS))})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
