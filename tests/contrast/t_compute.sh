#!/usr/bin/env bash
# gsae contrast --compute bf16 (and compute = bf16 in a job file) runs the model in bf16: the
# last-token activations move from f32 mode's by no more than bf16 rounding allows, the same
# features fire on nearly every prompt, and an unknown mode is refused with exit 2.
set -u
"$PY3" -c "import numpy" 2>/dev/null || { echo "skip: $PY3 lacks numpy"; exit 77; }
source "$TOP/tests/contrast/inputs.sh"
contrast "$T/f32" >"$T/f32.log" 2>&1 || { cat "$T/f32.log"; exit 1; }
contrast "$T/bf16" --compute bf16 >"$T/bf16.log" 2>&1 || { cat "$T/bf16.log"; exit 1; }
contrast "$T/bad" --compute fp8 >"$T/bad.log" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "compute" "$T/bad.log" || { echo "FAIL: --compute fp8: exit $rc"; cat "$T/bad.log"; exit 1; }
cat >"$T/job.ini" <<INI
[job]
steps = contrast
[contrast]
model = $T/model
sae = $T/sae.npz
layer = 2
tokenizer = $TESTDATA/tokenizer/gemma2-tokenizer.json.zst
tasks = $TESTDATA/arc
outcomes = $TESTDATA/arc/notebook_outcomes.csv
pairs = $PAIRS
permutations = 2000
seed = 11
compute = bf16
INI
"$GSAE" contrast --job "$T/job.ini" --out "$T/job" >"$T/job.log" 2>&1 || { cat "$T/job.log"; exit 1; }
cmp -s "$T/bf16/acts_last_token.csv" "$T/job/acts_last_token.csv" ||
    { echo "FAIL: compute = bf16 in the job differs from --compute bf16"; exit 1; }
"$PY3" - "$T/f32/acts_last_token.csv" "$T/bf16/acts_last_token.csv" <<'PY'
import csv, sys
import numpy as np
def load(p):
    rows = list(csv.reader(open(p)))
    return rows[0], rows[1:]
h32, r32 = load(sys.argv[1]); h16, r16 = load(sys.argv[2])
assert h32 == h16 and len(r32) == len(r16) and len(r32) > 0, (h32[:4], h16[:4])
# rows: features; columns: "feature", then one per prompt
assert h32[0] == "feature"
a = np.array([[float(v) for v in r[1:]] for r in r32]).T  # (prompts, features)
b = np.array([[float(v) for v in r[1:]] for r in r16]).T
if np.array_equal(a, b):
    print("FAIL: bf16 activations equal f32's bit for bit (the mode did not take effect)"); sys.exit(1)
# JumpReLU: a feature near its threshold may fire in one mode only (a jump by the threshold);
# compare the values of features firing in both
both = (a != 0) & (b != 0)
rel = float(np.max(np.abs(a - b)[both] / np.abs(a)[both]))
def jaccard(x, y):
    fx, fy = set(np.flatnonzero(x)), set(np.flatnonzero(y))
    return len(fx & fy) / len(fx | fy) if fx | fy else 1.0
fire = [jaccard(x, y) for x, y in zip(a, b)]
print("bf16 vs f32 last-token activations: max relative difference where both fire %.3g, mean Jaccard of firing sets %.3f" % (rel, float(np.mean(fire))))
# bf16 rounding (2^-9 relative per GEMM input) through 3 layers: the golden cases' bf16 rtol
# on resid_post is 3e-2; a feature's pre-activation is one more product, its relative change
# larger where it barely exceeds its threshold
if rel > 0.1 or np.mean(fire) < 0.9:
    print("FAIL: bf16 moved the activations too far"); sys.exit(1)
PY
