# gsae contrast with two SAEs (--sae twice, layers 1 and 2 from the SAELens files) reports per
# hook into OUT/resid_post.L, each output identical to a run with that SAE alone, on 1 rank and
# on 2 ranks as 2 stages. Negative check: the two hooks' features differ.
set -u
source "$TOP/tests/contrast/inputs.sh"
fail=0
for L in 1 2; do
    "$GSAE" mksae "$T/s$L" --model "$T/model" --d-sae 128 --layer $L --layout saelens \
        --density 0.05 --seed $L >/dev/null || exit 1
done
one() { # one L OUT [flags]
    local L=$1 out=$2; shift 2
    "$GSAE" contrast --model "$T/model" --sae "$T/s$L" --layer "$L" \
        --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" \
        --tasks "$TESTDATA/arc" --outcomes "$TESTDATA/arc/notebook_outcomes.csv" \
        --pairs "$PAIRS" --permutations 500 --seed 11 --out "$out" "$@"
}
multi() { # multi OUT [flags]
    local out=$1; shift
    ${RUN:-} "$GSAE" contrast --model "$T/model" --sae "$T/s1" --sae "$T/s2" \
        --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" \
        --tasks "$TESTDATA/arc" --outcomes "$TESTDATA/arc/notebook_outcomes.csv" \
        --pairs "$PAIRS" --permutations 500 --seed 11 --out "$out" "$@"
}
for L in 1 2; do one $L "$T/one$L" >"$T/one$L.log" 2>&1 || { cat "$T/one$L.log"; exit 1; }; done
multi "$T/m1" >"$T/m1.log" 2>&1 || { cat "$T/m1.log"; exit 1; }
RUN="$MPIRUN -np 2" multi "$T/m2" --stages 2 >"$T/m2.log" 2>&1 || { cat "$T/m2.log"; exit 1; }
cmp -s "$T/one1/acts_last_token.csv" "$T/one2/acts_last_token.csv" &&
    { echo "FAIL: layers 1 and 2 give the same features: the check cannot fail"; fail=1; }
for run in m1 m2; do
    for L in 1 2; do
        for f in acts_last_token.csv feature_diff.csv table_pair_top.csv table_group_contrast.csv; do
            cmp "$T/one$L/$f" "$T/$run/resid_post.$L/$f" || { echo "FAIL: $run layer $L $f"; fail=1; }
        done
    done
done
grep -q "^resid_post.2 (" "$T/m1.log" || { echo "FAIL: no per-hook heading"; fail=1; }
[ $fail -eq 0 ] && echo "contrast: two SAEs in one run equal one run per SAE (1 rank, 2 stages)"
exit $fail
