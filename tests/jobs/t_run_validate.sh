#!/usr/bin/env bash
# gsae run checks every step of a job against its command's option table before the first
# step starts: an unknown key (with the closest valid one), a bad value and a missing
# required option fail naming file, section and key, and nothing is run or written. Also:
# --help is generated from the same tables.
set -euo pipefail
cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
TASK=$TESTDATA/arc/training/007bbfb7.json
SAE=$TESTDATA/gemma2/tiny-mqa-bf16/sae/params.npz

# write_job FILE KEY_LINE_OF_STEP4 [SAE_INFO_LINES]: a 4-step job; the fourth step's key varies.
write_job() {
    cat >"$1" <<INI
[job]
steps = v, prompt, info, answer
report = false
[v]
command = version
[prompt]
command = arc-prompt
args = $TASK
[info]
command = sae-info
${3-sae = $SAE}
[answer]
command = arc-prompt
args = $TASK
$2
INI
}

# expect_refused NAME JOB PATTERN...: gsae run fails (exit 2) before any step, stderr matches
# each PATTERN, and no log, marker or timings file was written.
expect_refused() {
    local name=$1 job=$2 out=out_$1
    shift 2
    if "$GSAE" run --job "$job" --out "$out" --launcher none >stdout.txt 2>err.txt; then
        fail "$name: gsae run succeeded"
    fi
    for pat in "$@"; do
        grep -q -- "$pat" err.txt || { cat err.txt; fail "$name: message lacks '$pat'"; }
    done
    [ ! -s stdout.txt ] || { cat stdout.txt; fail "$name: a step ran"; }
    [ ! -e "$out/logs" ] && [ ! -e "$out/steps" ] && [ ! -e "$out/timings.csv" ] ||
        fail "$name: $(find "$out" -type f | head -n 3) written before the check"
    "$GSAE" run --job "$job" --out "$out" --dry-run >/dev/null 2>err.txt &&
        fail "$name: --dry-run accepted the job"
    grep -q -- "$1" err.txt || { cat err.txt; fail "$name: --dry-run message lacks '$1'"; }
    echo "ok   $name: $(head -n 1 err.txt)"
}

# The good job runs every step (the positive control).
write_job good.ini "target = true"
"$GSAE" run --job good.ini --out out_good --launcher none >good.log 2>&1 || { cat good.log; fail "good job failed"; }
for s in v prompt info answer; do [ -e out_good/steps/$s.done ] || fail "good job: no marker for $s"; done

# A misspelled key in the fourth step.
write_job typo.ini "targte = true"
expect_refused typo typo.ini "typo.ini: \[answer\] targte: unknown key (did you mean target?)"
# An out-of-range integer.
write_job range.ini "target = true" "sae = $SAE
layer = 100001"
expect_refused range range.ini "range.ini: \[info\] layer: '100001', expected an integer from 0 to 100000"
write_job junk.ini "target = true" "sae = $SAE
layer = 3x"
expect_refused junk junk.ini "junk.ini: \[info\] layer: '3x', expected an integer"
# A missing required option.
write_job missing.ini "target = true" "layer = 1"
expect_refused missing missing.ini "missing.ini: \[info\] sae: required, missing"
# A flag given a value.
write_job flagval.ini "target = yes"
expect_refused flagval flagval.ini "flagval.ini: \[answer\] target: 'yes', expected true or false"
# Options among a step's args words (a repeated option such as several --sae) are checked too.
write_job argsopt.ini "args = --targte"
expect_refused argsopt argsopt.ini "argsopt.ini: \[answer\] args: --targte: unknown option (did you mean --target?)"
write_job argsok.ini "args = --target"
"$GSAE" run --job argsok.ini --dry-run >/dev/null 2>err.txt || { cat err.txt; fail "args with --target refused"; }
# A --set override is checked like the file.
"$GSAE" run --job good.ini --set info.layr=1 --dry-run >/dev/null 2>err.txt &&
    fail "--set info.layr accepted"
grep -q "\[info\] layr: unknown key (did you mean layer?)" err.txt || { cat err.txt; fail "--set typo: $(cat err.txt)"; }

# The model commands' steps are checked by --dry-run without a model: the shared SAE options,
# the command's own and their aliases.
cat >model.ini <<'INI'
[job]
steps = steer, harvest
[steer]
model = m
sae = s
prompt = hello
feature = 1
max-act = 2.5
strengths = -1,0,1
max-nwe = 5
[harvest]
model = m
sae = s
corpus = c
out = o
resid = f16
INI
"$GSAE" run --job model.ini --dry-run >/dev/null 2>err.txt && fail "model.ini accepted"
grep -q "model.ini: \[steer\] max-nwe: unknown key (did you mean max-new?)" err.txt || fail "steer typo: $(cat err.txt)"
sed -i 's/^max-nwe/max-new-tokens/' model.ini
"$GSAE" run --job model.ini --dry-run >/dev/null 2>err.txt && fail "resid = f16 accepted"
grep -q "model.ini: \[harvest\] resid: 'f16', expected none, f32 or bf16" err.txt || fail "harvest resid: $(cat err.txt)"
sed -i 's/^resid = f16/resid = bf16/' model.ini
"$GSAE" run --job model.ini --dry-run >out.txt 2>err.txt || fail "model.ini refused: $(cat err.txt)"
grep -q -- "--max-new-tokens 5" out.txt || fail "dry run: $(cat out.txt)"
echo "ok   steer and harvest steps checked by --dry-run"

# Every command but store (whose subcommands have their own tables) has its table checked.
cmds=$("$GSAE" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
n=0
for c in $cmds; do
    [ "$c" = store ] && continue
    printf '[job]\nsteps = s\n[s]\ncommand = %s\nbogus-key = 1\n' "$c" >each.ini
    "$GSAE" run --job each.ini --dry-run >/dev/null 2>err.txt && fail "$c: bogus-key accepted"
    grep -q "each.ini: \[s\] bogus-key: unknown key" err.txt || fail "$c: $(cat err.txt)"
    n=$((n + 1))
done
[ $n -ge 20 ] || fail "only $n commands checked"
echo "ok   an unknown key is refused for each of $n commands"

# The same table refuses a bad command line, naming the closest option.
"$GSAE" maxact STORE --contxt 3 2>err.txt && fail "maxact --contxt accepted"
grep -q "gsae maxact: --contxt: unknown option (did you mean --context?)" err.txt || fail "maxact: $(cat err.txt)"
"$GSAE" maxact STORE --top 0 2>err.txt && fail "maxact --top 0 accepted"
grep -q "gsae maxact: --top '0', expected an integer from 1 to 1024" err.txt || fail "maxact --top: $(cat err.txt)"

# --help is generated from the tables: a usage line and one line per option with its default.
"$GSAE" maxact --help >help.txt
head -n 1 help.txt | grep -q "^usage: gsae maxact STORE" || fail "maxact --help: $(head -n 1 help.txt)"
grep -q "^  --top N  *examples per feature (default 20)$" help.txt || fail "maxact --help lacks --top: $(cat help.txt)"
grep -q "^  --context C  *.*(default 12)$" help.txt || fail "maxact --help lacks --context"
"$GSAE" run --help >help.txt
grep -q "^  --set section.key=value .*(repeatable)$" help.txt || fail "run --help lacks --set: $(cat help.txt)"
grep -q "^  --dry-run " help.txt || fail "run --help lacks --dry-run"
echo "ok   generated --help of maxact and run"
