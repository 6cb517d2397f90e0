#!/usr/bin/env bash
# Real Slurm: start a single-node cluster (slurm/local-slurm.sh: munge, slurmctld, slurmd, all
# under $T), submit slurm/gsae.sbatch with a two-step job, and check the results directory.
# Then stop the job with SIGUSR1 as Slurm does before the time limit: the running step exits
# 75, the batch script requeues the job, and the second start skips the finished step and
# completes the interrupted one. Exits 77 (skip) only when not root or Slurm/munge are not
# installed; a daemon that does not start is a failure. The jobs ask for 1G (gsae.sbatch asks
# for 16G, more than a small test machine has).
set -euo pipefail
cd "$T"
cluster="$T/cluster"
stop_cluster() { "$TOP/slurm/local-slurm.sh" stop "$cluster" || true; }
trap stop_cluster EXIT
rc=0; "$TOP/slurm/local-slurm.sh" start "$cluster" >cluster.env 2>cluster.err || rc=$?
if [ $rc -ne 0 ]; then
    cat cluster.err
    [ $rc -eq 77 ] && exit 77
    echo "FAIL: local-slurm.sh start exited $rc"; exit 1
fi
source cluster.env
export GSAE_TOP="$TOP" GSAE="$GSAE" GSAE_RESULTS="$T/results"
started=$(date +%s)

wait_job() { # wait_job JOBID SECONDS: until the job has left the queue; fails on timeout
    local i state
    for i in $(seq $(($2 * 4))); do
        state=$(squeue -h -j "$1" -o %T 2>/dev/null || true)
        [ -z "$state" ] && return 0
        sleep 0.25
    done
    echo "FAIL: job $1 still '$state' after $2 s"; scontrol show job "$1"; return 1
}
job_state() { scontrol show job "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }

# 1. A two-rank step launched by srun inside the allocation.
mkdir jobs
cat >jobs/hello.ini <<'INI'
[job]
steps = hello
[hello]
command = version
ranks = 2
INI
jid=$(sbatch --parsable -n 2 --mem=1G --time=5 -o "$T/slurm-%j.out" "$TOP/slurm/gsae.sbatch" "$T/jobs/hello.ini")
wait_job "$jid" 60
out="$T/results/hello-$jid"
[ "$(job_state "$jid")" = COMPLETED ] || { echo "FAIL: job $jid ended $(job_state "$jid")"; cat "$T/slurm-$jid.out"; exit 1; }
for f in job.ini jobfiles/hello.ini git-describe gsae-version modules env slurm-job sbatch.log \
         logs/hello.log steps/hello.done timings.csv report.html; do
    [ -s "$out/$f" ] || { echo "FAIL: $out/$f missing or empty"; ls -R "$out"; cat "$T/slurm-$jid.out"; exit 1; }
done
n=$(grep -c '^gsae ' "$out/logs/hello.log")
[ "$n" -eq 2 ] || { echo "FAIL: expected 2 ranks' output in the step log, got $n"; cat "$out/logs/hello.log"; exit 1; }
grep -q "srun" "$out/steps/hello.done" || { echo "FAIL: step not launched with srun"; exit 1; }
# srun gets the cpus per task (not inherited from the allocation since Slurm 22.05).
grep -q "srun .*-c 1 " "$out/steps/hello.done" && grep -q '^SRUN_CPUS_PER_TASK=1$' "$out/env" ||
    { echo "FAIL: srun not given the cpus per task"; cat "$out/steps/hello.done"; grep SRUN "$out/env"; exit 1; }
grep -q "^SLURM_JOB_ID=$jid" "$out/env"
echo "job $jid: 2-rank step under srun, results in $out"

# 2. SIGUSR1 before the time limit: stop, requeue, resume.
cat >fake-launch.sh <<'SH'
#!/usr/bin/env bash
# Stands in for a resumable step: on its first start it runs until SIGUSR1 and exits 75
# (stopped, resumable); on later starts it launches the real command with srun.
count_file="$(dirname "$0")/launch-count"
count=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 )); echo "$count" >"$count_file"
if [ "$count" -eq 1 ]; then
    trap 'echo "fake-launch: SIGUSR1, stopping resumably"; exit 75' USR1
    echo "fake-launch: running"
    while :; do sleep 0.1; done
fi
exec srun --kill-on-bad-exit=1 "$@"
SH
chmod +x fake-launch.sh
cat >jobs/resume.ini <<INI
[job]
steps = first, second
[first]
command = version
ranks = 2
[second]
command = version
ranks = 2
launcher = $T/fake-launch.sh -n {n}
INI
jid=$(sbatch --parsable -n 2 --mem=1G --time=5 -o "$T/slurm-%j.out" "$TOP/slurm/gsae.sbatch" "$T/jobs/resume.ini")
out="$T/results/resume-$jid"
for i in $(seq 240); do grep -q 'fake-launch: running' "$out/logs/second.log" 2>/dev/null && break; sleep 0.25; done
grep -q 'fake-launch: running' "$out/logs/second.log" || { echo "FAIL: step 'second' did not start"; cat "$T/slurm-$jid.out"; exit 1; }
scancel --batch --signal=USR1 "$jid"
# Slurm starts the requeued job again once its begin time (now + cred_expire + 1 s) has
# passed; the test does not force it earlier: a start inside that window is refused ("Job
# credential revoked") and the job fails.
for i in $(seq 240); do
    [ "$(cat launch-count)" -ge 2 ] && break
    sleep 0.25
done
wait_job "$jid" 120
[ "$(job_state "$jid")" = COMPLETED ] || { echo "FAIL: job $jid ended $(job_state "$jid")"; cat "$out/sbatch.log"; grep "JobId=$jid" "$cluster/log/slurmctld.log" | tail -n 10; exit 1; }
restarts=$(scontrol show job "$jid" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
[ "$restarts" = 1 ] || { echo "FAIL: Restarts=$restarts, expected 1"; cat "$out/sbatch.log"; exit 1; }
for pat in 'SIGUSR1 (time limit near)' 'requeueing job' 'start 1,' 'step first: done before, skipped' 'step second: ok'; do
    grep -qF "$pat" "$out/sbatch.log" || { echo "FAIL: sbatch.log lacks '$pat'"; cat "$out/sbatch.log"; exit 1; }
done
[ "$(grep -c '^gsae ' "$out/logs/second.log")" -eq 2 ] || { echo "FAIL: resumed step output"; cat "$out/logs/second.log"; exit 1; }
echo "job $jid: SIGUSR1 -> exit 75 -> requeued -> resumed after the finished step ($(( $(date +%s) - started )) s in all)"
