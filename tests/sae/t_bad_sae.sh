#!/usr/bin/env bash
# Bad SAE files through `gsae sae-info`: each must fail with exit status 1 (not a crash) and
# one line on stderr naming the file and the key. Also: f16 and bf16-as-<u2 members load.
set -u
CASE="$TESTDATA/gemma2/tiny-gqa-bf16"
OTHER="$TESTDATA/gemma2/tiny-mha-f32-sharded" # hidden_size 48, not the SAE's 64
SRC="$CASE/sae/params.npz"
cd "$T"

# Build the bad archives from the case's SAE with numpy (stored members, like np.savez).
"$PY3" - "$SRC" <<'PY' || exit 1
import io, json, os, sys, zipfile
import numpy as np
src = dict(np.load(sys.argv[1]))
def npy(a):
    b = io.BytesIO(); np.save(b, a); return b.getvalue()
def write(name, arrays, extra=None):
    with zipfile.ZipFile(name, "w", zipfile.ZIP_STORED) as z:
        for k, a in arrays.items():
            z.writestr(k + ".npy", a if isinstance(a, bytes) else npy(a))
        for k, v in (extra or {}).items():
            z.writestr(k, v)
d = dict(src); del d["threshold"]; write("missing_key.npz", d)
d = dict(src); d["W_dec"] = d["W_dec"][:, :63].copy(); write("wrong_shape.npz", d)
d = dict(src); d["b_enc"] = d["b_enc"].astype("<i4"); write("wrong_dtype.npz", d)
d = dict(src); t = d["threshold"].copy(); t[5] = np.inf; d["threshold"] = t; write("inf_threshold.npz", d)
d = dict(src); d["threshold"] = npy(d["threshold"]).replace(b"'descr'", b"'dexcr'"); write("bad_header.npz", d)
write("not_npy.npz", dict(src), {"notes.txt": b"hello"})
d = dict(src); d["W_enc"] = d["W_enc"].T.copy(); write("transposed.npz", d)
raw = open(sys.argv[1], "rb").read(); open("truncated.npz", "wb").write(raw[: len(raw) // 2])
# accepted variants: f16, bf16 stored as raw <u2, lower-case keys, deflated
d = {k: v.astype("<f2") for k, v in src.items()}; write("f16.npz", d)
d = {k: (v.astype("<f4").view("<u4") >> 16).astype("<u2") for k, v in src.items()}; write("bf16.npz", d)
d = dict(src); d["w_enc"] = d.pop("W_enc"); d["w_dec"] = d.pop("W_dec"); write("lower.npz", d)
np.savez_compressed("deflated.npz", **src)
PY

# SAELens variants from a converted copy.
"$GSAE" mksae lens --from "$SRC" --layout saelens --layer 3 >/dev/null || exit 1
mklens() { rm -rf "$1"; cp -r lens "$1"; "$PY3" -c "
import json, sys
p = '$1/cfg.json'; c = json.load(open(p)); $2; json.dump(c, open(p, 'w'))"; }
mklens lens_arch "c['architecture'] = 'standard'"
mklens lens_hook "c['hook_name'] = 'blocks.3.hook_mlp_out'"
mklens lens_din "c['d_in'] = 65"
mklens lens_hl "c['hook_layer'] = 4"
rm -rf lens_nosft && cp -r lens lens_nosft && rm lens_nosft/sae_weights.safetensors

fails=0
# name | sae path | model | words the message must contain
check_bad() {
    local name=$1 sae=$2 model=$3; shift 3
    "$GSAE" sae-info --sae "$sae" --model "$model" >out.txt 2>err.txt
    local rc=$?
    local lines; lines=$(wc -l <err.txt)
    local ok=1
    [ $rc -eq 1 ] || ok=0
    [ "$lines" -eq 1 ] || ok=0
    grep -qF "$sae" err.txt || ok=0
    for w in "$@"; do grep -qF -- "$w" err.txt || ok=0; done
    if [ $ok -eq 1 ]; then
        echo "ok    $name: $(cat err.txt)"
    else
        echo "FAIL  $name (exit $rc, $lines lines, want: $*): $(cat err.txt)"; fails=$((fails + 1))
    fi
}
check_bad truncated     truncated.npz     "$CASE" "truncated"
check_bad missing_key   missing_key.npz   "$CASE" "threshold" "missing"
check_bad wrong_shape   wrong_shape.npz   "$CASE" "W_dec" "(256, 63)" "(256, 64)"
check_bad wrong_dtype   wrong_dtype.npz   "$CASE" "b_enc" "I32"
check_bad transposed    transposed.npz    "$CASE" "W_dec" "shape"
check_bad d_in_model    "$SRC"            "$OTHER" "d_in" "64" "48"
check_bad inf_threshold inf_threshold.npz "$CASE" "threshold" "non-finite"
check_bad bad_header    bad_header.npz    "$CASE" "threshold.npy" "descr"
check_bad not_npy       not_npy.npz       "$CASE" "notes.txt" "not a .npy"
check_bad no_such_file  nothere.npz       "$CASE" "cannot open"
check_bad lens_arch     lens_arch         "$CASE" "architecture" "jumprelu"
check_bad lens_hook     lens_hook         "$CASE" "hook_name"
check_bad lens_din      lens_din          "$CASE" "d_in" "65"
check_bad lens_hl       lens_hl           "$CASE" "hook_layer"
check_bad lens_nosft    lens_nosft        "$CASE" "sae_weights.safetensors"
check_bad layer_range   lens              "$TESTDATA/gemma2/tiny-mqa-bf16" "layer 3" "does not exist"

for good in f16.npz bf16.npz lower.npz deflated.npz lens; do
    if "$GSAE" sae-info --sae "$good" --model "$CASE" >out.txt 2>err.txt && grep -q "d_sae: 256" out.txt; then
        echo "ok    accepts $good ($(grep dtype out.txt))"
    else
        echo "FAIL  $good was refused: $(cat err.txt)"; fails=$((fails + 1))
    fi
done
echo "$fails failures"
[ $fails -eq 0 ]
