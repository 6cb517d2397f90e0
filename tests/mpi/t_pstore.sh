#!/usr/bin/env bash
# The harvest driver's agreement and statistics reduction on 2 and 3 ranks, and its MPI error
# paths: an invalid communicator and a truncated receive are reported as errors naming the MPI
# call and MPI's error string (tests/unit/test_pstore.c).
set -euo pipefail
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory.
export OMPI_MCA_orte_tmpdir_base="$T"
for np in $(gsae_np 2 3); do
    timeout 60 $MPIRUN -np $np "$BUILD/tests/test_pstore"
done
