#!/usr/bin/env bash
# `gsae golden` on every golden case under mpirun -np 1, 2, 3, 4 (one pipeline of N stages) and
# -np 4 --stages 2 (2 replicas x 2 stages) writes files bit-identical (cmp) to the single-rank
# run. A 3-layer case on 4 ranks has a last stage holding only the unembedding; more stages than
# layers + 1 are refused with a message saying how many are possible.
set -u
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory: concurrent mpiruns elsewhere on the
# machine cannot collide with ours in /tmp/ompi.*.
export OMPI_MCA_orte_tmpdir_base="$T"
status=0 n=0
run() { # run NAME NP CASE [OPTIONS...]: gsae golden under mpirun, output $T/NAME.safetensors
    local name=$1 np=$2 case=$3; shift 3
    if ! $MPIRUN -np "$np" "$GSAE" golden "$case" "$T/$name.safetensors" "$@" >"$T/$name.log" 2>&1; then
        echo "FAIL $name: gsae golden failed"; cat "$T/$name.log"; status=1; return 1
    fi
}
for case in "$TESTDATA"/gemma2/*/; do
    [ -f "$case/expected.safetensors" ] || continue
    c=$(basename "$case") n=$((n + 1))
    run "$c.np1" 1 "$case" || continue
    for layout in $(gsae_np 2 4) "4 --stages 2"; do
        name="$c.np${layout// /_}"
        np=${layout%% *} extra=${layout#"$np"}
        run "$name" "$np" "$case" $extra || continue
        if cmp "$T/$c.np1.safetensors" "$T/$name.safetensors"; then
            echo "ok   $c: -np ${layout} identical to -np 1"
        else
            echo "FAIL $c: -np ${layout} differs from -np 1"; status=1
        fi
    done
done
[ $n -gt 0 ] || { echo "FAIL: no golden cases"; exit 1; }
# Too many stages: 3 layers + unembedding allow 4.
c="$TESTDATA/gemma2/tiny-mqa-bf16"
if $MPIRUN -np 5 "$GSAE" golden "$c" "$T/five.safetensors" >"$T/five.log" 2>&1; then
    echo "FAIL: 5 stages for 3 layers succeeded"; status=1
elif ! grep -q "at most 4 stages" "$T/five.log"; then
    echo "FAIL: unclear refusal:"; cat "$T/five.log"; status=1
else
    echo "ok   5 stages for 3 layers refused: $(grep -m1 'at most' "$T/five.log")"
fi
exit $status
