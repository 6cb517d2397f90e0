# Environment every test and benchmark script runs with (sourced by tests/run.sh).
# Paths are absolute so a script may cd anywhere.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TOP
export TESTDATA="$TOP/tests/data"
# Open MPI refuses root unless told; CI and the demo run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Containers often forbid the cross-memory-attach single copy; shared memory still works.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
export MPIRUN="mpirun --oversubscribe --bind-to none"
# The MPI rank counts tests sweep, in one list (a shorter list makes a quicker run). A test takes
# the counts it supports with `gsae_np MIN MAX`: MIN (always: the count the others are compared
# with), then those of GSAE_NP in (MIN, MAX].
export GSAE_NP=${GSAE_NP:-"1 2 3 4"}
gsae_np() {
    local np out=$1
    for np in $GSAE_NP; do [ "$np" -gt "$1" ] && [ "$np" -le "$2" ] && out+=" $np"; done
    echo "$out"
}
export -f gsae_np
# One BLAS thread per rank unless a test says otherwise: tests compare bits, not speed.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# Debian's python3 (with numpy/netCDF4 from Debian packages), whatever python3 is first on PATH.
export PY3=/usr/bin/python3
if [ -n "${GSAE_SAN:-}" ]; then
    # fast_unwind_on_malloc=0: full stacks, so leaks inside MPI match tests/lsan.supp;
    # Open MPI keeps its plugins loaded, so their frames still have names at exit.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_odr_violation=0:fast_unwind_on_malloc=0"
    export OMPI_MCA_mca_base_component_disable_dlclose=1
    export LSAN_OPTIONS="suppressions=$TOP/tests/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
