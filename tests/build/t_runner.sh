#!/usr/bin/env bash
# tests/run.sh counts a pass, a skip that states its reason ("skip: REASON") and a failure, and
# counts a skip (exit 77) without a stated reason as a failure, so the suite cannot hide one.
set -euo pipefail
cd "$T"
mkdir -p top/tests/demo b
cp "$TOP/tests/run.sh" "$TOP/tests/env.sh" top/tests/
printf 'exit 0\n' >top/tests/demo/t_pass.sh
printf 'echo "skip: no frobnicator here"; exit 77\n' >top/tests/demo/t_skip_reason.sh
printf 'echo "nothing to say"; exit 77\n' >top/tests/demo/t_skip_silent.sh
rc=0; TMPDIR="$T" bash top/tests/run.sh b >out.txt 2>&1 || rc=$?
cat out.txt
[ $rc -ne 0 ] || { echo "FAIL: run.sh exited 0 with a reasonless skip"; exit 1; }
grep -q '^1 passed, 1 failed, 1 skipped$' out.txt || { echo "FAIL: wrong summary"; exit 1; }
grep -q '^SKIP  demo/t_skip_reason .*skip: no frobnicator here' out.txt || { echo "FAIL: skip reason not shown"; exit 1; }
grep -q '^FAIL  demo/t_skip_silent .*without a "skip: REASON" line' out.txt || { echo "FAIL: silent skip not failed"; exit 1; }
# Without the silent skip the suite passes and still counts the skip.
rm top/tests/demo/t_skip_silent.sh
TMPDIR="$T" bash top/tests/run.sh b >out2.txt 2>&1 || { cat out2.txt; echo "FAIL: run.sh failed on a stated skip"; exit 1; }
grep -q '^1 passed, 0 failed, 1 skipped$' out2.txt || { cat out2.txt; echo "FAIL: wrong summary"; exit 1; }
echo "run.sh: reasonless skip counted as failed, stated skip counted as skipped"
