#!/usr/bin/env bash
# Harvest benchmark: gsae harvest on a random Gemma-2 2B-dimension checkpoint (8 layers, bf16,
# vocab 256000; d_model 2304) with a random 16384-feature JumpReLU SAE at resid_post.7, over the
# Pile shards in tests/data with the real tokenizer, on 1 rank. Prints tokens/s, bytes per token
# in the store (sparse only, and with bf16 / f32 residuals): the parts, feature_stats.nc, and
# both together; the time of one harvest round; and the writer's time shares as gsae harvest
# prints them (model forward, SAE encode, waiting, store write, commit+fsync, manifest,
# statistics, corpus+tokenizer, other; the target: < 5% outside the forward pass). Usage: tests/bench/bench_harvest.sh BUILD_DIR   (env: TOKENS=2048 CONTEXT=128
# MODEL=dir THREADS=2). The model is shared with tests/bench/pipe.sh.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
source "$(dirname "$0")/../env.sh"
TOKENS=${TOKENS:-2048} CONTEXT=${CONTEXT:-128} THREADS=${THREADS:-2}
MODEL=${MODEL:-${TMPDIR:-/tmp}/gsae-bench-2b-8}
[ -f "$MODEL/model.safetensors" ] || "$BUILD/gsae" mkmodel "$MODEL" --preset 2b --layers 8
out=$(mktemp -d "${TMPDIR:-/tmp}/gsae-bench-harvest.XXXXXX")
trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
"$BUILD/gsae" mksae "$out/sae.npz" --model "$MODEL" --d-sae 16384 --layer 7 --density 0.005 \
    --calib-tokens 64 >/dev/null
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $THREADS threads"
run() { # run LABEL RESID [COMPUTE]
    local t0 t1
    t0=$(date +%s.%N)
    "$BUILD/gsae" harvest --model "$MODEL" --sae "$out/sae.npz" --layer 7 \
        --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" \
        --corpus "$TESTDATA/pile/*.jsonl.zst" --out "$out/$1" --context "$CONTEXT" \
        --windows-per-part 8 --max-tokens "$TOKENS" --resid "$2" --threads "$THREADS" \
        --compute "${3:-f32}" 2>"$out/$1.log"
    t1=$(date +%s.%N)
    local tokens bytes stats line shares
    tokens=$("$BUILD/gsae" store info "$out/$1" | sed -n 's/^  tokens \([0-9]*\),.*/\1/p')
    nnz=$("$BUILD/gsae" store info "$out/$1" | sed -n 's/.*(\([0-9.]*\) per token)$/\1/p' | head -1)
    bytes=$(cat "$out/$1"/part-*.nc | wc -c)
    stats=$(wc -c <"$out/$1/feature_stats.nc")
    line=$(grep "^harvest: complete" "$out/$1.log")
    shares=$(grep "^harvest: time on rank" "$out/$1.log")
    secs=$(echo "$line" | sed -n 's/.* tokens written by this run, \([0-9.]*\) s, .*/\1/p')
    round=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) s each on average).*/\1/p')
    awk -v l="$1" -v t="$tokens" -v b="$bytes" -v f="$stats" -v s="$secs" -v r="$round" \
        -v w="$(echo "$t1 - $t0" | bc)" -v z="$nnz" \
        'BEGIN { printf "BENCH harvest=%s tokens=%d harvest_s=%.2f tok_s=%.1f round_s=%s nnz_per_token=%s bytes_per_token_parts=%.1f bytes_per_token_stats=%.1f bytes_per_token=%.1f wall_s=%.1f\n", l, t, s, t / s, r, z, b / t, f / t, (b + f) / t, w }'
    echo "  ${line#harvest: }"
    echo "  ${shares#harvest: }"
}
# RUNS: LABEL:RESID[:COMPUTE] (COMPUTE f32 or bf16, the GEMM arithmetic; default f32)
for r in ${RUNS:-sparse:none bf16:bf16 f32:f32 sparse-bf16compute:none:bf16}; do
    IFS=: read -r label resid compute <<<"$r"
    run "$label" "$resid" "$compute"
done
