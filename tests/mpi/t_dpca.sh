#!/usr/bin/env bash
# The distributed PCA on rows with known principal components, on the rank counts of GSAE_NP:
# mean, components, explained variance and each rank's projected rows to rounding, and
# failures returned on every rank (tests/unit/test_dpca.c).
set -euo pipefail
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory.
export OMPI_MCA_orte_tmpdir_base="$T"
for np in $(gsae_np 2 4); do
    timeout 120 $MPIRUN -np $np "$BUILD/tests/test_dpca"
done
