# gsae contrast reads the job file jobs/arc_contrast.ini as it is (its [features] step: arc,
# tasks by name, position, pairs, acts, diff), with a paths.ini pointing at the test inputs,
# and gives the same CSVs as the same settings given as flags. `gsae run` runs that step as
# `gsae contrast` on 3 ranks (command, outcomes, permutations and seed set with --set), with
# the group contrast, again identical to the flags run.
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
contrast "$T/flags" >"$T/flags.log" 2>&1 || { cat "$T/flags.log"; exit 1; }
"$GSAE" contrast --job "$T/jobs/arc_contrast.ini" --out "$T/job" >"$T/job.log" 2>&1 ||
    { cat "$T/job.log"; exit 1; }
head -2 "$T/job.log"
grep -q "group contrast skipped: 0 successful, 0 failed, 10 unlabelled" "$T/job.log" ||
    { echo "FAIL: the job has no outcomes, the group contrast should be skipped"; exit 1; }
fail=0
for f in acts_last_token.csv table_pair_top.csv; do
    cmp "$T/flags/$f" "$T/job/$f" || { echo "FAIL: job $f differs from the flags run"; fail=1; }
done
# the flags run has the group contrast's column (success-failure) after the 7 pairs
cmp <(cut -d, -f1-8 "$T/flags/feature_diff.csv") "$T/job/feature_diff.csv" ||
    { echo "FAIL: job feature_diff.csv differs from the flags run"; fail=1; }
[ -f "$T/job/contrast.nc" ] && [ ! -e "$T/job/table_group_contrast.csv" ] ||
    { echo "FAIL: job outputs"; fail=1; }

# an explicit step that is not there
"$GSAE" contrast --job "$T/jobs/arc_contrast.ini" --step nosuch --out "$T/x" 2>"$T/err" &&
    { echo "FAIL: --step nosuch accepted"; fail=1; }
grep -q "no section \[nosuch\]" "$T/err" || { cat "$T/err"; fail=1; }

GSAE_LAUNCHER="$MPIRUN -np {n}"
"$GSAE" run --job "$T/jobs/arc_contrast.ini" --launcher "$GSAE_LAUNCHER" \
    --set features.command=contrast --set job.ranks=3 \
    --set 'features.outcomes=${paths.arc_outcomes}' --set features.permutations=2000 \
    --set features.seed=11 --out "$T/run" >"$T/run.log" 2>&1 || { cat "$T/run.log"; exit 1; }
grep -q "on 3 stage(s) x 1 replica(s)" "$T/run/logs/features.log" ||
    { echo "FAIL: gsae run did not run 3 stages"; cat "$T/run/logs/features.log"; fail=1; }
for f in acts_last_token.csv feature_diff.csv table_pair_top.csv table_group_contrast.csv \
    contrast.nc report.html; do
    [ -f "$T/run/$f" ] || { echo "FAIL: gsae run wrote no $f"; fail=1; }
done
for f in acts_last_token.csv feature_diff.csv table_pair_top.csv table_group_contrast.csv; do
    cmp "$T/flags/$f" "$T/run/$f" || { echo "FAIL: gsae run $f differs from the flags run"; fail=1; }
done
[ $fail -eq 0 ] && echo PASS
exit $fail
