#!/usr/bin/env bash
# An exit every rank agrees on ends the job with that status and without MPI_Abort (whose
# banner reads "MPI_ABORT was invoked"): a bad option (2) and a missing store (1) on 3 ranks,
# and a pipelined harvest stopped by SIGUSR1 on 2 ranks (75, resumable; the rerun completes
# the store). A rank that fails alone still aborts the job: tests/mpi/t_fault.sh.
set -u
export OMPI_MCA_orte_tmpdir_base="$T"
cd "$T"
status=0
fail() { echo "FAIL: $*"; status=1; }
check() { # check NAME EXPECTED_RC RC LOG: the exit status, and no abort banner in LOG
    local name=$1 want=$2 rc=$3 log=$4
    [ "$rc" -eq "$want" ] || { fail "$name: exit $rc, expected $want"; cat "$log"; return; }
    if grep -q "MPI_ABORT\|MPI_Abort" "$log"; then fail "$name: aborted"; cat "$log"; return; fi
    echo "ok   $name: exit $rc, no MPI_Abort"
}

timeout 60 $MPIRUN -np 3 "$GSAE" pca --bogus >opt.log 2>&1; rc=$?
check "bad option" 2 $rc opt.log
[ "$(grep -c '^rank [012]: --bogus' opt.log)" -eq 3 ] || fail "bad option: not every rank said why"

timeout 60 $MPIRUN -np 3 "$GSAE" store info "$T/missing" >missing.log 2>&1; rc=$?
check "missing store" 1 $rc missing.log
grep -q "missing/manifest.json" missing.log || fail "missing store: the file is not named"

"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
args=(--model m --sae sae.npz --layer 2 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
      --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 2 --max-tokens 3000
      --stages 2 --out h)
$MPIRUN -np 2 "$GSAE" harvest "${args[@]}" --progress prog.csv >stop.log 2>&1 &
pid=$! # mpirun itself: it forwards SIGUSR1 to the ranks
(sleep 120; kill -KILL $pid 2>/dev/null) &
watchdog=$!
for _ in $(seq 600); do # until the first round is listed
    [ "$(cat prog.csv 2>/dev/null | wc -l)" -ge 2 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
kill -USR1 $pid 2>/dev/null || fail "harvest: ended before SIGUSR1"
wait $pid; rc=$?
kill $watchdog 2>/dev/null
check "harvest stopped by SIGUSR1" 75 $rc stop.log
grep -q "stopped on request" stop.log || fail "harvest: no 'stopped on request'"
complete=$("$PY3" -c 'import json; print(json.load(open("h/manifest.json"))["complete"])')
[ "$complete" = False ] || fail "harvest: store complete after a stop"
timeout 120 $MPIRUN -np 2 "$GSAE" harvest "${args[@]}" >rerun.log 2>&1 ||
    { fail "harvest: the rerun failed"; cat rerun.log; }
complete=$("$PY3" -c 'import json; print(json.load(open("h/manifest.json"))["complete"])')
[ "$complete" = True ] || fail "harvest: the rerun did not complete the store"
exit $status
