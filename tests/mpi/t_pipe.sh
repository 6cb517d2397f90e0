#!/usr/bin/env bash
# The pipeline on 2, 3 and 4 ranks (every stage count that divides them, so also replicas)
# gives bit-identical prefill rows, generation logits and tokens to direct forward calls on an
# in-memory random model, and hooks run only on the stage owning the hooked layer.
set -euo pipefail
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory: concurrent mpiruns elsewhere on the
# machine cannot collide with ours in /tmp/ompi.*.
export OMPI_MCA_orte_tmpdir_base="$T"
for np in $(gsae_np 2 4); do
    $MPIRUN -np $np "$BUILD/tests/test_pipe"
done
