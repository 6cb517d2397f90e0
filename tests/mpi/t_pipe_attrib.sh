#!/usr/bin/env bash
# Metric gradients at resid_post[L] through the pipeline on the rank counts of GSAE_NP: for every
# stage count dividing the size, g = dM/dresid_post[L] is bit-identical to the one-stage run,
# which agrees with a finite difference of a direct forward (tests/unit/test_pipe_attrib.c).
set -euo pipefail
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory.
export OMPI_MCA_orte_tmpdir_base="$T"
for np in $(gsae_np 2 4); do
    timeout 120 $MPIRUN -np $np "$BUILD/tests/test_pipe_attrib"
done
