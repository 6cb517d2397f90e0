# gsae contrast reads jobs/arc_contrast.ini as it is (with a paths.ini pointing at the test
# inputs) and gives the same outputs as the same settings given as flags; a flag overrides the
# job's value; the job's key names as an older job file spelled them (command = features,
# arc + task names, position, acts, diff) are read too. `gsae run` runs the job on 3 ranks
# with identical CSVs.
set -u
source "$TOP/tests/contrast/inputs.sh"
mkdir -p "$T/jobs"
cp "$TOP/jobs/arc_contrast.ini" "$T/jobs/" || exit 1
cat >"$T/jobs/paths.ini" <<INI
[paths]
model = $T/model
sae = $T/sae.npz
tokenizer = $TESTDATA/tokenizer/gemma2-tokenizer.json.zst
arc = $TESTDATA/arc
arc_outcomes = $TESTDATA/arc/notebook_outcomes.csv
[model]
layer = 2
stages = auto
INI
job="$T/jobs/arc_contrast.ini"
perms=$("$GSAE" run --job "$job" --get contrast.permutations) &&
    seed=$("$GSAE" run --job "$job" --get contrast.seed) || { echo "FAIL: gsae run --get"; exit 1; }
contrast "$T/flags" --permutations "$perms" --seed "$seed" >"$T/flags.log" 2>&1 ||
    { cat "$T/flags.log"; exit 1; }
"$GSAE" contrast --job "$job" --out "$T/job" >"$T/job.log" 2>&1 || { cat "$T/job.log"; exit 1; }
head -1 "$T/job.log"
csvs="acts_last_token.csv feature_diff.csv table_pair_top.csv table_group_contrast.csv"
fail=0
for f in $csvs; do
    cmp "$T/flags/$f" "$T/job/$f" || { echo "FAIL: job $f differs from the flags run"; fail=1; }
done
[ -f "$T/job/contrast.nc" ] || { echo "FAIL: no contrast.nc"; fail=1; }

# a flag overrides the job
"$GSAE" contrast --job "$job" --out "$T/job7" --seed 7 --permutations 50 >"$T/job7.log" 2>&1 ||
    { cat "$T/job7.log"; fail=1; }
grep -q "50 permutations (seed 7)" "$T/job7.log" || { echo "FAIL: flags did not override"; fail=1; }

# an explicit step that is not there
"$GSAE" contrast --job "$job" --step nosuch --out "$T/x" 2>"$T/err" &&
    { echo "FAIL: --step nosuch accepted"; fail=1; }
grep -q "no section \[nosuch\]" "$T/err" || { cat "$T/err"; fail=1; }

# the older spelling: a [features] step with task names under arc, position, acts and diff
cat >"$T/jobs/old.ini" <<INI
[job]
include = paths.ini
steps = features
[features]
command = features
model = \${paths.model}
sae = \${paths.sae}
tokenizer = \${paths.tokenizer}
layer = \${model.layer}
stages = \${model.stages}
arc = \${paths.arc}
tasks = e9afcf9a,c9e6f938,d037b0a7,6150a2bd,6fa7a44f,48d8fb45,3c9b0459,ed36ccf7,b1948b0a,017c7c7b
position = last
pairs = $PAIRS
acts = \${job.out}/acts_last_token.csv
diff = \${job.out}/feature_diff.csv
INI
"$GSAE" contrast --job "$T/jobs/old.ini" --out "$T/old" >"$T/old.log" 2>&1 || { cat "$T/old.log"; exit 1; }
grep -q "group contrast skipped: 0 successful, 0 failed, 10 unlabelled" "$T/old.log" ||
    { echo "FAIL: without outcomes the group contrast should be skipped"; fail=1; }
cmp "$T/flags/acts_last_token.csv" "$T/old/acts_last_token.csv" ||
    { echo "FAIL: old-style job acts differ"; fail=1; }
# the flags run has the group contrast's column (success-failure) after the 7 pairs
cmp <(cut -d, -f1-8 "$T/flags/feature_diff.csv") "$T/old/feature_diff.csv" ||
    { echo "FAIL: old-style job feature_diff.csv differs"; fail=1; }

"$GSAE" run --job "$job" --launcher "$MPIRUN -np {n}" --set job.ranks=3 --out "$T/run" \
    >"$T/run.log" 2>&1 || { cat "$T/run.log"; exit 1; }
grep -q "on 3 stage(s) x 1 replica(s)" "$T/run/logs/contrast.log" ||
    { echo "FAIL: gsae run did not run 3 stages"; cat "$T/run/logs/contrast.log"; fail=1; }
for f in $csvs contrast.nc report.html; do
    [ -f "$T/run/$f" ] || { echo "FAIL: gsae run wrote no $f"; fail=1; }
done
for f in $csvs; do
    cmp "$T/flags/$f" "$T/run/$f" || { echo "FAIL: gsae run $f differs from the flags run"; fail=1; }
done
[ $fail -eq 0 ] && echo PASS
exit $fail
