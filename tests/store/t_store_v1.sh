#!/usr/bin/env bash
# Stores of schema_version 1 (tests/data/store_v1, written by an older gsae) stay readable:
# verify passes, dump prints what it printed then, PCA reads them; the same settings give a
# version 2 store with the same content. A harvest does not extend a version 1 store (complete,
# or with a part missing): it stops with a message naming the version and leaves the store as
# it was, so no store mixes versions.
set -euo pipefail
cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
# The store is kept as text: its NetCDF files as CDL (ncdump -s -p 9,17), rebuilt here with ncgen
# (the parts' checksums cover their content, so the rebuilt files verify as the originals did).
mkdir v1
cp "$TESTDATA/store_v1/store/manifest.json" v1/
for cdl in "$TESTDATA"/store_v1/store/*.cdl; do
    ncgen -4 -o "v1/$(basename "$cdl" .cdl).nc" "$cdl"
done
"$GSAE" store verify v1 >verify.txt || { cat verify.txt; fail "verify of a version 1 store"; }
grep -q "v1: 3 parts, 0 problems, 0 stray files" verify.txt || fail "$(tail -n 1 verify.txt)"
"$GSAE" store dump v1 2>/dev/null | cmp - "$TESTDATA/store_v1/dump.txt" || fail "dump of version 1"
"$GSAE" store info v1 | grep -q "schema_version = 1" || fail "info lacks schema_version 1"
"$GSAE" pca --store v1 --out pca --components 2 >pca.log 2>&1 || { cat pca.log; fail "pca"; }
[ -s pca/pca.nc ] || fail "pca wrote no pca.nc"
echo "version 1: verify, dump, info and pca: ok"

# The store was made next to a copy of the shard named 00.jsonl.zst (its job hash names it).
cp "$TESTDATA/pile/00.jsonl.zst" .
synth=("$GSAE" store synth --corpus 00.jsonl.zst --context 16 --windows-per-part 3 --d-sae 300
       --d-model 4 --bf16 --max-windows 7)
"${synth[@]}" --out v2 2>/dev/null
"$GSAE" store dump v2 2>/dev/null | cmp - "$TESTDATA/store_v1/dump.txt" || fail "v2 content differs"
"$GSAE" store info v2 | grep -q "schema_version = 2" || fail "new store is not version 2"
echo "the same settings now write version 2 with the same content: ok"

refused() { # refused STORE: a harvest into STORE stops with the version message, STORE unchanged
    (cd "$1" && find . -type f -exec md5sum {} + | sort) >before.txt
    if "${synth[@]}" --out "$1" 2>err.txt; then fail "a harvest extended version 1 store $1"; fi
    grep -q "$1: the store's parts have schema_version 1 (part-00000.nc); this gsae writes version 2" \
        err.txt || { cat err.txt; fail "no version message for $1"; }
    (cd "$1" && find . -type f -exec md5sum {} + | sort) | cmp - before.txt || fail "$1 changed"
    echo "harvest into version 1 store $1 refused: $(head -c 100 err.txt)..."
}
refused v1
cp -r v1 partial # the stream not ended: the last part missing, the manifest incomplete
rm partial/part-00002.nc partial/feature_stats.nc
"$PY3" - <<'PY'
import json
m = json.load(open("partial/manifest.json"))
m["parts"] = m["parts"][:2]
m["complete"], m["n_parts_total"] = False, -1
json.dump(m, open("partial/manifest.json", "w"), indent=1)
PY
refused partial
