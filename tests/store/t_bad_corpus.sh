#!/usr/bin/env bash
# Bad corpus input is reported with shard and line; --on-bad-doc skip goes on, fail stops
# (exit 1, no crash). Covers: a truncated .zst, a line that is not JSON, a missing "text",
# invalid UTF-8, an empty shard, a missing shard.
set -euo pipefail
cd "$T"
{
    printf '{"text": "first good document with enough bytes to fill a window or two"}\n'
    printf 'this is not json\n'
    printf '{"meta": {"pile_set_name": "x"}}\n'
    printf '{"text": "bad \xff utf8"}\n'
    printf '{"text": "second good document, also long enough to make a window"}\n'
} >bad.jsonl
: >empty.jsonl
head -c 30000 "$TESTDATA/pile/00.jsonl.zst" >cut.jsonl.zst
corpus="bad.jsonl,empty.jsonl,cut.jsonl.zst"
"$GSAE" store synth --corpus "$corpus" --context 16 --windows-per-part 2000 --out skip --on-bad-doc skip 2>skip.log
cat skip.log
grep -q "bad.jsonl:2: not JSON" skip.log
grep -q 'bad.jsonl:3: "text" is missing' skip.log
grep -q "bad.jsonl:4: invalid UTF-8" skip.log
grep -q "empty.jsonl: no document" skip.log
grep -q "cut.jsonl.zst:.*Truncated" skip.log
"$GSAE" store verify skip >/dev/null
if "$GSAE" store synth --corpus "$corpus" --context 16 --windows-per-part 2000 --out fail --on-bad-doc fail 2>fail.log; then
    echo "fail mode went on"; exit 1
fi
cat fail.log
grep -q "bad.jsonl:2: not JSON" fail.log
if "$GSAE" store synth --corpus "empty.jsonl" --context 16 --out e 2>e.log; then exit 1; fi
grep -q "empty.jsonl: no document" e.log
if "$GSAE" store synth --corpus "missing.jsonl.zst" --context 16 --out m 2>m.log; then exit 1; fi
grep -q "missing.jsonl.zst" m.log
echo "bad corpus input reported with shard:line"
