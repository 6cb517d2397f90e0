#!/usr/bin/env bash
# A stage never reads the weights of layers it does not own. Copy a golden case, overwrite the
# data bytes of every tensor of layers 3-5 (stage 1's) with 0xFF (NaN in bf16), run 2 stages
# (--layers 0-2,3-5): stage 0's outputs (embed, resid_post.0-2) are bit-identical to the clean
# run, while stage 1's (resid_post.3-5 non-finite, logits changed) are not: the damage was live.
set -u
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory: concurrent mpiruns elsewhere on the
# machine cannot collide with ours in /tmp/ompi.*.
export OMPI_MCA_orte_tmpdir_base="$T"
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
src="$TESTDATA/gemma2/tiny-gqa-bf16"
cp -r "$src" "$T/nan"
"$PY3" - "$T/nan/model.safetensors" <<'PY'
import json, re, struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    hit = 0
    for name, e in header.items():
        m = re.match(r"model\.layers\.(\d+)\.", name)
        if m and int(m.group(1)) >= 3:
            b, end = e["data_offsets"]
            f.seek(8 + n + b)
            f.write(b"\xff" * (end - b))
            hit += 1
print(f"overwrote {hit} tensors of layers 3-5 with NaN bytes")
PY
for d in clean nan; do
    dir=$([ $d = clean ] && echo "$src" || echo "$T/nan")
    $MPIRUN -np 2 "$GSAE" golden "$dir" "$T/$d.safetensors" --layers 0-2,3-5 >"$T/$d.log" 2>&1 ||
        { echo "FAIL: $d run"; cat "$T/$d.log"; exit 1; }
done
"$PY3" - "$T/clean.safetensors" "$T/nan.safetensors" "$TOP/tests/golden" <<'PY'
import sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from compare import read_safetensors
clean, nan = read_safetensors(sys.argv[1]), read_safetensors(sys.argv[2])
ok = True
for name in ["embed", "resid_post.0", "resid_post.1", "resid_post.2"]:
    same = clean[name].tobytes() == nan[name].tobytes()
    print(f"{'ok  ' if same else 'FAIL'} stage 0 {name}: bit-identical with stage 1's layers NaN")
    ok &= same
for name in ["resid_post.3", "resid_post.4", "resid_post.5"]:
    hit = not np.isfinite(nan[name]).all()
    print(f"{'ok  ' if hit else 'FAIL'} stage 1 {name}: non-finite after the damage")
    ok &= hit
hit = clean["logits"].tobytes() != nan["logits"].tobytes()
print(f"{'ok  ' if hit else 'FAIL'} stage 1 logits: changed by the damage")
ok &= hit
sys.exit(0 if ok else 1)
PY
