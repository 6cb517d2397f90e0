"""Compare a gsae golden output with a case's expected.safetensors.

usage: compare.py [--not-computed GLOB]... EXPECTED.safetensors OUT.safetensors META.json

Floating tensors pass when |a - e| <= atol + rtol * |e| elementwise (tolerance from meta.json;
attrib.* tensors use meta.json's attribute.tolerance: atol = atol_of_max * max|e|);
integer tensors must be equal. Prints one line per tensor (max abs and max relative error).
Every expected tensor must be in OUT: one that OUT lacks is a failure, unless its name matches a
--not-computed GLOB (fnmatch, e.g. 'attrib.*'), which names tensors gsae does not compute yet;
those are listed as skipped. A tensor that matches a GLOB but is in OUT is compared like any
other. A tensor in OUT that EXPECTED lacks is a failure. Exit 0 when every expected tensor
matches or is named not computed and at least one was compared; 1 otherwise; 2 on bad usage.
"""
import argparse
import fnmatch
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32,
          "I64": np.int64, "U8": np.uint8, "I8": np.int8, "BOOL": np.bool_}


def read_safetensors(path):
    """Return {name: ndarray} (bf16 widened to f32) in file order."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = blob[base + b:base + end]
        if e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=np.dtype(DTYPES[e["dtype"]]).newbyteorder("<"))
        out[name] = a.reshape(e["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--not-computed", action="append", default=[], metavar="GLOB",
                    help="expected tensors matching GLOB may be absent from OUT (not computed yet)")
    ap.add_argument("expected")
    ap.add_argument("out")
    ap.add_argument("meta")
    args = ap.parse_args()
    meta = json.load(open(args.meta))
    tol = meta["tolerance"]
    rtol, atol = float(tol["rtol"]), float(tol["atol"])
    # Attribution tensors carry their own rule: |got - want| <= rtol*|want| + atol_of_max*max|want|.
    atol_tol = meta.get("attribute", {}).get("tolerance")
    exp, got = read_safetensors(args.expected), read_safetensors(args.out)
    ok, compared, skipped = True, 0, 0
    for name, e in exp.items():
        if name not in got:
            glob = next((g for g in args.not_computed if fnmatch.fnmatchcase(name, g)), None)
            if glob is not None:
                print(f"  skipped: not computed  {name}  (named by --not-computed '{glob}')")
                skipped += 1
            else:
                print(f"FAIL {name}: expected, but not in the output")
                ok = False
            continue
        a = got[name]
        compared += 1
        if a.shape != e.shape or a.dtype != e.dtype:
            print(f"FAIL {name}: {a.dtype}{list(a.shape)}, expected {e.dtype}{list(e.shape)}")
            ok = False
            continue
        if np.issubdtype(e.dtype, np.integer):
            bad = int(np.sum(a != e))
            print(f"{'ok  ' if bad == 0 else 'FAIL'} {name:24s} int, {bad} of {e.size} differ"
                  + ("" if bad == 0 else f": got {a.tolist()}, expected {e.tolist()}"))
            ok &= bad == 0
            continue
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        t_rtol, t_atol = rtol, atol
        if name.startswith("attrib.") and atol_tol is not None:
            t_rtol = float(atol_tol["rtol"])
            t_atol = float(atol_tol["atol_of_max"]) * float(np.abs(e64).max(initial=0.0))
        diff = np.abs(a64 - e64)
        rel = diff / np.maximum(np.abs(e64), 1e-30)
        bad = int(np.sum(~(diff <= t_atol + t_rtol * np.abs(e64))))
        print(f"{'ok  ' if bad == 0 else 'FAIL'} {name:24s} max abs {diff.max(initial=0.0):.3g}  "
              f"max rel {rel.max(initial=0.0):.3g}  ({bad} of {e.size} outside atol {t_atol:.3g} rtol {t_rtol})")
        ok &= bad == 0
    for name in got:
        if name not in exp:
            print(f"FAIL {name}: not in the expected file")
            ok = False
    for g in args.not_computed:
        present = [n for n in exp if fnmatch.fnmatchcase(n, g) and n in got]
        if present:
            print(f"note: --not-computed '{g}': the output has {len(present)} such tensor(s) "
                  f"now, compared above; the exemption can go")
    if compared == 0:
        print("FAIL: nothing compared")
        ok = False
    print(f"{'ok  ' if ok else 'FAIL'} {compared} compared, {skipped} skipped as not computed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
