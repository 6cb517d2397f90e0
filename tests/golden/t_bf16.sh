#!/usr/bin/env bash
# bf16 compute mode on every golden case: `gsae golden --compute bf16` agrees with the case's
# reference within the tolerance tests/golden/compare_bf16.py derives (bf16 error at most
# 2 x 2^15 x the f32 mode's error per tensor; greedy tokens equal wherever the reference's
# top-2 margin exceeds twice the derived logit error bound), and two bf16 runs write identical
# files. Negative case: a bf16 output with one resid_post scaled by 1 + 2^-4 must fail the
# check. The f32 run is the parity mode and is compared bit-exactly elsewhere (t_golden.sh).
set -u
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
[ -n "${GSAE_SAN:-}" ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export PYTHONPATH="$TOP/tests/golden${PYTHONPATH:+:$PYTHONPATH}"
status=0 n=0
for case in "$TESTDATA"/gemma2/*/; do
    [ -f "$case/expected.safetensors" ] || continue
    c=$(basename "$case") n=$((n + 1))
    echo "== $c"
    for mode in f32 bf16 bf16b; do
        if ! "$GSAE" golden "$case" "$T/$c.$mode.st" --threads 1 --compute "${mode%b}" \
            2>"$T/$c.$mode.err"; then
            cat "$T/$c.$mode.err"; echo "FAIL $c: gsae golden --compute ${mode%b} failed"; status=1
            continue 2
        fi
    done
    "$PY3" "$TOP/tests/golden/compare_bf16.py" "$case/expected.safetensors" "$T/$c.f32.st" \
        "$T/$c.bf16.st" || { echo "FAIL $c: bf16 outside the derived tolerance"; status=1; }
    if cmp -s "$T/$c.bf16.st" "$T/$c.bf16b.st"; then echo "ok   $c: two bf16 runs identical"
    else echo "FAIL $c: two bf16 runs differ"; status=1; fi
    if cmp -s "$T/$c.f32.st" "$T/$c.bf16.st"; then echo "FAIL $c: bf16 output equals f32's"; status=1; fi
done
[ $n -gt 0 ] || { echo "FAIL: no golden cases under $TESTDATA/gemma2"; exit 1; }
# Negative case: an error beyond bf16 rounding (resid_post.1 scaled by 1 + 2^-4) must fail.
c=tiny-mha-f32-sharded
"$PY3" - "$T/$c.bf16.st" "$T/bad.st" <<'PY'
import json, struct, sys
import numpy as np
blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
h = json.loads(blob[8:8 + n])
b, e = h["resid_post.1"]["data_offsets"]
data = bytearray(blob)
x = np.frombuffer(blob[8 + n + b:8 + n + e], "<f4") * np.float32(1 + 2**-4)
data[8 + n + b:8 + n + e] = x.astype("<f4").tobytes()
open(sys.argv[2], "wb").write(bytes(data))
PY
if "$PY3" "$TOP/tests/golden/compare_bf16.py" "$TESTDATA/gemma2/$c/expected.safetensors" \
    "$T/$c.f32.st" "$T/bad.st" >"$T/bad.log"; then
    echo "FAIL: a resid_post off by 2^-4 passed the bf16 check"; cat "$T/bad.log"; status=1
elif ! grep -q "^FAIL resid_post.1 " "$T/bad.log"; then
    echo "FAIL: the perturbed tensor was not the one flagged:"; cat "$T/bad.log"; status=1
else
    echo "ok   a resid_post off by 2^-4 fails: $(grep '^FAIL resid_post.1' "$T/bad.log")"
fi
exit $status
