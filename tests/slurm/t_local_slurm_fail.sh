#!/usr/bin/env bash
# slurm/local-slurm.sh: a daemon that does not start is a failure (exit 1, its log printed, the
# daemons already started stopped again), not a skip. Here slurmd is a stand-in that fails.
set -euo pipefail
cd "$T"
[ "$(id -u)" = 0 ] || { echo "skip: local-slurm.sh needs root (running as $(id -un))"; exit 77; }
for tool in munged mungekey slurmctld slurmd; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
        { echo "skip: '$tool' is not installed (Debian: slurm-wlm munge)"; exit 77; }
done
mkdir fake
printf '#!/bin/sh\necho "slurmd stand-in: refusing to start" >&2\nexit 1\n' >fake/slurmd
chmod +x fake/slurmd
rc=0; PATH="$T/fake:$PATH:/usr/sbin" "$TOP/slurm/local-slurm.sh" start "$T/cluster" >out 2>err || rc=$?
cat err
[ $rc -eq 1 ] || { echo "FAIL: local-slurm.sh start exited $rc, expected 1"; exit 1; }
grep -q 'local-slurm: FAIL: slurmd did not start' err || { echo "FAIL: no failure message"; exit 1; }
grep -q 'slurmd stand-in: refusing to start' err || { echo "FAIL: slurmd's log not printed"; exit 1; }
for d in munged slurmctld; do
    [ ! -s "$T/cluster/$d.pid" ] || { echo "FAIL: $d left running"; "$TOP/slurm/local-slurm.sh" stop "$T/cluster"; exit 1; }
done
echo "local-slurm.sh: a daemon that does not start fails (exit 1) with its log; the others stopped"
