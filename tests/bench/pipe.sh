#!/usr/bin/env bash
# Pipeline benchmark: streaming prefill on a random Gemma-2 2B-dimension checkpoint of 8 layers
# (bf16, vocab 256000), no logits (the harvest workload), one thread per rank:
#   1 rank; 2 ranks as 2 stages; 2 ranks as 2 replicas.
# Each layout's timed part runs REPEAT times (default 3) in one process: tokens/s is the median,
# with the spread (min-max) beside it. Prints tokens/s, pipeline efficiency = throughput(S stages) / (S x throughput(1 rank)), the
# same for replicas, and each layout's worst wait (communication not hidden) and bubble (fill +
# drain) shares, and the mean share of time the stages compute; checks the three layouts compute
# bit-identical activations (fingerprint). Throughput ratios need two otherwise idle cores: on a
# shared machine read the time shares instead.
# Usage: tests/bench/pipe.sh BUILD_DIR   (env: SEQS=64 TOKENS=16 PER_MB=1 REPEAT=3 MODEL=dir)
# The issue's workload is 64 sequences of 1024 tokens; at ~15 tokens/s per core that takes over
# an hour here, so the default keeps 64 micro-batches but of 16 tokens.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
source "$(dirname "$0")/../env.sh"
SEQS=${SEQS:-64} TOKENS=${TOKENS:-16} PER_MB=${PER_MB:-1} REPEAT=${REPEAT:-3}
MODEL=${MODEL:-${TMPDIR:-/tmp}/gsae-bench-2b-8}
[ -f "$MODEL/model.safetensors" ] || "$BUILD/gsae" mkmodel "$MODEL" --preset 2b --layers 8
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
out=$(mktemp -d "${TMPDIR:-/tmp}/gsae-bench.XXXXXX")
export OMPI_MCA_orte_tmpdir_base="$out"
run() { # run LABEL NP STAGES
    $MPIRUN -np "$2" "$BUILD/tests/bench_pipe" "$MODEL" --seqs "$SEQS" --tokens "$TOKENS" \
        --per-mb "$PER_MB" --stages "$3" --threads 1 --repeat "$REPEAT" --label "$1" |
        tee "$out/$1.txt"
}
run one-rank 1 1
run two-stages 2 2
run two-replicas 2 1
field() { grep '^BENCH' "$out/$1.txt" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
t1=$(field one-rank tok_s) ts=$(field two-stages tok_s) tr=$(field two-replicas tok_s)
spread() { echo "$(field "$1" tok_s_min)-$(field "$1" tok_s_max)"; }
echo "pipe: tokens/s, median of $REPEAT runs (min-max): 1 rank $t1 ($(spread one-rank)); 2 stages $ts ($(spread two-stages)); 2 replicas $tr ($(spread two-replicas))"
awk -v t1="$t1" -v ts="$ts" -v tr="$tr" -v ws="$(field two-stages wait_share)" \
    -v bs="$(field two-stages bubble_share)" -v wr="$(field two-replicas wait_share)" \
    -v us="$(field two-stages busy)" -v c1="$(field one-rank core_share)" \
    -v cs="$(field two-stages core_share)" -v cr="$(field two-replicas core_share)" -v m="$SEQS" -v pm="$PER_MB" 'BEGIN {
    printf "pipe: 1 rank %.2f tok/s; 2 stages %.2f tok/s, efficiency %.1f%% (target > 90%% at 64 micro-batches); 2 replicas %.2f tok/s, efficiency %.1f%%\n", t1, ts, 100 * ts / (2 * t1), tr, 100 * tr / (2 * t1)
    printf "pipe: 2 stages: ranks compute %.1f%% of the time on average (the efficiency when each rank has a core to itself)\n", 100 * us
    printf "pipe: CPU time / wall time per rank (1.00 = a whole core): 1 rank %.2f, 2 stages %.2f, 2 replicas %.2f; below 1 other load competes and throughput ratios understate the pipeline\n", c1, cs, cr
    printf "pipe: 2 stages: worst rank waits %.1f%% of the time in messages, bubble %.1f%% (ideal (S-1)/(M+S-1) = %.1f%% for %d micro-batches); 2 replicas wait %.1f%%\n", 100 * ws, 100 * bs, 100 / (m / pm + 1), m / pm, 100 * wr
}'
f1=$(field one-rank fingerprint) f2=$(field two-stages fingerprint) f3=$(field two-replicas fingerprint)
if [ "$f1" = "$f2" ] && [ "$f1" = "$f3" ]; then
    echo "pipe: activations bit-identical across layouts (fingerprint $f1)"
else
    echo "pipe: FAIL: fingerprints differ: $f1 $f2 $f3"; exit 1
fi
# Pipelined generation: GEN_SEQS prompts in flight (one micro-batch each), GEN_NEW greedy tokens,
# logits on the last stage; 1 rank against 2 stages (GEN_NEW=0 skips).
GEN_SEQS=${GEN_SEQS:-4} GEN_NEW=${GEN_NEW:-4}
if [ "$GEN_NEW" -gt 0 ]; then
    for np in 1 2; do
        $MPIRUN -np $np "$BUILD/tests/bench_pipe" "$MODEL" --seqs "$GEN_SEQS" --tokens "$TOKENS" \
            --stages $np --threads 1 --generate "$GEN_NEW" --repeat "$REPEAT" --label "generate-$np" |
            tee "$out/gen$np.txt"
    done
    g1=$(grep '^BENCH' "$out/gen1.txt" | tr ' ' '\n' | sed -n 's/^tok_s=//p')
    g2=$(grep '^BENCH' "$out/gen2.txt" | tr ' ' '\n' | sed -n 's/^tok_s=//p')
    h1=$(grep '^BENCH' "$out/gen1.txt" | tr ' ' '\n' | sed -n 's/^fingerprint=//p')
    h2=$(grep '^BENCH' "$out/gen2.txt" | tr ' ' '\n' | sed -n 's/^fingerprint=//p')
    s1=$(grep '^BENCH' "$out/gen1.txt" | tr ' ' '\n' | sed -n 's/^tok_s_\(min\|max\)=//p' | paste -sd-)
    s2=$(grep '^BENCH' "$out/gen2.txt" | tr ' ' '\n' | sed -n 's/^tok_s_\(min\|max\)=//p' | paste -sd-)
    awk -v a="$g1" -v b="$g2" -v s1="$s1" -v s2="$s2" 'BEGIN { printf "pipe: generation (median of '"$REPEAT"' runs, min-max): 1 rank %.2f tok/s (%s), 2 stages %.2f tok/s (%s) (ratio %.2f)\n", a, s1, b, s2, b / a }'
    [ "$h1" = "$h2" ] || { echo "pipe: FAIL: generated tokens differ between layouts"; exit 1; }
    echo "pipe: generation: identical tokens on 1 rank and 2 stages"
fi
rm -rf "$out"
