"""Check a bf16-mode gsae golden output against the case's reference, with a derived tolerance.

usage: compare_bf16.py EXPECTED.safetensors F32_OUT.safetensors BF16_OUT.safetensors

The tolerance is derived, per tensor, from how much this model amplifies rounding errors.
Both gsae modes differ from the reference (gemma_pytorch in f32) only by rounding errors
propagated through the same network: f32 mode rounds with unit roundoff 2^-24, bf16 mode
rounds every GEMM input with unit roundoff 2^-9 (the f32 accumulation adds f32-sized errors
only). To first order the propagated error scales with the unit roundoff, so

    err_bf16(t) ~= 2^15 * err_f32(t),   err(t) = ||out_t - ref_t|| / ||ref_t|| (Frobenius)

for each tensor t (resid_post.L, logits, greedy.logits). The measured ratio on the golden
cases is 0.2-0.55 x 2^15 at every layer (the random tiny models amplify errors ~1.5-2x per
layer, the same in both modes), so the check is

    err_bf16(t) <= 2 * 2^15 * err_f32(t)   (and at least 2^-8, one bf16 ulp, as a floor)

which fails on any error not explained by bf16 rounding (a wrong scale, mask or layout gives
O(1) errors). Greedy tokens: at each step before the first disagreement, the reference's
top-2 logit margin is compared with twice the derived bound on that step's logit error
(2 * 2^15 * max-abs f32 error of the step's logits, floor 2^-8 * max |logit|); where the
margin is larger, no bf16 rounding can flip the argmax and the tokens must be equal. After a
permitted disagreement the contexts differ, so later steps (tokens and greedy.logits) are not
compared.

Prints one line per tensor and exits 1 on any failure.
"""
import sys

import numpy as np

from compare import read_safetensors

RATIO = 2.0 ** 15  # unit roundoff of bf16 inputs over f32's
SAFETY = 2.0
FLOOR = 2.0 ** -8


def rel(a, ref):
    ref = np.asarray(ref, np.float64)
    return float(np.linalg.norm(np.asarray(a, np.float64) - ref) / max(np.linalg.norm(ref), 1e-30))


def main(exp_path, f32_path, bf16_path):
    e, f, b = (read_safetensors(p) for p in (exp_path, f32_path, bf16_path))
    ok = True
    # greedy.logits rows after the bf16 tokens first differ come from another context: compare
    # only the steps up to and including the first difference.
    if "greedy" in e and "greedy" in b:
        diff = np.nonzero(np.asarray(e["greedy"]) != np.asarray(b["greedy"]))[0]
        n_same = int(diff[0]) + 1 if len(diff) else len(e["greedy"])
        for t in (e, f, b):
            if "greedy.logits" in t:
                t["greedy.logits"] = np.asarray(t["greedy.logits"])[:n_same]
    for name in e:
        if not (name.startswith("resid_post.") or name in ("logits", "greedy.logits")):
            continue
        if name not in b or name not in f:
            continue
        ef, eb = rel(f[name], e[name]), rel(b[name], e[name])
        tol = max(SAFETY * RATIO * ef, FLOOR)
        good = eb <= tol
        ok &= good
        print("%s %-16s bf16 rel error %.3g, f32 %.3g, ratio %.2f x 2^15, tolerance %.3g" %
              ("ok  " if good else "FAIL", name, eb, ef, eb / ef / RATIO if ef > 0 else 0, tol))
    if "greedy" in e and "greedy" in b and "greedy.logits" in e and "greedy.logits" in f:
        ref_tok, got = np.asarray(e["greedy"]), np.asarray(b["greedy"])
        ref_l = np.asarray(e["greedy.logits"], np.float64)
        f32_l = np.asarray(f["greedy.logits"], np.float64)
        checked = 0
        for t in range(len(ref_tok)):
            top = np.sort(ref_l[t])[-2:]
            margin = top[1] - top[0]
            bound = max(SAFETY * RATIO * np.abs(f32_l[t] - ref_l[t]).max(),
                        FLOOR * np.abs(ref_l[t]).max())
            if got[t] != ref_tok[t]:
                if margin > 2 * bound:
                    print("FAIL greedy step %d: token %d, expected %d; margin %.3g > 2 x %.3g" %
                          (t, got[t], ref_tok[t], margin, bound))
                    ok = False
                else:
                    print("ok   greedy step %d differs (%d vs %d) within margin %.3g <= 2 x %.3g;"
                          " later steps not compared" % (t, got[t], ref_tok[t], margin, bound))
                break
            checked += 1
        print("ok   greedy: %d of %d steps equal before any permitted divergence" %
              (checked, len(ref_tok)) if ok else "FAIL greedy")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
