#!/usr/bin/env bash
# Job files and gsae run: includes, overrides, references, error messages, command lines built
# from sections, step execution with logs and done-markers, resume, exit 75 and SIGUSR1.
set -euo pipefail
cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
expect_error() { # expect_error PATTERN CMD...: CMD fails and its stderr matches PATTERN
    local pat=$1; shift
    if "$@" 2>err.txt >/dev/null; then fail "'$*' succeeded"; fi
    grep -q -- "$pat" err.txt || { cat err.txt; fail "'$*': message lacks '$pat'"; }
}

mkdir -p jobs sub
cat >jobs/base.ini <<'INI'
; shared paths
[paths]
root = /data
model = ${paths.root}/model
tag = base
INI
cat >jobs/exp.ini <<'INI'
[job]
include = base.ini
steps = one
[paths]
root = /site
[one]
command = version
INI
# Includes load first and are overridden; references see the final values.
[ "$("$GSAE" run --job jobs/exp.ini --get paths.model)" = /site/model ] || fail "include/override"
[ "$("$GSAE" run --job jobs/exp.ini --get paths.tag)" = base ] || fail "included key"
[ "$("$GSAE" run --job jobs/exp.ini --set paths.root=/x --get paths.model)" = /x/model ] || fail "--set"
[ "$("$GSAE" run --job jobs/exp.ini --get job.name)" = exp ] || fail "job.name"
[ "$("$GSAE" run --job jobs/exp.ini --get job.out)" = results/exp ] || fail "default job.out"
[ "$(HOME=/home/q "$GSAE" run --job jobs/exp.ini --set 'paths.h=${env.HOME}/h' --get paths.h)" = /home/q/h ] || fail "env"

# Errors name the file, the key and what is wrong.
expect_error "\-\-set: one.x: '\${paths.nope}' is not defined" "$GSAE" run --job jobs/exp.ini --set 'one.x=${paths.nope}' --dry-run
printf '[job]\ninclude = base.ini\nsteps = one\n[one]\nmodel = ${paths.modle}\n' >jobs/undef.ini
expect_error "jobs/undef.ini: one.model: '\${paths.modle}' is not defined" "$GSAE" run --job jobs/undef.ini --dry-run
expect_error "cycle" "$GSAE" run --job jobs/exp.ini --set 'paths.a=${paths.b}' --set 'paths.b=${paths.a}' --dry-run
expect_error "expected section.key=value" "$GSAE" run --job jobs/exp.ini --set nodot=1
expect_error "jobs/missing.ini: cannot open" "$GSAE" run --job jobs/missing.ini
printf '[job]\ninclude = loop.ini\n' >jobs/loop.ini
expect_error "includes nest deeper" "$GSAE" run --job jobs/loop.ini
printf '[job]\nsteps = a\n[a\n' >jobs/syntax.ini
expect_error "jobs/syntax.ini:3: not INI syntax" "$GSAE" run --job jobs/syntax.ini
printf '[job]\nsteps = a, b\n[a]\ncommand = version\n' >jobs/nostep.ini
expect_error "no \[b\]" "$GSAE" run --job jobs/nostep.ini --dry-run
printf '[job]\ncommand = version\n' >jobs/nosteps.ini
expect_error "lists no step" "$GSAE" run --job jobs/nosteps.ini --dry-run

# Command lines: one --key (value) per key, true -> flag, false -> left out, args last,
# launcher words with {n} for ranks > 1, multi-line values quoted. (A command this gsae does
# not have: its keys are not checked against an option table, see t_run_validate.sh.)
cat >jobs/cmd.ini <<'INI'
[job]
steps = s
launcher = mylaunch -n {n} --x
[s]
command = steer-next
ranks = 3
feature = 3655
strengths = -2,-1,0,1,2
greedy = true
verbose = false
answer = 5
    np.array([[6, 2],
    [2, 6]])
args = a.nc b.nc
INI
line=$("$GSAE" run --job jobs/cmd.ini --dry-run)
want="mylaunch -n 3 --x $GSAE steer-next --feature 3655 --strengths -2,-1,0,1,2 --greedy --answer '5
np.array([[6, 2],
[2, 6]])' a.nc b.nc"
[ "$line" = "$want" ] || { printf 'got:\n%s\nwant:\n%s\n' "$line" "$want"; fail "dry-run command line"; }

