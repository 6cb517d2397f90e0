# gsae contrast's other inputs and its refusals: a JSON lines prompt set with labels (group
# contrast over 2 + 2 prompts; stored names and labels), a prompt whose length differs from the
# recorded len_prompt (a warning naming it, the run goes on), and bad settings (pair index, layer,
# missing settings, unknown key), which fail on every rank with one message and no hang.
set -u
"$PY3" -c "import numpy, netCDF4" 2>/dev/null || { echo "skip: $PY3 lacks numpy or netCDF4"; exit 77; }
source "$TOP/tests/contrast/inputs.sh"
fail=0
common=(--model "$T/model" --sae "$T/sae.npz" --layer 2
        --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst")

# JSON lines, each label spelling; group contrast with the default permutations
cat >"$T/p.jsonl" <<'JSONL'
{"name": "alpha", "prompt": "The cat sat on the mat.", "label": true, "confidence": 3}
{"name": "beta, quoted", "prompt": "Numbers: 1, 2, 3, 4, 5.", "label": "success"}
{"name": "gamma", "prompt": "def f(x):\n    return x + 1\n", "label": 0}
{"prompt": "Guten Morgen, wie geht's?", "label": false, "len_prompt": 25}
JSONL
"$GSAE" contrast "${common[@]}" --prompts "$T/p.jsonl" --pairs 0-2,1-3 --top 5 \
    --out "$T/jsonl" >"$T/jsonl.log" 2>&1 || { cat "$T/jsonl.log"; exit 1; }
grep -q "group contrast: 2 successful minus 2 failed prompts, 1000 permutations" "$T/jsonl.log" ||
    { echo "FAIL: JSONL group contrast"; cat "$T/jsonl.log"; fail=1; }
head -1 "$T/jsonl/acts_last_token.csv" | grep -qx 'feature,alpha,"beta, quoted",gamma,line 4' ||
    { echo "FAIL: acts header"; head -1 "$T/jsonl/acts_last_token.csv"; fail=1; }
[ "$(wc -l <"$T/jsonl/table_group_contrast.csv")" -eq 6 ] || { echo "FAIL: --top 5"; fail=1; }
"$PY3" - "$T/jsonl/contrast.nc" <<'PY' || fail=1
import sys, numpy as np, netCDF4
nc = netCDF4.Dataset(sys.argv[1]); nc.set_auto_mask(False)
ok = [str(s) for s in nc["name"][:]] == ["alpha", "beta, quoted", "gamma", "line 4"]
ok &= list(nc["label"][:]) == [1, 1, 0, 0] and list(nc["len_prompt"][:]) == [-1, -1, -1, 25]
c = nc["confidence"][:]
ok &= c[0] == 3 and np.all(np.isnan(c[1:])) and nc.n_permutations == 1000 and nc.permutation_seed == 0
ok &= nc["acts"].shape == (4, 256) and nc.dimensions["group_top"].size == 5
print("jsonl contrast.nc", "ok" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY

# a recorded len_prompt that is not the prompt's length: warned about, not fatal
sed 's/^c9e6f938.json,5,1218,/c9e6f938.json,5,1219,/' "$TESTDATA/arc/notebook_outcomes.csv" >"$T/outcomes.csv"
"$GSAE" contrast "${common[@]}" --arc "$TESTDATA/arc" --tasks e9afcf9a,c9e6f938,d037b0a7 \
    --outcomes "$T/outcomes.csv" --out "$T/warn" >"$T/warn.log" 2>"$T/warn.err" ||
    { cat "$T/warn.err"; fail=1; }
grep -q "warning: c9e6f938: the prompt has 1218 characters, len_prompt says 1219" "$T/warn.err" &&
    [ "$(wc -l <"$T/warn.err")" -eq 1 ] || { echo "FAIL: len_prompt warning"; cat "$T/warn.err"; fail=1; }
grep -q "group contrast skipped: 2 successful, 1 failed" "$T/warn.log" || { echo "FAIL: skip note"; fail=1; }

# refusals: exit status and one message per rank
expect_fail() { # expect_fail NP WANT ARGS...
    local np=$1 want=$2; shift 2
    local rc=0
    timeout 120 $MPIRUN -np "$np" "$GSAE" contrast "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 124 ] || ! grep -qF -- "$want" "$T/bad.err"; then
        echo "FAIL: expected '$want' (np $np, exit $rc):"; cat "$T/bad.err"; fail=1
    elif [ "$np" -gt 1 ] && [ "$(grep -cF -- "$want" "$T/bad.err")" -lt "$np" ]; then
        echo "FAIL: not every rank reported '$want':"; cat "$T/bad.err"; fail=1
    else
        echo "refused as expected: $want"
    fi
}
notebook=(--tasks "$TESTDATA/arc" --outcomes "$TESTDATA/arc/notebook_outcomes.csv")
expect_fail 1 "--pairs '0-10'" "${common[@]}" "${notebook[@]}" --pairs 0-10 --out "$T/x"
expect_fail 3 "--pairs '0-1,2'" "${common[@]}" "${notebook[@]}" --pairs 0-1,2 --out "$T/x"
expect_fail 3 "--layer 4: the model has layers 0..3" --model "$T/model" --sae "$T/sae.npz" \
    --layer 4 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" "${notebook[@]}"
expect_fail 1 "needs --model, --sae, --layer" --model "$T/model" "${notebook[@]}"
expect_fail 1 "unknown setting 'colour'" "${common[@]}" "${notebook[@]}" --colour red
expect_fail 1 "position = 'first' is not valid" "${common[@]}" "${notebook[@]}" --position first
expect_fail 1 "task names need --arc" "${common[@]}" --tasks e9afcf9a,c9e6f938
expect_fail 2 "no/such.npz" --model "$T/model" --sae "$T/no/such.npz" --layer 2 \
    --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" "${notebook[@]}" --out "$T/x"
[ -e "$T/x" ] && { echo "FAIL: a refused run wrote $T/x"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
