#!/usr/bin/env bash
# Stores and every NetCDF file gsae writes open in xarray (Debian's python3-xarray):
#   - a harvested store (7 parts, bf16 residuals) opened with the README recipe
#     (xr.open_mfdataset over the parts) and with io/python/gsae_store.py equals `gsae store
#     dump` token for token; the reader's feature(store, 17) matches feature_stats.nc's count
#     and `gsae maxact`'s top rows (tests/store/xarray_check.py);
#   - the same check fails on a deliberately broken reader (rows sorted by token, not by
#     activation), so it can fail;
#   - the parts, feature_stats.nc, pca.nc, contrast.nc and attribution.nc open with
#     xr.open_dataset, with CF attributes and coordinates (tests/store/xr_open.py).
set -euo pipefail
cd "$T"
"$PY3" -c 'import xarray, dask' 2>/dev/null ||
    { echo "skip: $PY3 lacks xarray or dask (Debian: python3-xarray python3-dask)"; exit 77; }
TOK="$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
"$GSAE" harvest --model m --sae sae.npz --layer 2 --tokenizer "$TOK" \
    --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 6 --max-tokens 2000 \
    --resid bf16 --out h 2>h.log
"$GSAE" store dump h >dump.txt
"$GSAE" maxact h --feature 17 --top 10 --tokenizer "$TOK" --out ma.csv >/dev/null
zstd -dcq "$TOK" >tokenizer.json
d_model=$("$PY3" -c 'import json; print(json.load(open("m/config.json"))["hidden_size"])')
check=("$TOP/tests/store/xarray_check.py" h dump.txt ma.csv tokenizer.json "$d_model" 17)
"$PY3" "${check[0]}" "$TOP/io/python" "${check[@]:1}"

# a reader that sorts by token number instead of activation must fail the same check
mkdir broken
sed 's/np.lexsort((token, -v))/np.lexsort((-v, token))/' "$TOP/io/python/gsae_store.py" \
    >broken/gsae_store.py
! cmp -s broken/gsae_store.py "$TOP/io/python/gsae_store.py" || { echo "FAIL: no broken copy"; exit 1; }
if "$PY3" "${check[0]}" broken "${check[@]:1}" >broken.log 2>&1; then
    echo "FAIL: the check passed a reader that sorts by token"; cat broken.log; exit 1
fi
grep -q "feature(17) top 10 = gsae maxact *FAIL" broken.log ||
    { echo "FAIL: the broken reader failed for another reason"; cat broken.log; exit 1; }
echo "a reader sorting by token fails the check: ok"

# the other files gsae writes: PCA of feature rows (with token text), a contrast, an attribution
"$GSAE" pca --store h --out p --components 3 --sae sae.npz --features 3,7,17 --tokenizer "$TOK" \
    >p.log 2>&1 || { cat p.log; exit 1; }
"$GSAE" pca --store h --out pr --components 2 >pr.log 2>&1 || { cat pr.log; exit 1; }
cat >prompts.jsonl <<'EOF'
{"prompt": "The cat sat on the mat.", "name": "cat", "label": 1}
{"prompt": "Dogs bark at night.", "name": "dog", "label": 0}
{"prompt": "Rain falls in spring.", "name": "rain", "label": 1}
{"prompt": "Fish swim.", "name": "fish", "label": 0}
EOF
"$GSAE" contrast --model m --sae sae.npz --layer 2 --tokenizer "$TOK" --prompts prompts.jsonl \
    --pairs 0-1 --permutations 100 --out c >c.log 2>&1 || { cat c.log; exit 1; }
"$GSAE" attribute --model m --sae sae.npz --layer 2 --tokenizer "$TOK" \
    --prompt "The cat sat on the" --metric logit-diff --target 573 --baseline 9427 --out a \
    >a.log 2>&1 || { cat a.log; exit 1; }
"$PY3" "$TOP/tests/store/xr_open.py" h/part-*.nc h/feature_stats.nc p/pca.nc pr/pca.nc \
    c/contrast.nc a/attribution.nc
echo "xarray: store recipe, reader and every NetCDF file: ok"
