#!/usr/bin/env bash
# A harvest requeued mid-run resumes to the identical store. Under the local single-node Slurm
# (slurm/local-slurm.sh), the demo job's harvest step runs via slurm/gsae.sbatch on 2 ranks (the
# node has 2 CPUs) and is interrupted twice: `scontrol requeue` (a hard stop) and SIGUSR1 to the batch script (the
# graceful stop before a time limit: exit 75, the script requeues). Both resumed runs must
# produce the same store as an uninterrupted run on 3 ranks (mpirun, no Slurm): the store must
# not depend on interruptions nor on the rank count. The harvest's options come from
# jobs/demo.ini. Skipped until gsae has `harvest` (and `mkmodel`, `mksae` for the inputs).
set -euo pipefail
cd "$T"
for c in harvest mkmodel mksae; do
    "$GSAE" --help | grep -q "^  $c " ||
        { echo "skip: gsae has no '$c' command yet; the requeue/resume test of a harvest waits for it"; exit 77; }
done
DEMO_DIR="$T/demo" "$TOP/tests/demo.sh" "$BUILD" --inputs-only >inputs.log 2>&1 || { cat inputs.log; echo "FAIL: demo inputs"; exit 1; }
MAX_TOKENS=${REQUEUE_MAX_TOKENS:-24000}   # 24 parts: time to interrupt after the third
common=(--set job.steps=harvest --set job.report=false --set "paths.demo=$T/demo/inputs"
        --set "harvest.max-tokens=$MAX_TOKENS")

# The reference: one uninterrupted run.
(cd "$TOP" && GSAE_LAUNCHER="$MPIRUN -np {n}" "$GSAE" run --job jobs/demo.ini "${common[@]}" --out "$T/ref") >ref.log 2>&1 ||
    { tail -n 30 ref.log; echo "FAIL: uninterrupted harvest"; exit 1; }

cluster="$T/cluster"
trap '"$TOP/slurm/local-slurm.sh" stop "$cluster" || true' EXIT
rc=0; "$TOP/slurm/local-slurm.sh" start "$cluster" >cluster.env 2>cluster.err || rc=$?
[ $rc -eq 0 ] || { cat cluster.err; [ $rc -eq 77 ] && exit 77; echo "FAIL: local-slurm.sh start exited $rc"; exit 1; }
source cluster.env
export GSAE_TOP="$TOP" GSAE="$GSAE" GSAE_RESULTS="$T/results"

job_state() { scontrol show job "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
store_dump() { # a comparable text form of a store (path may be a file or a directory)
    if "$GSAE" --help | grep -q '^  store '; then "$GSAE" store dump "$1"; else ncdump "$1" | tail -n +2; fi
}
interrupted_run() { # interrupted_run requeue|usr1: submit, interrupt mid-harvest, wait, compare
    local how=$1 jid out i rows
    jid=$(sbatch --parsable -n 2 --mem=1G --time=10 -o "$T/slurm-%j.out" "$TOP/slurm/gsae.sbatch" jobs/demo.ini "${common[@]}")
    out="$T/results/demo-$jid"
    for i in $(seq 1200); do
        rows=0; [ -f "$out/harvest_progress.csv" ] && rows=$(wc -l <"$out/harvest_progress.csv")
        [ "$rows" -ge 3 ] && break
        [ "$(job_state "$jid")" = COMPLETED ] && break
        sleep 0.1
    done
    [ "$(job_state "$jid")" = RUNNING ] || { echo "FAIL: harvest ended before the interruption (state $(job_state "$jid")); raise REQUEUE_MAX_TOKENS"; exit 1; }
    if [ "$how" = requeue ]; then scontrol requeue "$jid"; else scancel --batch --signal=USR1 "$jid"; fi
    for i in $(seq 1200); do
        # Slurm starts the requeued job by itself once its begin time (now + cred_expire + 1 s,
        # slurm/local-slurm.sh) has passed. Forcing it earlier (StartTime=now) can start it in
        # the second its credentials were revoked: "Job credential revoked", the job FAILED.
        case "$(job_state "$jid")" in
            COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;;
        esac
        sleep 0.25
    done
    [ "$(job_state "$jid")" = COMPLETED ] || { tail -n 40 "$out/sbatch.log"; grep "JobId=$jid" "$cluster/log/slurmctld.log" | tail -n 10
        echo "FAIL: $how: job ended $(job_state "$jid")"; exit 1; }
    restarts=$(scontrol show job "$jid" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
    [ "$restarts" -ge 1 ] || { echo "FAIL: $how: the job was not requeued"; exit 1; }
    store_dump "$T/ref/store" >ref.dump
    store_dump "$out/store" >"$how.dump"
    [ -s ref.dump ] || { echo "FAIL: empty store dump"; exit 1; }
    cmp -s ref.dump "$how.dump" || { diff ref.dump "$how.dump" | head -n 20 || true; echo "FAIL: $how: the resumed store differs from the uninterrupted one"; exit 1; }
    grep -q 'requeueing job\|start 1,' "$out/sbatch.log" || { echo "FAIL: $how: no second start in sbatch.log"; exit 1; }
    # The first start's batch script outlived everything it started: it logged gsae's exit
    # before the second start (an orphaned srun would stop the second start's step of the same id).
    first=$(sed -n '/start 0,/,/start 1,/p' "$out/sbatch.log")
    grep -q 'gsae.sbatch: gsae run exited' <<<"$first" ||
        { echo "$first" | tail -n 20; echo "FAIL: $how: the first start ended before gsae run did"; exit 1; }
    if [ "$how" = requeue ]; then
        grep -q 'gsae.sbatch: ended by SIGTERM' <<<"$first" || { echo "FAIL: requeue: SIGTERM not handled"; exit 1; }
    fi
    echo "$how: job $jid resumed after $restarts requeue(s) to the identical store ($(wc -l <ref.dump) dump lines)"
}
[ -n "${REQUEUE_ONLY_USR1:-}" ] || interrupted_run requeue
interrupted_run usr1
