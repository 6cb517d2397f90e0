"""Compare `gsae pca --case` outputs with a case's scikit-learn results.

usage: compare.py CASE_DIR OUT_DIR
Checks (tolerances from meta.json): |dot| of each unit component with the expected one,
explained variance (rtol) and its ratio, transformed columns equal up to the component's sign,
fired rows (reconstruction kind) exactly. Exit 0 when all pass.
"""
import json
import os
import sys

import numpy as np


def main(case, out):
    meta = json.load(open(os.path.join(case, "meta.json")))
    tol = meta.get("tolerance", {})
    dot_min = tol.get("components_abs_dot_min", 0.9999)
    ev_rtol = tol.get("explained_variance_rtol", 1e-4)
    comp = np.load(os.path.join(out, "components.npy"))
    exp_comp = np.load(os.path.join(case, "expected_components.npy"))
    ev = np.load(os.path.join(out, "explained_variance.npy"))
    tr = np.load(os.path.join(out, "transformed.npy"))
    exp_tr = np.load(os.path.join(case, "expected_transformed.npy"))
    exp_ev = np.asarray(meta["explained_variance"])
    bad = []
    if comp.dtype != np.float64 or comp.shape != exp_comp.shape:
        bad.append(f"components {comp.dtype} {comp.shape}, expected float64 {exp_comp.shape}")
    if tr.dtype != np.float64 or tr.shape != exp_tr.shape:
        bad.append(f"transformed {tr.dtype} {tr.shape}, expected float64 {exp_tr.shape}")
    if ev.shape != exp_ev.shape:
        bad.append(f"explained_variance shape {ev.shape}, expected {exp_ev.shape}")
    if meta["kind"] == "reconstruction":
        fired = np.load(os.path.join(out, "fired_rows.npy"))
        exp_fired = np.load(os.path.join(case, "expected_fired_rows.npy"))
        if fired.dtype != np.int64 or not np.array_equal(fired, exp_fired):
            bad.append(f"fired_rows: {fired.size} rows ({fired.dtype}), expected "
                       f"{exp_fired.size}; first differences "
                       f"{np.setxor1d(fired, exp_fired)[:10]}")
    if bad:
        print("FAIL", *bad, sep="\n  ")
        return 1
    for c in range(exp_comp.shape[0]):
        u = comp[c] / np.linalg.norm(comp[c])
        e = exp_comp[c] / np.linalg.norm(exp_comp[c])
        dot = float(u @ e)
        sign = 1.0 if dot >= 0 else -1.0
        ev_rel = abs(ev[c] - exp_ev[c]) / abs(exp_ev[c])
        col = tr[:, c] * sign
        scale = max(np.abs(exp_tr[:, c]).max(), 1e-300)
        tr_err = float(np.abs(col - exp_tr[:, c]).max() / scale)
        ok = abs(dot) >= dot_min and ev_rel <= ev_rtol and tr_err <= 1e-3
        print(f"PC{c + 1}: |dot| {abs(dot):.12f} (>= {dot_min})  explained variance {ev[c]:.10g} "
              f"vs {exp_ev[c]:.10g} (rel {ev_rel:.2e} <= {ev_rtol})  transformed max rel err "
              f"{tr_err:.2e}  {'ok' if ok else 'FAIL'}")
        if not ok:
            bad.append(f"PC{c + 1}")
    if "explained_variance_ratio" in meta:
        ratio = np.load(os.path.join(out, "explained_variance_ratio.npy"))
        if not np.allclose(ratio, meta["explained_variance_ratio"], rtol=ev_rtol, atol=0):
            bad.append(f"explained_variance_ratio {ratio} vs {meta['explained_variance_ratio']}")
    if bad:
        print("FAIL:", ", ".join(bad))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
