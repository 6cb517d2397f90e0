#!/usr/bin/env bash
# SIGUSR1 during a harvest stops it within one harvest round (not at the next part boundary):
# the windows encoded so far are committed (a partial part), the run exits 75, and a rerun,
# on another number of ranks, ends with a store equal to the uninterrupted one (`gsae store
# dump`, the parts' checksums and feature_stats.nc). The bound is counted in rounds from the
# --progress CSV, which gets a row after every round: after the signal at most the round in
# flight completes (plus one round whose row was not written yet when the test read the CSV).
set -euo pipefail
cd "$T"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
W=60 R=2 # windows per part, windows per round (of each replica): 30 rounds a part
common=(--model m --sae sae.npz --layer 2 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
        --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part $W
        --windows-per-round $R --max-tokens 16000)
"$GSAE" harvest "${common[@]}" --out ref 2>/dev/null
"$GSAE" store dump ref >ref.txt
checks() { "$PY3" -c 'import json,sys; print([p["checksum"] for p in json.load(open(sys.argv[1]+"/manifest.json"))["parts"]])' "$1"; }
rounds() { # the most rounds any row of the progress CSV reports (0 before the first)
    local n; n=$(tail -n +2 "$1" 2>/dev/null | cut -d, -f3 | sort -n | tail -1); echo "${n:-0}"; }
listed() { "$PY3" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json")); print(sum(p["n_windows"] for p in m["parts"]), len(m["parts"]), m["complete"])' "$1"; }

# stop NP STAGES REPLICAS RERUN_NP: signal one rank mid-part, check the bound, resume, compare
stop() {
    local np=$1 stages=$2 replicas=$3 rerun=$4 d=s$1x$2
    rm -f "$d.csv"
    $MPIRUN -np "$np" "$GSAE" harvest "${common[@]}" --stages "$stages" --out "$d" \
        --progress "$d.csv" 2>"$d.log" &
    local pid=$! n=0
    # signal inside a part (W / R rounds each), away from its commit
    while r=$(rounds "$d.csv") && ! [ "$r" -ge 2 -a $((r % (W / R))) -ge 3 -a $((r % (W / R))) -le 20 ]; do
        sleep 0.01; n=$((n + 1)); [ $n -lt 3000 ] || { echo "no progress"; exit 1; }
    done
    local rank; rank=$(pgrep -P $pid | tail -1)   # one rank only: the stop is agreed
    kill -USR1 "$rank"
    local seen; seen=$(rounds "$d.csv")           # rounds done at least by the signal
    local rc=0; wait $pid || rc=$?
    test $rc -eq 75 || { echo "exit $rc, expected 75"; cat "$d.log"; exit 1; }
    grep -q "stopped on request" "$d.log"
    local last; last=$(rounds "$d.csv")
    read -r windows parts complete <<<"$(listed "$d")"
    echo "np $np ($stages stages): signal after >= $seen rounds, stopped after $last; $windows windows committed in $parts parts"
    # bound: at most the round in flight finished after the signal. `seen` can lag by one: the
    # CSV row of a round that ended just before the signal may not be written yet when it is read.
    test "$last" -le $((seen + 2)) || { echo "ran $((last - seen)) rounds after the signal"; exit 1; }
    # every encoded window was committed, and the stop came inside a part, not at its end
    test "$windows" -eq $((last * R * replicas)) || { echo "committed $windows windows of $((last * R * replicas))"; exit 1; }
    test "$complete" = False
    [ $((windows % W)) -eq 0 ] || mid=$((mid + 1))  # a partial part was committed
    $MPIRUN -np "$rerun" "$GSAE" harvest "${common[@]}" --out "$d" 2>/dev/null
    "$GSAE" store dump "$d" | cmp ref.txt -
    test "$(checks ref)" = "$(checks "$d")"  # part contents, byte for byte in their variables
    "$GSAE" store verify "$d" >/dev/null
    "$PY3" - "$d" <<'PY'
import sys, netCDF4, numpy as np
a, b = netCDF4.Dataset("ref/feature_stats.nc"), netCDF4.Dataset(sys.argv[1] + "/feature_stats.nc")
for v in a.variables:
    assert np.array_equal(a[v][:], b[v][:]), v
PY
}
mid=0
stop 1 1 1 2
stop 3 3 1 1
stop 2 1 2 3
# the signals were sent inside parts: a stop only at part boundaries would not commit partial parts
test $mid -ge 1 || { echo "no run stopped inside a part"; exit 1; }
echo "stop: within one round of the signal; resumed stores equal the uninterrupted one"
