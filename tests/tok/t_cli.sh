#!/usr/bin/env bash
# gsae tokenize / detokenize / arc-prompt from the command line: output formats, the reference
# cases through --jsonl, error exits, and the notebook's prompt lengths and token counts.
set -euo pipefail
TK="$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
fail() { echo "FAIL: $*"; exit 1; }
expect() { # expect NAME GOT WANT
    [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"
}

expect ids "$(printf 'Hello, world!' | "$GSAE" tokenize --tokenizer "$TK")" "2 4521 235269 2134 235341"
expect no-bos "$(printf 'Hello, world!' | "$GSAE" tokenize --tokenizer "$TK" --no-bos)" \
    "4521 235269 2134 235341"
expect pieces "$(printf 'Hello, world!\n' | "$GSAE" tokenize --tokenizer "$TK" --pieces)" \
    "<bos> Hello , ▁world ! \\n"
expect empty "$(printf '' | "$GSAE" tokenize --tokenizer "$TK")" "2"
# NUL and invalid UTF-8 go through byte fallback; decoding an invalid byte run gives U+FFFD.
expect nul "$(printf 'a\0b\xff' | "$GSAE" tokenize --tokenizer "$TK" --no-bos)" "235250 217 235268 472"
expect detok "$(echo "2 4521 235269 2134 235341" | "$GSAE" detokenize --tokenizer "$TK")" \
    "Hello, world!"
expect detok-bytes "$(echo "[235250, 217, 235268, 472]" | "$GSAE" detokenize --tokenizer "$TK" | od -An -tx1 | tr -d ' \n')" \
    "610062efbfbd"
expect keep-special "$(echo "2 106 1645" | "$GSAE" detokenize --tokenizer "$TK" --keep-special)" \
    "<bos><start_of_turn>user"

# Out-of-range ids and garbage: a clear error and exit 1, never a crash.
if echo "5 256000" | "$GSAE" detokenize --tokenizer "$TK" 2>err.txt >/dev/null; then
    fail "detokenize accepted id 256000"
fi
grep -q "256000" err.txt || fail "error does not name the id: $(cat err.txt)"
if echo "5 -1 x" | "$GSAE" detokenize --tokenizer "$TK" 2>err.txt >/dev/null; then
    fail "detokenize accepted garbage"
fi
if printf 'x' | "$GSAE" tokenize --tokenizer no-such.json 2>err.txt; then fail "missing tokenizer"; fi
grep -q "no-such.json" err.txt || fail "error does not name the file: $(cat err.txt)"

# Every reference case through --jsonl (one process): ids identical, in order.
"$GSAE" tokenize --tokenizer "$TK" --jsonl <"$TESTDATA/tokenizer/cases.jsonl" >got.jsonl
"$PY3" - "$TESTDATA/tokenizer/cases.jsonl" got.jsonl <<'PY'
import json, sys
want = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(want) == len(got), (len(want), len(got))
bad = [w["name"] for w, g in zip(want, got) if w["ids"] != g["ids"] or list(g) != ["ids"]]
assert not bad, bad
print(f"{len(got)} jsonl cases identical")
PY
# ... and back through detokenize --jsonl: the reference decoded texts.
"$GSAE" detokenize --tokenizer "$TK" --jsonl <got.jsonl >decoded.jsonl
"$PY3" - "$TESTDATA/tokenizer/cases.jsonl" decoded.jsonl <<'PY'
import json, sys
want = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(want) == len(got), (len(want), len(got))
bad = [w["name"] for w, g in zip(want, got) if w["decoded"] != g["text"]]
assert not bad, bad
print(f"{len(got)} jsonl cases decoded identically")
PY
if printf '{"text": 5}\n' | "$GSAE" tokenize --tokenizer "$TK" --jsonl 2>err.txt >/dev/null; then
    fail "jsonl accepted a non-string text"
fi
grep -q "line 1" err.txt || fail "jsonl error does not name the line: $(cat err.txt)"

# The notebook's 10 tasks: prompt length in characters (ASCII), and three token counts.
tail -n +2 "$TESTDATA/arc/notebook_outcomes.csv" | while IFS=, read -r file conf len outcome; do
    got=$("$GSAE" arc-prompt "$TESTDATA/arc/training/$file" | wc -c)
    expect "len_prompt $file" "$got" "$len"
done
for pair in e9afcf9a:390 c9e6f938:527 48d8fb45:1602; do
    task=${pair%%:*}
    n=$("$GSAE" arc-prompt "$TESTDATA/arc/training/$task.json" | "$GSAE" tokenize --tokenizer "$TK" | wc -w)
    expect "tokens $task" "$n" "${pair##*:}"
done
# The target is the first test output, printed as numpy prints it (numpy from Debian's python).
for task in training/e9afcf9a evaluation/00576224; do
    "$GSAE" arc-prompt --target "$TESTDATA/arc/$task.json" >target.txt
    "$PY3" -c 'import json, sys, numpy as np
np.set_printoptions(linewidth=10**6)
t = json.load(open(sys.argv[1]))
sys.exit(open(sys.argv[2]).read() != repr(np.array(t["test"][0]["output"])) + "\n")' \
        "$TESTDATA/arc/$task.json" target.txt || fail "target of $task: $(cat target.txt)"
done
"$GSAE" arc-prompt "$TESTDATA/arc/training/e9afcf9a.json" | tail -c 9 | grep -q '^OUTPUT. $' ||
    fail "prompt does not end with 'OUTPUT. '"
if "$GSAE" arc-prompt missing-task.json 2>err.txt; then fail "arc-prompt accepted a missing file"; fi
grep -q "missing-task.json" err.txt || fail "error does not name the file: $(cat err.txt)"
echo "ok"
