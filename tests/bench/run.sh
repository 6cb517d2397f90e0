#!/usr/bin/env bash
# Run every benchmark program ($BUILD/tests/bench_*), each with its own label lines.
# usage: tests/bench/run.sh BUILD_DIR [NAME...]   (NAME: engine, tokenizer, ...; default all)
# Benchmarks use 2 threads (OpenBLAS and OpenMP) unless the environment says otherwise; other
# load on the machine lowers every figure, so run them on an otherwise idle machine.
# bench_attrib also gives attribution's figure at Gemma-2 9B dimensions (1,024 tokens, L = 20,
# layers 21..41, one rank; about 11 GiB and several minutes); alone:
#   OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 BUILD_DIR/tests/bench_attrib --9b 1024 21
set -u
BUILD=$(cd "$1" && pwd); shift
source "$(dirname "$0")/../env.sh"
export OPENBLAS_NUM_THREADS=${GSAE_BENCH_THREADS:-2} OMP_NUM_THREADS=${GSAE_BENCH_THREADS:-2}
status=0
for b in "$BUILD"/tests/bench_*; do
    [ -x "$b" ] || continue
    name=$(basename "$b"); name=${name#bench_}
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
    echo "== bench $name ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
    start=$(date +%s)
    "$b" || { echo "bench $name: failed (exit $?)"; status=1; }
    echo "== bench $name: $(( $(date +%s) - start )) s"
done
# Script benchmarks (tests/bench/bench_<name>.sh BUILD_DIR), selected by name the same way.
for s in "$(dirname "$0")"/bench_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh); name=${name#bench_}
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
    echo "== bench $name ($(date -u +%H:%M:%S), load average $(cut -d' ' -f1-3 /proc/loadavg))"
    start=$(date +%s)
    bash "$s" "$BUILD" || { echo "bench $name: failed (exit $?)"; status=1; }
    echo "== bench $name: $(( $(date +%s) - start )) s"
done
exit $status
