#!/usr/bin/env bash
# Run gsae's tests: unit binaries ($BUILD/tests/test_*), fuzz drivers ($BUILD/tests/fuzz_*) and
# scripts tests/<area>/t_*.sh. A test passes with exit 0, is skipped with exit 77 and a line
# "skip: REASON" in its output, and fails otherwise: a skip that states no reason fails.
# Usage: tests/run.sh BUILD_DIR [AREA | AREA/NAME ...]
#   AREA (unit fuzz golden mpi store ...) runs the area's tests; AREA/NAME runs one test, named as
#   in the PASS/FAIL lines (store/t_harvest, unit/test_npy, fuzz/fuzz_npy). A NAME that matches no
#   test is an error.
set -u
BUILD=$(cd "$1" && pwd); shift
areas=("$@")
source "$(dirname "$0")/env.sh"
export BUILD GSAE="$BUILD/gsae"
LOGDIR="$BUILD/test-logs"; rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"

declare -A matched=() # AREA/NAME selectors that named a test
want() { # want AREA NAME: is the test AREA/NAME selected (its area, or itself by name)?
    [ ${#areas[@]} -eq 0 ] && return 0
    local a; for a in "${areas[@]}"; do
        [ "$a" = "$1" ] && return 0
        [ "${a%.sh}" = "$1/$2" ] && { matched[$a]=1; return 0; }
    done; return 1
}

tests=()
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && want unit "$(basename "$t")" && tests+=("unit:$t"); done
# (a fuzz binary whose source is gone, e.g. after a rename, is stale: not run)
for t in "$BUILD"/tests/fuzz_*; do
    [ -x "$t" ] && [ -f "$TOP/tests/fuzz/$(basename "$t").c" ] && want fuzz "$(basename "$t")" &&
        tests+=("fuzz:$t"); done
for s in "$TOP"/tests/*/t_*.sh; do
    [ -f "$s" ] || continue
    area=$(basename "$(dirname "$s")")
    want "$area" "$(basename "$s" .sh)" && tests+=("$area:$s")
done
for a in "${areas[@]}"; do
    if [[ $a == */* && -z ${matched[$a]:-} ]]; then
        echo "run.sh: no test named $a (AREA/NAME as in the PASS/FAIL lines, e.g. store/t_harvest)" >&2
        exit 2
    fi
done

pass=0 fail=0 skip=0 failed=()
for entry in "${tests[@]}"; do
    area=${entry%%:*} path=${entry#*:}
    name="$area/$(basename "$path" .sh)"
    log="$LOGDIR/${name//\//_}.log"
    export T; T=$(mktemp -d "${TMPDIR:-/tmp}/gsae-test.XXXXXX")
    start=$(date +%s.%N)
    case "$area" in
        fuzz) (cd "$T" && "$path" "$TOP/tests/fuzz/corpus/$(basename "$path" | sed 's/^fuzz_//')") >"$log" 2>&1 ;;
        unit) (cd "$T" && "$path") >"$log" 2>&1 ;;
        *)    (cd "$T" && bash "$path") >"$log" 2>&1 ;;
    esac
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS  %-40s %6ss\n' "$name" "$secs"
    elif [ $rc -eq 77 ] && reason=$(grep -m1 -i -E 'skip[^:]{0,20}: *[^[:space:]]' "$log"); then
        skip=$((skip + 1)); printf 'SKIP  %-40s %6ss  %s\n' "$name" "$secs" "$(cut -c1-100 <<<"$reason")"
    elif [ $rc -eq 77 ]; then
        fail=$((fail + 1)); failed+=("$name")
        printf 'FAIL  %-40s %6ss  (skipped without a "skip: REASON" line, log %s)\n' "$name" "$secs" "$log"
        tail -n 25 "$log" | sed 's/^/    | /'
    else
        fail=$((fail + 1)); failed+=("$name")
        printf 'FAIL  %-40s %6ss  (exit %d, log %s)\n' "$name" "$secs" "$rc" "$log"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
    rm -rf "$T"
done
[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
