# Inputs of the contrast tests (sourced from $T): a tiny random Gemma-2 (4 layers, d_model 64,
# the real 256000-token vocabulary so the real tokenizer works), a random JumpReLU SAE of 256
# features for layer 2, and a function running gsae contrast on the notebook's 10 ARC tasks.
set -u
"$GSAE" mkmodel "$T/model" --preset tiny --seed 3 >/dev/null || exit 1
"$GSAE" mksae "$T/sae.npz" --model "$T/model" --d-sae 256 --layer 2 --density 0.05 --seed 5 \
    >/dev/null || exit 1
PAIRS=0-1,2-3,0-2,0-3,0-4,3-5,1-2

# contrast OUT_DIR [extra flags...]: run on the notebook's tasks (prefix with a launcher via $RUN)
contrast() {
    local out=$1; shift
    ${RUN:-} "$GSAE" contrast --model "$T/model" --sae "$T/sae.npz" --layer 2 \
        --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" \
        --tasks "$TESTDATA/arc" --outcomes "$TESTDATA/arc/notebook_outcomes.csv" \
        --pairs "$PAIRS" --permutations 2000 --seed 11 --out "$out" "$@"
}