# foreach: one run per value, {each} substituted, one log and marker each.
cat >jobs/each.ini <<'INI'
[job]
steps = s
[s]
command = maxact
foreach = aa,bb
store = out_{each}
INI
"$GSAE" run --job jobs/each.ini --dry-run >each.txt
[ "$(cat each.txt)" = "$GSAE maxact --store out_aa
$GSAE maxact --store out_bb" ] || { cat each.txt; fail "foreach command lines"; }
sed -i -e 's/^command = maxact/command = version/' -e '/^store = /d' jobs/each.ini
"$GSAE" run --job jobs/each.ini --out each >/dev/null
[ -s each/logs/s.aa.log ] && [ -s each/logs/s.bb.log ] && [ -e each/steps/s.bb.done ] || fail "foreach logs/markers"

# Running: two steps (one on 2 ranks under mpirun), logs, markers, timings, job.ini, report.
cat >jobs/two.ini <<'INI'
[job]
steps = a, b
[a]
command = version
[b]
command = version
ranks = 2
INI
GSAE_LAUNCHER="$MPIRUN -np {n}" "$GSAE" run --job jobs/two.ini --out out >run1.txt
for f in job.ini logs/a.log logs/b.log steps/a.done steps/b.done timings.csv report.html; do
    [ -s "out/$f" ] || fail "out/$f missing"
done
[ "$(grep -c '^gsae ' out/logs/b.log)" -eq 2 ] || fail "step b did not run on 2 ranks"
[ "$(wc -l <out/timings.csv)" -eq 3 ] || fail "timings.csv rows"
grep -q '<section id="summary">' out/report.html || fail "report lacks the run summary"
GSAE_LAUNCHER="$MPIRUN -np {n}" "$GSAE" run --job jobs/two.ini --out out >run2.txt
[ "$(grep -c 'done before, skipped' run2.txt)" -eq 2 ] || { cat run2.txt; fail "rerun did not skip finished steps"; }
GSAE_LAUNCHER="$MPIRUN -np {n}" "$GSAE" run --job jobs/two.ini --out out --force >run3.txt
grep -q 'done before' run3.txt && fail "--force skipped a step"

# A step that stops resumably (exit 75) stops the job with 75 and leaves no marker;
# SIGUSR1 to gsae run reaches the step.
cat >launch.sh <<'SH'
#!/usr/bin/env bash
trap 'echo "launch: SIGUSR1"; exit 75' USR1
echo "launch: running"
while :; do sleep 0.1; done
SH
chmod +x launch.sh
cat >jobs/stop.ini <<INI
[job]
steps = a, b
[a]
command = version
[b]
command = version
ranks = 2
launcher = $T/launch.sh {n}
INI
"$GSAE" run --job jobs/stop.ini --out stop >stop.txt 2>&1 &
pid=$!
for i in $(seq 100); do grep -q 'launch: running' stop/logs/b.log 2>/dev/null && break; sleep 0.1; done
kill -USR1 $pid
rc=0; wait $pid || rc=$?
[ $rc -eq 75 ] || { cat stop.txt; fail "gsae run exited $rc after SIGUSR1, expected 75"; }
grep -q 'stopped on request' stop.txt || fail "no 'stopped on request' line"
[ -e stop/steps/a.done ] && [ ! -e stop/steps/b.done ] || fail "markers after a stop"
[ ! -e stop/report.html ] || fail "report written for an unfinished job"

# A failing step names its log; an unknown command fails unless skip_missing.
printf '[job]\nsteps = x\n[x]\ncommand = nosuchcmd\n' >jobs/bad.ini
expect_error "step x failed (exit 2).*logs/x.log" "$GSAE" run --job jobs/bad.ini --out bad
printf '[job]\nsteps = x\nskip_missing = true\n[x]\ncommand = nosuchcmd\n' >jobs/skip.ini
"$GSAE" run --job jobs/skip.ini --out skip | grep -q "skipped: this gsae has no 'nosuchcmd' command" || fail "skip_missing"

# Every shipped job file resolves (paths.ini included) and builds its command lines.
for j in "$TOP"/jobs/*.ini; do
    case $(basename "$j") in paths.ini) continue ;; esac
    "$GSAE" run --job "$j" --set job.max_act=1 --dry-run >/dev/null 2>err.txt || { cat err.txt; fail "$j does not resolve"; }
done
echo "job files and gsae run OK"
