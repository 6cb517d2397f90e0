#!/usr/bin/env bash
# mpi/dist on the rank counts of GSAE_NP: communicators for every stage count dividing the size,
# failure agreement (the lowest failing rank's status and message on every rank), MPI error
# translation, and the line and blob gathers to rank 0 in rank order (tests/unit/test_dist.c).
set -euo pipefail
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory.
export OMPI_MCA_orte_tmpdir_base="$T"
for np in $(gsae_np 2 4); do
    timeout 60 $MPIRUN -np $np "$BUILD/tests/test_dist"
done
