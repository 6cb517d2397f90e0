#!/usr/bin/env bash
# Run the libFuzzer builds of the fuzz targets (make fuzz builds them into BUILD/fuzz/ with
# clang, ASan and UBSan), each for SECONDS on its corpus, one after the other.
#
# Usage: tests/fuzz/run.sh BUILD SECONDS [TARGET...]   (TARGET: npz, job, ... ; default all)
#
# Each target starts from tests/fuzz/corpus/<target>/ (read, never written) plus BUILD/fuzz-work/
# <target>/, where libFuzzer keeps the inputs that found new coverage (kept between runs). A
# crash, leak, sanitizer report or timeout fails the run: the script names the target and the
# input that triggered it (BUILD/fuzz-crashes/<target>/...), which replays with
#   BUILD/fuzz/fuzz_<target> INPUT
# and belongs, once fixed, in tests/fuzz/corpus/<target>/ so the test suite replays it.
set -u
[ $# -ge 2 ] || { echo "usage: $0 BUILD SECONDS [TARGET...]" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) SECONDS_EACH=$2; shift 2
source "$(dirname "$0")/../env.sh"
export LSAN_OPTIONS="suppressions=$TOP/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0"

# Targets write their input to a file: keep that in memory when possible.
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for b in "$BUILD"/fuzz/fuzz_*; do [ -x "$b" ] && targets+=("$(basename "$b" | sed 's/^fuzz_//')"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $BUILD/fuzz (run make fuzz)" >&2; exit 2; }

failed=() summary=()
for t in "${targets[@]}"; do
    bin="$BUILD/fuzz/fuzz_$t" seeds="$TOP/tests/fuzz/corpus/$t"
    work="$BUILD/fuzz-work/$t" crashes="$BUILD/fuzz-crashes/$t" log="$BUILD/fuzz-logs/$t.log"
    [ -x "$bin" ] || { echo "fuzz: $bin missing" >&2; failed+=("$t"); continue; }
    [ -d "$seeds" ] || { echo "fuzz: $seeds missing" >&2; failed+=("$t"); continue; }
    mkdir -p "$work" "$crashes" "$(dirname "$log")"
    echo "fuzz: $t for ${SECONDS_EACH}s ..."
    extra=()
    # HDF5 keeps free lists, so every input ends with more mallocs than frees and libFuzzer
    # would run a full leak scan after each (10x slower); store.c's own leaks are still caught
    # by the test suite's run of this target under `make san` (LeakSanitizer at exit).
    [ "$t" = store_part ] && extra=(-detect_leaks=0)
    # -timeout: an input taking 10 s is a hang; -rss_limit_mb/-malloc_limit_mb: 2 GiB is a leak
    # or an allocation sized by the input.
    (cd "$work/.." && "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 "${extra[@]}" \
        -artifact_prefix="$crashes/" "$work" "$seeds") >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1)
    line=$(printf '%-14s %10s execs  %-22s' "$t" "${runs:-?}" "${cov:-cov: ?}")
    if [ $rc -ne 0 ]; then
        input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n1)
        where=$(grep -m1 -E 'ERROR: |runtime error:|ALARM|out-of-memory|fuzz target exited' "$log")
        echo "FAIL  fuzz $t: ${where:-exit $rc}"
        echo "      input: ${input:-none written}; log: $log"
        grep -E '^ +#[0-9]+ ' "$log" | grep -v -E 'fuzzer::|libc_start|in _start|in main ' |
            head -n 8 | sed 's/^/      /'
        failed+=("$t") summary+=("FAIL  $line")
    else
        summary+=("ok    $line")
    fi
done
echo "fuzz summary (${SECONDS_EACH}s each):"
printf '  %s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}"; exit 1; }
echo "fuzz: ${#targets[@]} targets, no crash"
