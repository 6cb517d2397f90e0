#!/usr/bin/env bash
# The nightly run reproduces itself: two runs give identical manifests and pass; a changed
# input makes the third fail, naming the input, the output file and its first differing value.
set -euo pipefail
cd "$T"
export NIGHTLY_DIR="$T/nightly"
# Inputs: a symlink copy of the test data, with the one file this test changes copied for real.
mkdir data && cp -rs "$TESTDATA/." data/
rm data/arc/notebook_outcomes.csv && cp "$TESTDATA/arc/notebook_outcomes.csv" data/arc/
export NIGHTLY_DATA="$T/data"
# A subset keeps the test short (make nightly runs all): the report, a golden case on 1, 2 and
# 3 ranks, the ARC prompts and their token ids.
export NIGHTLY_ONLY='^(report|golden-tiny-gqa-bf16|arc-prompts)$'

NIGHTLY_STAMP=night1 "$TOP/slurm/nightly.sh" "$BUILD" >run1.txt 2>&1 || { cat run1.txt; echo "FAIL: first run"; exit 1; }
grep -q 'this run is the baseline' run1.txt || { cat run1.txt; echo "FAIL: first run is not the baseline"; exit 1; }
NIGHTLY_STAMP=night2 "$TOP/slurm/nightly.sh" "$BUILD" >run2.txt 2>&1 || { cat run2.txt; echo "FAIL: rerun drifted"; exit 1; }
grep -q 'reproduced .*night1' run2.txt || { cat run2.txt; echo "FAIL: rerun not compared with night1"; exit 1; }
cmp nightly/night1/manifest nightly/night2/manifest || { diff nightly/night1/manifest nightly/night2/manifest; echo "FAIL: manifests differ"; exit 1; }
n_out=$(grep -c '^output ' nightly/night1/manifest)
[ "$n_out" -ge 5 ] || { echo "FAIL: only $n_out outputs in the manifest"; exit 1; }
grep -q '^gsae_version ' nightly/night1/manifest && grep -q '^machine ' nightly/night1/manifest &&
    grep -q '^input arc/notebook_outcomes.csv ' nightly/night1/manifest || { echo "FAIL: manifest lacks version/machine/input lines"; exit 1; }
# Change one value of an input: the run must fail and say where.
sed -i 's/^c9e6f938.json,5,1218,False$/c9e6f938.json,5,1218,True/' data/arc/notebook_outcomes.csv
rc=0; NIGHTLY_STAMP=night3 "$TOP/slurm/nightly.sh" "$BUILD" >run3.txt 2>&1 || rc=$?
cat run3.txt
[ "$rc" -eq 1 ] || { echo "FAIL: a changed input gave exit $rc, expected 1"; exit 1; }
grep -q 'DRIFT against .*night2' run3.txt
grep -q 'input arc/notebook_outcomes.csv: sha256' run3.txt || { echo "FAIL: changed input not named"; exit 1; }
grep -qF "table_notebook_outcomes.csv: sha256" run3.txt || { echo "FAIL: drifted output not named"; exit 1; }
grep -qF "line 3, column 22: was 'c9e6f938.json,5,1218,False', now 'c9e6f938.json,5,1218,True'" run3.txt ||
    { echo "FAIL: first differing value not shown"; exit 1; }
echo "nightly: $n_out outputs reproduced; a changed input is caught and located"
