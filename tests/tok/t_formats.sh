#!/usr/bin/env bash
# The tokenizer loads the same from tokenizer.json, .json.zst and .json.gz (libarchive detects
# the compression from the content).
set -euo pipefail
command -v zstd >/dev/null && command -v gzip >/dev/null || { echo "skip: needs zstd and gzip"; exit 77; }
zstd -q -dc "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" >tokenizer.json
gzip -c tokenizer.json >tokenizer.json.gz
text='Formats: ünïcödé, <start_of_turn>, tabs	and  spaces'
want=$(printf '%s' "$text" | "$GSAE" tokenize --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst")
for f in tokenizer.json tokenizer.json.gz; do
    got=$(printf '%s' "$text" | "$GSAE" tokenize --tokenizer "$f")
    [ "$got" == "$want" ] || { echo "FAIL: $f gives '$got', want '$want'"; exit 1; }
done
# A truncated compressed file is an error, not a crash.
head -c 100000 "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" >truncated.json.zst
if printf 'x' | "$GSAE" tokenize --tokenizer truncated.json.zst 2>err.txt; then
    echo "FAIL: truncated tokenizer accepted"; exit 1
fi
grep -q "truncated.json.zst" err.txt || { echo "FAIL: message: $(cat err.txt)"; exit 1; }
echo "ok: $want"
