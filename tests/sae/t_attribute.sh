#!/usr/bin/env bash
# gsae attribute on the golden cases, both metrics, with meta.json's attribute section:
#   logit-diff --target/--baseline/--position as meta.json says; answer-logprob with the
#   prompt's last tokens (answer_positions) given as the teacher-forced answer.
# Each run's attribution.nc must equal `gsae golden`'s attrib.* tensors bit for bit and the
# reference within tolerance, and its printed metric and top features must be golden's
# (attribute_check.py). On one case, -np 2 and 3 must write byte-identical files and print the
# same. A wrong metric name given to the checker must fail it (the check can fail).
set -u
[ -x "$PY3" ] && "$PY3" -c 'import numpy, netCDF4' 2>/dev/null || { echo "skip: $PY3 with numpy and netCDF4 not found"; exit 77; }
cd "$T"
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check="$TOP/tests/sae/attribute_check.py"
first=1
for case in "$TESTDATA"/gemma2/*/; do
    name=$(basename "$case")
    eval "$("$PY3" - "$case" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1] + "/../../../golden")
import compare
c = sys.argv[1]
m = json.load(open(c + "/meta.json")); e = compare.read_safetensors(c + "/expected.safetensors")
ids = e["tokens"].tolist()
a = m["attribute"]["metrics"]
ld, al = a["logit_diff"], a["answer_logprob"]
f, l = al["answer_positions"]
assert l == len(ids) - 1
print("IDS=" + ",".join(map(str, ids)))
print("SAE=%s/%s LAYER=%d" % (c, m["sae"]["path"], m["sae"]["layer"]))
print("TGT=%d BASE=%d POS=%d" % (ld["target"], ld["baseline"], ld.get("position", len(ids) - 1)))
print("PIDS=" + ",".join(map(str, ids[:f])) + " AIDS=" + ",".join(map(str, ids[f:])))
PY
)"
    "$GSAE" golden "$case" "$name.golden.safetensors" >"$name.golden.txt" 2>&1 ||
        { fail "$name: golden: $(tail -n 3 "$name.golden.txt")"; continue; }
    nps="1"
    [ $first = 1 ] && nps=$(gsae_np 1 3)
    for np in $nps; do
        run=("$GSAE")
        [ "$np" != 1 ] && run=($MPIRUN -np "$np" "$GSAE")
        common=(attribute --model "$case" --sae "$SAE" --layer "$LAYER" --top 8)
        mkdir -p "$name.ld.$np" "$name.al.$np"
        "${run[@]}" "${common[@]}" --prompt-ids "$IDS" --metric logit-diff --target "$TGT" \
            --baseline "$BASE" --position "$POS" --out "$name.ld.$np" >"$name.ld.$np.txt" 2>&1 ||
            fail "$name -np $np: logit-diff: $(tail -n 3 "$name.ld.$np.txt")"
        "${run[@]}" "${common[@]}" --prompt-ids "$PIDS" --metric answer-logprob \
            --answer-ids "$AIDS" --out "$name.al.$np" >"$name.al.$np.txt" 2>&1 ||
            fail "$name -np $np: answer-logprob: $(tail -n 3 "$name.al.$np.txt")"
        for m in ld al; do
            [ "$m" = ld ] && metric=logit_diff || metric=answer_logprob
            "$PY3" "$check" "$name.$m.$np" "$name.$m.$np.txt" "$name.golden.safetensors" \
                "$case/expected.safetensors" "$case/meta.json" $metric || fail "$name -np $np: $metric"
            if [ "$np" != 1 ]; then
                for f in attribution.nc attribution_top.csv attribution_strip.csv attribution_meta.csv; do
                    cmp -s "$name.$m.1/$f" "$name.$m.$np/$f" || fail "$name $m: $f differs on -np $np"
                done
                cmp -s "$name.$m.1.txt" "$name.$m.$np.txt" || fail "$name $m: output differs on -np $np"
            fi
        done
    done
    if [ $first = 1 ]; then
        # the checker must reject the answer-logprob map compared as logit-diff
        "$PY3" "$check" "$name.al.1" "$name.al.1.txt" "$name.golden.safetensors" \
            "$case/expected.safetensors" "$case/meta.json" logit_diff >neg.txt 2>&1 &&
            fail "$name: the checker accepted the wrong metric"
        grep -q "FAIL" neg.txt || fail "$name: the checker's negative case printed no FAIL"
        # usage errors: exit 2
        "$GSAE" attribute --model "$case" --sae "$SAE" --prompt-ids 2,3 --metric logit-diff \
            --target 1 >usage.txt 2>&1
        [ $? = 2 ] && grep -q -- "--baseline" usage.txt || fail "attribute without --baseline: $(cat usage.txt)"
        "$GSAE" attribute --model "$case" --sae "$SAE" --layer "$LAYER" --prompt-ids 2,3 \
            --metric logit-diff --target 1 --baseline 2 --position 7 >range.txt 2>&1 &&
            fail "attribute accepted --position 7 of 2 tokens"
        grep -q "position" range.txt || fail "out-of-range --position: $(cat range.txt)"
    fi
    first=0
done
[ $fails = 0 ] && echo "ok: gsae attribute matches golden on every case, bit-identical across rank counts"
[ $fails = 0 ]
