#!/usr/bin/env bash
# Kill a harvest with SIGKILL at several moments and rerun it: the final store equals the
# uninterrupted one (no token missing or repeated). SIGTERM stops cleanly with exit 75 and the
# rerun continues. Stale files left by a kill are ignored by readers and replaced.
set -euo pipefail
cd "$T"
args=(--corpus "$TESTDATA/pile/*.jsonl.zst" --context 32 --windows-per-part 2 --d-sae 500
      --max-windows 60)
"$GSAE" store synth "${args[@]}" --out ref 2>/dev/null
"$GSAE" store dump ref >ref.txt

# SIGKILL at several points (a sleep per window makes the run slow enough to interrupt)
for delay in 0.5 1.8 3.0; do
    rm -rf k
    $MPIRUN -np 2 "$GSAE" store synth "${args[@]}" --out k --sleep-ms 50 2>/dev/null &
    pid=$!
    sleep "$delay"
    # SIGKILL the ranks themselves (children of mpirun), then mpirun: no rank survives
    ranks=$(pgrep -P $pid || true)
    kill -KILL $ranks $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    for r in $ranks; do while kill -0 "$r" 2>/dev/null; do sleep 0.05; done; done
    listed=$("$PY3" -c 'import json; print(len(json.load(open("k/manifest.json"))["parts"]))' 2>/dev/null || echo 0)
    echo "killed after ${delay}s with $listed parts listed"
    $MPIRUN -np 3 "$GSAE" store synth "${args[@]}" --out k 2>/dev/null
    "$GSAE" store dump k >k.txt
    cmp ref.txt k.txt
    "$GSAE" store verify k >/dev/null
done

# SIGTERM: finish the current part, save the manifest, exit 75; the rerun completes the store
rm -rf t
"$GSAE" store synth "${args[@]}" --out t --sleep-ms 50 2>term.log &
pid=$!
sleep 2
kill -TERM $pid
rc=0; wait $pid || rc=$?
test $rc -eq 75   # stopped on request, resumable (jobs/README.md)
grep -q "stopped on request" term.log
complete=$("$PY3" -c 'import json; print(json.load(open("t/manifest.json"))["complete"])')
test "$complete" = False
"$GSAE" store synth "${args[@]}" --out t 2>/dev/null
"$GSAE" store dump t | cmp ref.txt -

# a stale temporary part and an unlisted part are ignored (and reported by verify)
cp t/part-00001.nc t/part-09999.nc
echo junk >t/part-00002.nc.tmp
"$GSAE" store verify t | grep -q "part-09999.nc: not in the manifest"
"$GSAE" store dump t | cmp ref.txt -

# a rerun with other settings is refused
if "$GSAE" store synth "${args[@]/500/501}" --out t 2>other.log; then
    echo "a different job was accepted"; exit 1
fi
grep -q "written by another job" other.log
echo "kill/resume: stores equal the uninterrupted one"
