#!/usr/bin/env bash
# The attribution job on the demo's inputs: `gsae run --job jobs/attribute_e9afcf9a.ini` with
# the shipped job file (its paths.ini pointing at the demo's tokenizer and ARC tasks, a tiny
# random Gemma-2 and a 16k SAE on layer 20, as tests/jobs/t_doc_commands.sh builds them) writes
# attribution.nc, the CSVs and report.html; the report's attribution view (bars, heat strip,
# shaded prompt) renders in headless Chromium with no console or load errors, and the page
# holds no control bytes. Without the CSVs the view is left out, and a malformed strip fails the
# report.
set -euo pipefail
cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "skip: chromium is not installed (Debian: chromium; make deps)"; exit 77; }
site=$T/site
DEMO_DIR=$site bash "$TOP/tests/demo.sh" "$BUILD" --inputs-only >inputs.log 2>&1 ||
    { tail inputs.log; fail "tests/demo.sh --inputs-only"; }
"$GSAE" mkmodel "$site/model" --preset tiny --layers 21 --vocab 256000 --seed 1 >>inputs.log &&
    "$GSAE" mksae "$site/sae.npz" --model "$site/model" --d-sae 16384 --layer 20 --seed 1 \
        >>inputs.log || { tail inputs.log; fail "the model and SAE"; }
mkdir -p "$site/work/jobs"
cp "$TOP/jobs/attribute_e9afcf9a.ini" "$site/work/jobs/"
{
    echo "[paths]"
    echo "model = $site/model"
    echo "sae = $site/sae.npz"
    echo "tokenizer = $site/inputs/gemma2-tokenizer.json.zst"
    echo "arc = $site/inputs/arc"
    sed -n '/^\[model\]/,$p' "$TOP/jobs/paths.ini"
} >"$site/work/jobs/paths.ini"
(cd "$site/work" && "$GSAE" run --job jobs/attribute_e9afcf9a.ini --out "$T/res") >run.log 2>&1 ||
    { tail -n 20 run.log; fail "gsae run --job jobs/attribute_e9afcf9a.ini"; }
for f in attribution.nc attribution_top.csv attribution_strip.csv attribution_meta.csv report.html; do
    [ -s "res/$f" ] || fail "the job wrote no $f"
done
grep -q "^metric answer_logprob = " run.log || fail "no metric printed: $(tail -n 5 run.log)"
[ "$(wc -l <res/attribution_top.csv)" = 11 ] || fail "attribution_top.csv has not 10 features"
# Tokens given as text go through the tokenizer ("np" = 9427, " the" = 573); one of two tokens
# is refused.
common=(attribute --model "$site/model" --sae "$site/sae.npz" --layer 20 --arc "$site/inputs/arc"
        --tokenizer "$site/inputs/gemma2-tokenizer.json.zst" --prompt e9afcf9a --metric logit-diff)
"$GSAE" "${common[@]}" --target np --baseline " the" --top 3 >tok.txt 2>&1 || fail "$(cat tok.txt)"
grep -qF "logits[389, 9427] - logits[389, 573]" tok.txt || fail "token texts: $(head -n 1 tok.txt)"
if "$GSAE" "${common[@]}" --target " hello world" --baseline 573 >tok2.txt 2>&1; then
    fail "a two-token --target was accepted"
fi
grep -q "2 tokens, not one" tok2.txt || fail "two-token --target: $(cat tok2.txt)"
html=res/report.html
grep -q '<section id="attribution">' $html || fail "report lacks the attribution view"
LC_ALL=C grep -qP '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]' $html && fail "control bytes in the report"
n_shaded=$(grep -o '<span style="background:rgba' $html | wc -l)
n_tok=$(($(wc -l <res/attribution_strip.csv) - 1))
[ "$n_shaded" -ge $((5 * n_tok)) ] || fail "$n_shaded shaded tokens for 5 features x $n_tok tokens"
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --enable-logging=stderr --v=0)
mkdir profile1 profile2
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile1" --dump-dom \
    "file://$T/$html" >dom.html 2>dom.err || { tail dom.err; fail "chromium --dump-dom"; }
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile2" --window-size=1280,2400 \
    --screenshot="$T/shot.png" "file://$T/$html" >shot.out 2>shot.err ||
    { tail shot.err; fail "chromium --screenshot"; }
grep -q '<section id="attribution">' dom.html || fail "DOM lacks the attribution view"
grep -q 'aria-label="attribution heat strip"' dom.html || fail "DOM lacks the heat strip"
grep -q 'What was attributed' dom.html || fail "DOM lacks the attribution_meta.csv table"
grep -q 'answer_logprob' dom.html || fail "DOM does not name the metric"
[ "$(grep -o '<details' dom.html | wc -l)" -ge 5 ] || fail "DOM lacks the shaded prompts"
if grep -Ei 'CONSOLE|Uncaught|Failed to load|net::ERR' dom.err shot.err; then
    fail "the browser reported errors for the page"
fi
[ -s shot.png ] || fail "no screenshot"
# Without the CSVs the view is left out; a malformed strip is an error naming the file.
mkdir none bad
cp res/attribution_top.csv bad/
"$GSAE" report none >/dev/null
grep -q 'id="attribution"' none/report.html && fail "attribution view shown without its files"
printf 'position,tok\n0,a\n' >bad/attribution_strip.csv
if "$GSAE" report bad >bad.out 2>&1; then fail "a malformed attribution_strip.csv was accepted"; fi
grep -q attribution_strip.csv bad.out || fail "the error does not name the file: $(cat bad.out)"
echo "attribution job ran on the demo inputs; its report view renders in Chromium without errors"
