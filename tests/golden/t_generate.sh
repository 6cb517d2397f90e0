#!/usr/bin/env bash
# gsae generate: greedy decoding with the KV cache reproduces each golden case's `greedy`
# tokens from its prompt, and sampling with a seed is reproducible. An empty side never
# matches: a case without prompt or greedy tokens, or a run that prints no ids, fails
# (tests/golden/t_generate_neg.sh runs this script on such cases).
set -u
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
status=0 n=0
for case in "$TESTDATA"/gemma2/*/; do
    name=$(basename "$case") n=$((n + 1))
    ids="" want="" n_new=0
    read -r ids want n_new < <("$PY3" - "$case" <<'PY'
import os, sys
sys.path.insert(0, os.environ["TOP"] + "/tests/golden")
from compare import read_safetensors
e = read_safetensors(sys.argv[1] + "/expected.safetensors")
print(",".join(map(str, e["tokens"].tolist())), ",".join(map(str, e["greedy"].tolist())),
      len(e["greedy"]))
PY
)
    if [ -z "$ids" ] || [ -z "$want" ] || ! [[ "$n_new" =~ ^[1-9][0-9]*$ ]]; then
        echo "FAIL $name: no prompt or greedy tokens in ${case%/}/expected.safetensors"; status=1; continue
    fi
    got=$("$GSAE" generate "$case" --ids "$ids" --max-new "$n_new" --no-eos | sed -n 's/^ids: //p')
    if [ -n "$got" ] && [ "$got" = "$want" ]; then echo "ok   $name greedy: $got"
    else echo "FAIL $name greedy: got '$got', expected '$want'"; status=1; fi
done
[ $n -gt 0 ] || { echo "FAIL: no golden cases under $TESTDATA/gemma2"; exit 1; }
case="$TESTDATA/gemma2/tiny-gqa-bf16"
run() { "$GSAE" generate "$case" --ids 2,10,20,30 --max-new 16 --no-eos --temperature 1.0 --top-k 50 --top-p 0.95 --seed "$1" | sed -n 's/^ids: //p'; }
a=$(run 7) b=$(run 7) c=$(run 8)
[ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL: seed 7 gave '$a' then '$b'"; status=1; }
[ -n "$c" ] && [ "$a" != "$c" ] || { echo "FAIL: seeds 7 and 8 gave '$a' and '$c'"; status=1; }
echo "sampled (seed 7): $a"
"$GSAE" generate "$case" --ids 2,5000 --max-new 2 2>"$T/err" && { echo "FAIL: id 5000 accepted"; status=1; }
grep -q "token 1 is 5000" "$T/err" || { echo "FAIL: message: $(cat "$T/err")"; status=1; }
exit $status
