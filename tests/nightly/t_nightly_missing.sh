#!/usr/bin/env bash
# slurm/nightly.sh treats what is missing as a difference: against a baseline, an output no
# longer produced, and an entry, input or output the previous manifest lists but this run lacks,
# each exit 1 naming it; a skipped entry is listed and fails (exit 1), as a baseline too. An
# entry left out by NIGHTLY_ONLY is not missing. A clean rerun still passes.
set -euo pipefail
cd "$T"
export NIGHTLY_DIR="$T/nightly"
mkdir data && cp -rs "$TESTDATA/." data/
rm data/arc/notebook_outcomes.csv && cp "$TESTDATA/arc/notebook_outcomes.csv" data/arc/
export NIGHTLY_DATA="$T/data"
# `ghost` names no entry of nightly.sh: step 2 makes one up in the previous manifest.
export NIGHTLY_ONLY='^(report|arc-prompts|ghost)$'
fails=0

# nightly STAMP WANT_RC [VAR=VALUE...]: run slurm/nightly.sh into $NIGHTLY_DIR/STAMP; the exit
# status must be WANT_RC. Output in STAMP.txt.
nightly() {
    local stamp=$1 want=$2 rc=0; shift 2
    env NIGHTLY_STAMP="$stamp" "$@" "$TOP/slurm/nightly.sh" "$BUILD" >"$stamp.txt" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$stamp.txt"; echo "FAIL $stamp: exit $rc, expected $want"; fails=$((fails + 1)); return 1
    fi
}
# says STAMP TEXT: STAMP's output contains TEXT (a fixed string)
says() {
    if grep -qF -- "$2" "$1.txt"; then echo "ok   $1: $(grep -m1 -F -- "$2" "$1.txt" | sed 's/^ *//')"
    else cat "$1.txt"; echo "FAIL $1: output lacks '$2'"; fails=$((fails + 1)); fi
}
# forget STAMP: remove a failed run so the next one compares with the baseline again
forget() { rm -rf "${NIGHTLY_DIR:?}/$1"; }

nightly night1 0 || exit 1
grep -q '^entry report ranks=1 inputs=arc/notebook_outcomes.csv$' nightly/night1/manifest ||
    { cat nightly/night1/manifest; echo "FAIL: no entry line for report"; exit 1; }

# 1. An output no longer produced: drop one task from the ARC list, so arc-prompts no longer
#    writes its prompt file.
task=c9e6f938
cp data/arc/notebook_outcomes.csv outcomes.csv
sed -i "/^$task.json,/d" data/arc/notebook_outcomes.csv
nightly dropped 1 && says dropped "output arc-prompts/np1/$task.txt: no longer produced"
cp outcomes.csv data/arc/notebook_outcomes.csv
forget dropped

# 2. What the previous manifest lists and this run lacks: an entry, an input, an output.
cp nightly/night1/manifest manifest.night1
{
    echo "entry ghost ranks=1 inputs=ghost.csv"
    echo "input ghost.csv 0000000000000000000000000000000000000000000000000000000000000000"
    echo "input arc/gone.csv 1111111111111111111111111111111111111111111111111111111111111111"
    echo "output report/np1/res/gone.html 2222222222222222222222222222222222222222222222222222222222222222"
} >>nightly/night1/manifest
if nightly absent 1; then
    says absent "entry ghost: in the previous manifest, absent now"
    says absent "input arc/gone.csv: in the previous manifest, absent now"
    says absent "output report/np1/res/gone.html: no longer produced"
fi
cp manifest.night1 nightly/night1/manifest
forget absent

# 3. A skipped entry: a gsae whose help lacks `tokenize` skips arc-prompts; the run fails and
#    lists it (its outputs are missing too).
cat >gsae-no-tokenize <<EOF
#!/usr/bin/env bash
if [ "\${1:-}" = "--help" ]; then "$GSAE" --help | grep -v '^  tokenize '; exit 0; fi
exec "$GSAE" "\$@"
EOF
chmod +x gsae-no-tokenize
if nightly skipped 1 GSAE="$T/gsae-no-tokenize"; then
    says skipped "nightly: arc-prompts: SKIPPED (gsae has no 'tokenize' command yet)"
    says skipped "skipped arc-prompts (no-gsae-tokenize)"
    says skipped "a skip fails the comparison"
fi
forget skipped
# ... and a baseline with a skipped entry is no pass either.
if NIGHTLY_DIR="$T/fresh" nightly fresh 1 GSAE="$T/gsae-no-tokenize"; then
    says fresh "this run is the baseline"
    says fresh "skipped arc-prompts"
fi

# 4. Entries left out by NIGHTLY_ONLY are not missing; a full rerun reproduces the baseline.
if nightly subset 0 NIGHTLY_ONLY='^report$'; then says subset "reproduced"; fi
forget subset
if nightly night2 0; then says night2 "reproduced"; fi

echo "$fails failures"
[ "$fails" -eq 0 ]
