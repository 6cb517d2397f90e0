#!/usr/bin/env bash
# A failure on one rank makes every rank exit non-zero within seconds, with that rank's message:
#  - a missing checkpoint on rank 1 (GSAE_FAULT_RANK=1): agreed before any collective; every
#    rank prints "rank 1 failed: ...";
#  - a truncated shard that only rank 1 maps (real file damage): the same, naming the file;
#  - an error inside the stream on rank 2 (GSAE_FAULT=stream): reported by rank 2, job aborted;
#  - rank 1 dies by SIGKILL (GSAE_FAULT=kill) after set-up, and rank 2 killed from outside with
#    kill -9 while rank 0 stalls and the others wait in receives: mpirun ends the job.
set -u
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
# Open MPI session files under this test's directory: concurrent mpiruns elsewhere on the
# machine cannot collide with ours in /tmp/ompi.*.
export OMPI_MCA_orte_tmpdir_base="$T"
case="$TESTDATA/gemma2/tiny-gqa-bf16"
status=0
fail() { echo "FAIL: $*"; status=1; }
expect_fail() { # expect_fail NAME PATTERN SECONDS: the last run failed quickly and said PATTERN
    local name=$1 pattern=$2 limit=$3 rc=$4 secs=$5 before=$status
    status=0
    [ "$rc" -ne 0 ] || fail "$name: exit 0"
    [ "$rc" -ne 124 ] || fail "$name: hung (timeout)"
    grep -q -- "$pattern" "$T/$name.log" || { fail "$name: no '$pattern' in output"; cat "$T/$name.log"; }
    [ "$secs" -le "$limit" ] || fail "$name: took ${secs}s, limit ${limit}s"
    [ $status -eq 0 ] && echo "ok   $name: exit $rc after ${secs}s"
    [ $before -eq 0 ] || status=$before
}
timed() { # timed NAME CMD...: run with a 60 s timeout, output in $T/NAME.log; sets rc, secs
    local name=$1; shift
    local t0=$SECONDS
    timeout 60 "$@" >"$T/$name.log" 2>&1; rc=$?
    secs=$((SECONDS - t0))
}

timed open env GSAE_FAULT_RANK=1 $MPIRUN -np 3 "$GSAE" golden "$case" "$T/o.st"
expect_fail open "injected-fault-missing/config.json: cannot open" 20 $rc $secs
for r in 0 1 2; do # every rank printed rank 1's message
    grep -q "^rank $r: .*injected-fault-missing" "$T/open.log" || fail "open: rank $r silent"
done

cp -r "$TESTDATA/gemma2/tiny-mha-f32-sharded" "$T/bad"
truncate -s 100000 "$T/bad/model-00002-of-00002.safetensors"
timed shard $MPIRUN -np 2 "$GSAE" golden "$T/bad" "$T/o.st" --layers 0-1,2-3
expect_fail shard "rank 0: rank 1 failed: .*model-00002-of-00002.safetensors" 20 $rc $secs

timed stream env GSAE_FAULT=stream GSAE_FAULT_RANK=2 $MPIRUN -np 3 "$GSAE" golden "$case" "$T/o.st"
expect_fail stream "rank 2: injected fault (GSAE_FAULT=stream)" 20 $rc $secs

timed kill env GSAE_FAULT=kill GSAE_FAULT_RANK=1 $MPIRUN -np 3 "$GSAE" golden "$case" "$T/o.st"
expect_fail kill "rank 1 .*exited on signal 9" 20 $rc $secs

# kill -9 from outside: world rank 2 is the child of mpirun with OMPI_COMM_WORLD_RANK=2.
t0=$SECONDS
GSAE_FAULT=stall GSAE_FAULT_RANK=0 timeout 60 $MPIRUN -np 3 "$GSAE" golden "$case" "$T/o.st" \
    >"$T/external.log" 2>&1 &
job=$!
victim=""
for _ in $(seq 100); do
    for pid in $(for m in $(pgrep -P "$job"); do pgrep -P "$m"; done); do # timeout > mpirun > ranks
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=2 &&
           grep -q "rank 2: stage" "$T/external.log"; then victim=$pid; fi
    done
    [ -n "$victim" ] && break
    sleep 0.1
done
if [ -z "$victim" ]; then
    fail "external: rank 2 not found"; kill "$job" 2>/dev/null
else
    kill -9 "$victim"
fi
wait "$job"; rc=$?
secs=$((SECONDS - t0))
expect_fail external "rank 2 .*exited on signal 9" 30 $rc $secs
exit $status
