#!/usr/bin/env bash
# gsae harvest end to end on a tiny random Gemma-2 and SAE over the two Pile shards with the real
# tokenizer: 1 rank, 3 replicas of 1 stage, 1 replica of 3 stages and 2 x 2 give the same store
# (`gsae store dump` identical, part checksums identical, feature_stats.nc variables equal); a
# SIGKILLed run, rerun on another layout, ends equal too; verify passes; the CSVs are written;
# gsae maxact renders the top examples.
set -euo pipefail
cd "$T"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
common=(--model m --sae sae.npz --layer 2 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
        --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 6 --max-tokens 4000)
"$GSAE" harvest "${common[@]}" --out h1 --progress prog.csv --freq freq.csv 2>h1.log
"$GSAE" store dump h1 >d1
n=$(( (4000 + 47) / 48 ))
test "$(wc -l <d1)" -eq $((n * 48 + 1))
head -1 prog.csv | grep -qx "seconds,tokens,rounds"
test "$(wc -l <freq.csv)" -eq 401
checks() { "$PY3" -c 'import json,sys; print([p["checksum"] for p in json.load(open(sys.argv[1]))["parts"]])' "$1"; }
same() { # same STORE: equal to h1
    "$GSAE" store dump "$1" | cmp d1 -
    test "$(checks h1/manifest.json)" = "$(checks "$1"/manifest.json)"
    "$GSAE" store verify "$1" >/dev/null
}
$MPIRUN -np 3 "$GSAE" harvest "${common[@]}" --out r3 --stages 1 2>/dev/null
same r3
$MPIRUN -np 3 "$GSAE" harvest "${common[@]}" --out s3 --stages 3 2>/dev/null
same s3
$MPIRUN -np 4 "$GSAE" harvest "${common[@]}" --out s22 --stages 2 --windows-per-mb 2 2>/dev/null
same s22
"$PY3" - <<'PY'
import netCDF4, numpy as np
a = netCDF4.Dataset("h1/feature_stats.nc")
for n in ("r3", "s3", "s22"):
    b = netCDF4.Dataset(n + "/feature_stats.nc")
    for v in a.variables:
        assert np.array_equal(a[v][:], b[v][:]), (n, v)
p = netCDF4.Dataset("h1/part-00000.nc")
assert p.hook == "resid_post.2" and p.d_sae == 400 and p.context_size == 48
assert p["sae_index"].dtype == np.uint16 and p["token_id"][0] == p.bos_token_id
print("feature_stats equal on all layouts")
PY
# the same settings from a job file's [harvest] section
cat >hj.ini <<INI
[harvest]
model = m
sae = sae.npz
layer = 2
tokenizer = $TESTDATA/tokenizer/gemma2-tokenizer.json.zst
corpus = $TESTDATA/pile
store = \${job.out}/store
context = 48
windows-per-part = 6
max-tokens = 4000
INI
"$GSAE" harvest --job hj.ini 2>/dev/null
same results/hj/store
# max-activating examples rendered as text with the tokenizer; CSV for the report
"$GSAE" maxact h1 --feature 7 --top 3 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" >ma.txt
grep -q "^feature 7: fired on [0-9]* of [0-9]* tokens" ma.txt
grep -q "^  1\. .*\[\[.*\]\]" ma.txt
"$GSAE" maxact --store h1 --top 2 --context 4 --out ma.csv --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
head -1 ma.csv | grep -qx "feature,rank,activation,doc,pos,left,token,right"
test "$(wc -l <ma.csv)" -gt 100
# SIGKILL mid-run on 2 replicas, rerun on 1 rank
$MPIRUN -np 2 "$GSAE" harvest "${common[@]}" --out k --stages 1 2>/dev/null &
pid=$!
for i in $(seq 100); do [ -f k/manifest.json ] && break; sleep 0.1; done
ranks=$(pgrep -P $pid || true)
kill -KILL $ranks $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
for r in $ranks; do while kill -0 "$r" 2>/dev/null; do sleep 0.05; done; done
"$GSAE" harvest "${common[@]}" --out k 2>/dev/null
same k
echo "harvest: 1, 3x1, 1x3, 2x2 ranks and a killed run give the same store"
