#!/usr/bin/env bash
# make demo: build small inputs, run the demo job (jobs/demo.ini) on several MPI ranks, and
# write its report.
#
#   tests/demo.sh BUILD_DIR                 inputs in $DEMO_DIR/inputs, run in $DEMO_DIR/run
#   tests/demo.sh BUILD_DIR --inputs-only   only (re)build the inputs
#
# DEMO_DIR defaults to results/demo. The inputs: a tiny random Gemma-2 (gsae mkmodel, the real
# tokenizer's 256000-token vocabulary, bf16), the real Gemma-2 tokenizer, a random JumpReLU SAE
# on layer 2 (gsae mksae, calibrated on the model), the notebook's 10 ARC tasks and the Pile
# sample. A piece whose gsae command does not exist yet is skipped with a note, and so is a
# job step (jobs/demo.ini has skip_missing = true).
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$TOP/build}" && pwd)
source "$TOP/tests/env.sh"
GSAE="$BUILD/gsae"
DEMO_DIR=${DEMO_DIR:-$TOP/results/demo}
DATA=${DEMO_DATA:-$TESTDATA}    # where the tokenizer, ARC tasks and Pile shards come from
inputs="$DEMO_DIR/inputs"
cd "$TOP"

has_command() { "$GSAE" --help 2>/dev/null | grep -q "^  $1 "; }
note() { echo "demo: $*"; }
start=$(date +%s)

mkdir -p "$inputs/arc" "$inputs/pile"
if has_command mkmodel; then
    "$GSAE" mkmodel "$inputs/model" --preset tiny --vocab 256000 --seed 1 --force
else
    note "skipped the model: this gsae has no 'mkmodel' yet"
fi
cp "$DATA/tokenizer/gemma2-tokenizer.json.zst" "$inputs/"
if has_command mksae && [ -d "$inputs/model" ]; then
    "$GSAE" mksae "$inputs/sae.npz" --model "$inputs/model" --d-sae 512 --layer 2 --seed 1
else
    note "skipped the SAE: this gsae has no 'mksae' yet (or no model)"
fi
cp "$DATA/arc/notebook_outcomes.csv" "$inputs/arc/"
for t in $(tail -n +2 "$DATA/arc/notebook_outcomes.csv" | cut -d, -f1); do
    cp "$DATA"/arc/*/"$t" "$inputs/arc/"
done
cp "$DATA"/pile/*.jsonl.zst "$inputs/pile/"
note "inputs in $inputs ($(du -sh "$inputs" | cut -f1))"
[ "${2:-}" = --inputs-only ] && exit 0

# The demo job, its MPI steps on 3 ranks (jobs/demo.ini), then its report.
rm -rf "$DEMO_DIR/run"
"$GSAE" run --job jobs/demo.ini --set "paths.demo=$inputs" --out "$DEMO_DIR/run"
note "finished in $(( $(date +%s) - start )) s"
note "report: $DEMO_DIR/run/report.html  (open it in a browser: file://$DEMO_DIR/run/report.html)"
# A picture of the report's first screens, when Debian's Chromium is installed.
if command -v chromium >/dev/null 2>&1; then
    profile=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1400,4000 \
        --screenshot="$DEMO_DIR/run/report.png" "file://$DEMO_DIR/run/report.html" >/dev/null 2>&1 &&
        note "screenshot: $DEMO_DIR/run/report.png"
    rm -rf "$profile"
fi
