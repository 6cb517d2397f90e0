#!/usr/bin/env bash
# The same SAE in every layout gives the same golden output, bit for bit: a case's params.npz
# repacked by Python's zipfile stored and deflated, converted to SAELens by `gsae mksae --from`,
# and a SAELens case converted to .npz by numpy. Each variant is a copy of the case whose
# meta.json points at the converted SAE; `gsae golden` must write the identical file and pass
# the case's comparison.
set -u
source "$TOP/tests/golden/not_computed.sh"
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
cd "$T"
fails=0
echo "not computed yet, skipped where absent: ${GOLDEN_NOT_COMPUTED[*]:-(none)}"

# variant CASE NAME SAE_REL FORMAT: a copy of CASE (links) whose meta.json says sae at SAE_REL.
variant() {
    local case=$1 name=$2 rel=$3 fmt=$4
    mkdir -p "$name"
    for f in "$case"/*; do
        case $(basename "$f") in meta.json|sae) ;; *) ln -sf "$f" "$name/" ;; esac
    done
    "$PY3" -c "
import json, sys
m = json.load(open('$case/meta.json')); m['sae']['path'] = '$rel'; m['sae']['format'] = '$fmt'
json.dump(m, open('$name/meta.json', 'w'), indent=2)"
}

same_output() { # CASE_DIR REFERENCE_OUT
    local dir=$1 ref=$2
    if ! "$GSAE" golden "$dir" "$dir.out" 2>"$dir.err"; then
        echo "FAIL $dir: golden failed: $(cat "$dir.err")"; fails=$((fails + 1)); return
    fi
    if cmp -s "$dir.out" "$ref"; then
        echo "ok   $dir: identical to the original layout's output"
    else
        echo "FAIL $dir: output differs from the original layout's"; fails=$((fails + 1))
        "$PY3" "$TOP/tests/golden/compare.py" "$ref" "$dir.out" "$dir/meta.json"
    fi
    "$PY3" "$TOP/tests/golden/compare.py" "${GOLDEN_NOT_COMPUTED_ARGS[@]}" "$dir/expected.safetensors" "$dir.out" "$dir/meta.json" >/dev/null \
        || { echo "FAIL $dir: does not match expected.safetensors"; fails=$((fails + 1)); }
}

NPZ_CASE="$TESTDATA/gemma2/tiny-gqa-bf16"
LENS_CASE="$TESTDATA/gemma2/tiny-mha-f32-sharded"
"$GSAE" golden "$NPZ_CASE" npz_ref.out 2>/dev/null || { echo "FAIL: golden on $NPZ_CASE"; exit 1; }
"$GSAE" golden "$LENS_CASE" lens_ref.out 2>/dev/null || { echo "FAIL: golden on $LENS_CASE"; exit 1; }

# npz repacked stored and deflated by Python's zipfile (np.savez / np.savez_compressed)
for how in stored deflated; do
    variant "$NPZ_CASE" "npz_$how" "sae/params.npz" npz
    mkdir -p "npz_$how/sae"
    "$PY3" - "$NPZ_CASE/sae/params.npz" "npz_$how/sae/params.npz" "$how" <<'PY' || exit 1
import sys, zipfile, numpy as np
src = dict(np.load(sys.argv[1]))
(np.savez if sys.argv[3] == "stored" else np.savez_compressed)(sys.argv[2], **src)
method = {i.compress_type for i in zipfile.ZipFile(sys.argv[2]).infolist()}
want = zipfile.ZIP_STORED if sys.argv[3] == "stored" else zipfile.ZIP_DEFLATED
assert method == {want}, method
PY
    same_output "npz_$how" npz_ref.out
done

# npz -> SAELens with gsae's writer
variant "$NPZ_CASE" npz_as_lens "sae_lens" saelens
layer=$("$PY3" -c "import json; print(json.load(open('$NPZ_CASE/meta.json'))['sae']['layer'])")
"$GSAE" mksae npz_as_lens/sae_lens --from "$NPZ_CASE/sae/params.npz" --layout saelens --layer "$layer" >/dev/null || exit 1
same_output npz_as_lens npz_ref.out

# SAELens -> npz with numpy (reading the safetensors file directly)
variant "$LENS_CASE" lens_as_npz "params.npz" npz
"$PY3" - "$LENS_CASE/sae/sae_weights.safetensors" lens_as_npz/params.npz <<'PY' || exit 1
import json, struct, sys, numpy as np
blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8]); hdr = json.loads(blob[8:8 + n])
arr = {}
for k, e in hdr.items():
    if k == "__metadata__": continue
    assert e["dtype"] == "F32"
    b, end = e["data_offsets"]
    arr[k] = np.frombuffer(blob[8 + n + b:8 + n + end], dtype="<f4").reshape(e["shape"])
np.savez(sys.argv[2], **arr)
PY
same_output lens_as_npz lens_ref.out

echo "$fails failures"
[ $fails -eq 0 ]
