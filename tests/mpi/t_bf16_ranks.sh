#!/usr/bin/env bash
# bf16 compute is deterministic across rank counts: `gsae golden --compute bf16` on every golden
# case under mpirun -np 1, 2, 3 (one pipeline of N stages) writes bit-identical files (each
# stage runs the same oneDNN primitives on the same micro-batch, with one thread per rank).
set -u
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export OMPI_MCA_orte_tmpdir_base="$T"
status=0 n=0
for case in "$TESTDATA"/gemma2/*/; do
    [ -f "$case/expected.safetensors" ] || continue
    c=$(basename "$case") n=$((n + 1))
    for np in $(gsae_np 1 3); do
        if ! $MPIRUN -np $np "$GSAE" golden "$case" "$T/$c.np$np.st" --compute bf16 --threads 1 \
            >"$T/$c.np$np.log" 2>&1; then
            echo "FAIL $c: -np $np failed"; cat "$T/$c.np$np.log"; status=1; continue 2
        fi
        [ $np -eq 1 ] && continue
        if cmp -s "$T/$c.np1.st" "$T/$c.np$np.st"; then echo "ok   $c bf16: -np $np identical to -np 1"
        else echo "FAIL $c bf16: -np $np differs from -np 1"; status=1; fi
    done
done
[ $n -gt 0 ] || { echo "FAIL: no golden cases"; exit 1; }
exit $status
