"""Compare a gsae golden output with a case's expected.safetensors.

usage: compare.py EXPECTED.safetensors OUT.safetensors META.json

Floating tensors pass when |a - e| <= atol + rtol * |e| elementwise (tolerance from meta.json);
integer tensors must be equal. Prints one line per tensor (max abs and max relative error) and
the expected tensors the output lacks ("skipped: not computed"). Exit 0 when every tensor
present in OUT matches and OUT has at least one; 1 otherwise.
"""
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
    exp_path, out_path, meta_path = sys.argv[1:4]
    tol = json.load(open(meta_path))["tolerance"]
    rtol, atol = float(tol["rtol"]), float(tol["atol"])
    exp, got = read_safetensors(exp_path), read_safetensors(out_path)
    ok, compared = True, 0
    for name, e in exp.items():
        if name not in got:
            print(f"  skipped: not computed  {name}")
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
        diff = np.abs(a64 - e64)
        rel = diff / np.maximum(np.abs(e64), 1e-30)
        bad = int(np.sum(~(diff <= atol + rtol * np.abs(e64))))
        print(f"{'ok  ' if bad == 0 else 'FAIL'} {name:24s} max abs {diff.max():.3g}  "
              f"max rel {rel.max():.3g}  ({bad} of {e.size} outside atol {atol} rtol {rtol})")
        ok &= bad == 0
    for name in got:
        if name not in exp:
            print(f"FAIL {name}: not in the expected file")
            ok = False
    if compared == 0:
        print("FAIL: nothing compared")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
