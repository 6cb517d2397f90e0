#!/usr/bin/env bash
# Three SAEs at layers 1, 2 and 3 of a 4-layer random model harvested in one pass (repeated
# --sae, also as L:PATH) on 1 rank, on 2 stages and on 2 replicas x 2 stages: each hook's store,
# STORE/resid_post.L, is identical (`gsae store dump`, feature_stats.nc) to a harvest with that
# SAE alone, also after a stop and a rerun, and through the shipped jobs/harvest_multi.ini. Negative checks: the stores of two hooks differ, so the comparison can fail; a
# store of another hook in place of one is caught; a rerun over stores left at different
# points is refused.
set -euo pipefail
cd "$T"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 5 >/dev/null
for L in 1 2 3; do
    "$GSAE" mksae "s$L" --model m --d-sae 300 --layer $L --layout saelens --seed $L --density 0.03 >/dev/null
done
common=(--model m --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
        --corpus "$TESTDATA/pile/*.jsonl.zst" --context 40 --windows-per-part 5 --max-tokens 1500)
for L in 1 2 3; do
    "$GSAE" harvest "${common[@]}" --sae "s$L" --out "one$L" 2>/dev/null
    "$GSAE" store dump "one$L" >"d$L"
done
if cmp -s d1 d2; then echo "FAIL: the stores of layers 1 and 2 are equal: the check cannot fail"; exit 1; fi
stats_equal() { "$PY3" - "$1" "$2" <<'PY'
import sys, netCDF4, numpy as np
a, b = (netCDF4.Dataset(p + "/feature_stats.nc") for p in sys.argv[1:3])
for v in a.variables:
    assert np.array_equal(a[v][:], b[v][:]), (sys.argv[1], sys.argv[2], v)
PY
}
check() { # check DIR: each hook's store equals its single-SAE store
    for L in 1 2 3; do
        "$GSAE" store dump "$1/resid_post.$L" | cmp "d$L" - || { echo "FAIL: $1 layer $L differs"; exit 1; }
        stats_equal "one$L" "$1/resid_post.$L"
        "$GSAE" store verify "$1/resid_post.$L" >/dev/null
    done
    echo "ok   $1: layers 1, 2, 3 equal to single-SAE harvests"
}
multi=(--sae s1 --sae s2 --sae s3)
"$GSAE" harvest "${common[@]}" "${multi[@]}" --out np1 2>np1.log
check np1
# --sae L:PATH: SAE files that do not record their layer (Gemma Scope npz), hooked where told
for L in 1 2 3; do
    "$GSAE" mksae "n$L.npz" --model m --d-sae 300 --layer $L --seed $L --density 0.03 >/dev/null
done
if "$GSAE" harvest "${common[@]}" --sae n1.npz --sae n2.npz --out nolayer 2>nolayer.log; then
    echo "FAIL: SAEs without a layer accepted"; exit 1
fi
grep -q "does not say which layer it hooks; give --layer or --sae L:PATH" nolayer.log ||
    { cat nolayer.log; echo "FAIL: unclear message"; exit 1; }
"$GSAE" harvest "${common[@]}" --sae 1:n1.npz --sae 2:n2.npz --sae 3:n3.npz --out lp 2>/dev/null
check lp
"$GSAE" harvest "${common[@]}" --sae 2:n1.npz --sae 1:n2.npz --sae 3:n3.npz --out lpx 2>/dev/null
if "$GSAE" store dump lpx/resid_post.1 | cmp -s d1 -; then echo "FAIL: L:PATH ignored"; exit 1; fi
echo "ok   --sae L:PATH hooks each file at L (and the wrong L gives another store)"
$MPIRUN -np 2 "$GSAE" harvest "${common[@]}" "${multi[@]}" --out st2 --stages 2 2>/dev/null
check st2
$MPIRUN -np 4 "$GSAE" harvest "${common[@]}" "${multi[@]}" --out r2s2 --stages 2 --windows-per-mb 2 2>/dev/null
check r2s2
# stopped (SIGUSR1) after the first round and rerun: the same stores
"$GSAE" harvest "${common[@]}" "${multi[@]}" --out stop --windows-per-round 1 2>/dev/null &
pid=$!
for i in $(seq 400); do [ -f stop/resid_post.3/manifest.json ] && break; sleep 0.02; done
kill -USR1 $pid 2>/dev/null || true
rc=0; wait $pid || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 75 ] || { echo "FAIL: stopped harvest exit $rc"; exit 1; }
"$GSAE" harvest "${common[@]}" "${multi[@]}" --out stop 2>/dev/null
check stop
# the shipped job (jobs/harvest_multi.ini) through gsae run, on this model and these SAEs
"$GSAE" run --job "$TOP/jobs/harvest_multi.ini" --out job --set job.ranks=1 --set paths.model=m \
    --set paths.sae_l9=s1 --set paths.sae=s2 --set paths.sae_l31=s3 \
    --set "paths.tokenizer=$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" \
    --set "paths.pile=$TESTDATA/pile" --set paths.stores=stores --set harvest.max-tokens=1500 \
    --set harvest.context=40 --set harvest.windows-per-part=5 >job.log 2>&1 ||
    { cat job.log; echo "FAIL: gsae run jobs/harvest_multi.ini"; exit 1; }
check stores/pile_multi
# the comparison catches a wrong store: layer 2's in place of layer 1's
if "$GSAE" store dump np1/resid_post.2 | cmp -s d1 -; then echo "FAIL: layer 2's store passes as layer 1's"; exit 1; fi
# a rerun of a complete multi-store harvest changes nothing
"$GSAE" harvest "${common[@]}" "${multi[@]}" --out np1 2>/dev/null
check np1
# stores left at different points are refused with a message naming them
cp -r np1 bad
"$PY3" - bad/resid_post.3/manifest.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["parts"].pop(); m["complete"] = False
json.dump(m, open(sys.argv[1], "w"))
PY
if "$GSAE" harvest "${common[@]}" "${multi[@]}" --out bad 2>bad.log; then echo "FAIL: mismatched stores accepted"; exit 1; fi
grep -q "different points" bad.log || { echo "FAIL: unclear message: $(cat bad.log)"; exit 1; }
echo "ok   stores at different points refused: $(head -c 160 bad.log)"
