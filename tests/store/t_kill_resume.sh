#!/usr/bin/env bash
# Kill a harvest with SIGKILL at several moments and rerun it: the final store equals the
# uninterrupted one (no token missing or repeated), and so does its feature_stats.nc (every
# variable bit for bit and the global attributes, all but gsae_version, the build that wrote
# it: tests/store/compare_stats.py). SIGTERM stops cleanly with exit 75 and the rerun
# continues. Stale files left by a kill are ignored by readers and replaced. The statistics
# comparison fails on a changed value, a missing variable or attribute, or a missing file.
set -euo pipefail
cd "$T"
"$PY3" -c 'import netCDF4, numpy' 2>/dev/null || { echo "skip: $PY3 with netCDF4 and numpy not found"; exit 77; }
same_stats() { # same_stats STORE: its feature_stats.nc equals the uninterrupted run's
    "$PY3" "$TOP/tests/store/compare_stats.py" ref/feature_stats.nc "$1/feature_stats.nc"
}
args=(--corpus "$TESTDATA/pile/*.jsonl.zst" --context 32 --windows-per-part 2 --d-sae 500
      --max-windows 60)
"$GSAE" store synth "${args[@]}" --out ref 2>/dev/null
"$GSAE" store dump ref >ref.txt
test -s ref.txt

# The statistics comparison can fail: a copy of ref's file with one value changed, a variable
# removed, an attribute changed, and no file at all. Only gsae_version may differ.
"$PY3" - ref/feature_stats.nc <<'PY'
import os, shutil, sys
import netCDF4
src = sys.argv[1]
def variant(name, edit):
    os.makedirs(name, exist_ok=True)
    shutil.copy(src, name + "/feature_stats.nc")
    with netCDF4.Dataset(name + "/feature_stats.nc", "a") as d:
        edit(d)
def bump(d):
    d["act_sum"][3] = d["act_sum"][3] + 1e-9
variant("neg_value", bump)
variant("neg_attr", lambda d: d.setncattr("n_tokens", d.getncattr("n_tokens") + 1))
variant("ok_version", lambda d: d.setncattr("gsae_version", "another-build"))
# netCDF cannot drop a variable: write a copy without top_context
os.makedirs("neg_var", exist_ok=True)
with netCDF4.Dataset(src) as s, netCDF4.Dataset("neg_var/feature_stats.nc", "w") as d:
    d.setncatts({k: s.getncattr(k) for k in s.ncattrs()})
    for k, dim in s.dimensions.items():
        d.createDimension(k, len(dim))
    for k, v in s.variables.items():
        if k != "top_context":
            d.createVariable(k, v.dtype, v.dimensions)[...] = v[...]
PY
mkdir -p neg_none
for neg in neg_value:act_sum neg_attr:n_tokens neg_var:top_context neg_none:cannot; do
    dir=${neg%%:*} word=${neg#*:}
    if same_stats "$dir" >"$dir.txt"; then
        cat "$dir.txt"; echo "FAIL: $dir passed the statistics comparison"; exit 1
    fi
    grep -q "$word" "$dir.txt" || { cat "$dir.txt"; echo "FAIL: $dir: '$word' not named"; exit 1; }
    echo "statistics comparison fails on $dir: $(grep -m1 FAIL "$dir.txt")"
done
same_stats ok_version >/dev/null || { echo "FAIL: gsae_version alone made the statistics differ"; exit 1; }

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
    same_stats k
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
same_stats t

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
