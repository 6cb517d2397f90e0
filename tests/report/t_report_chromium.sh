#!/usr/bin/env bash
# gsae report renders in headless Chromium: the page has all its views in the DOM, the
# browser logs no console or load errors, and the screenshot is not blank; the feature
# dashboard's tokens are shaded in the DOM and in a screenshot of the dashboard.
set -euo pipefail
cd "$T"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "skip: chromium is not installed (Debian: chromium; make deps)"; exit 77; }
$PY3 "$TOP/tests/report/make_results.py" res
"$GSAE" report res >/dev/null
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --enable-logging=stderr --v=0)
mkdir profile1 profile2
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile1" --dump-dom \
    "file://$T/res/report.html" >dom.html 2>dom.err || { echo "FAIL: chromium --dump-dom"; tail dom.err; exit 1; }
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile2" --window-size=1280,3000 \
    --screenshot="$T/shot.png" "file://$T/res/report.html" >shot.out 2>shot.err ||
    { echo "FAIL: chromium --screenshot"; tail shot.err; exit 1; }
# The browser parsed the page: every view and chart is in the DOM.
for id in summary acts diff steer steer-json ablate ablate-json pca pca-npy harvest features tables; do
    grep -q "<section id=\"$id\">" dom.html || { echo "FAIL: DOM lacks view '$id'"; exit 1; }
done
n_svg=$(grep -o '<svg' dom.html | wc -l)
[ "$n_svg" -ge 12 ] || { echo "FAIL: only $n_svg charts in the DOM"; exit 1; }
grep -qF '&lt;b&gt;rotates' dom.html || { echo "FAIL: escaped text not in the DOM"; exit 1; }
# No console messages or failed loads (the page has no scripts and loads nothing).
if grep -Ei 'CONSOLE|Uncaught|Failed to load|net::ERR' dom.err shot.err; then
    echo "FAIL: the browser reported errors for the page"; exit 1
fi
# Not blank: decode the PNG and count colours.
$PY3 "$TOP/tests/report/png_colours.py" shot.png
# The feature dashboard in the DOM: its section, shaded tokens in many distinct shades, token
# text that was markup kept as text (no script element).
grep -q '<section id="features">' dom.html || { echo "FAIL: DOM lacks the feature dashboard"; exit 1; }
n_shades=$({ grep -o 'rgba(255, *128, *0, *[0-9.]*)' dom.html || true; } | tr -d ' ' | sort -u | wc -l)
[ "$n_shades" -ge 10 ] || { echo "FAIL: only $n_shades token shades in the DOM"; exit 1; }
if grep -qi '<script' dom.html; then echo "FAIL: a script element in the DOM"; exit 1; fi
grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' dom.html || { echo "FAIL: token markup not kept as text"; exit 1; }
# A screenshot of the dashboard (a results directory with its files only, so the dashboard is
# at the top): tokens shaded in several shades are visible.
mkdir dash profile3
cp res/maxact.csv res/maxact_tokens.csv res/logit_effects.csv res/table_group_contrast.csv dash/
"$GSAE" report dash --neuronpedia gemma-2-9b-it/20-gemmascope-res-16k >/dev/null
timeout 120 "$CHROMIUM" "${flags[@]}" --user-data-dir="$T/profile3" --window-size=1280,1100 \
    --screenshot="$T/dashboard.png" "file://$T/dash/report.html" >dash.out 2>dash.err ||
    { echo "FAIL: chromium --screenshot of the dashboard"; tail dash.err; exit 1; }
if grep -Ei 'CONSOLE|Uncaught|Failed to load|net::ERR' dash.err; then
    echo "FAIL: the browser reported errors for the dashboard"; exit 1
fi
$PY3 "$TOP/tests/report/png_colours.py" dashboard.png --shaded
echo "report renders in Chromium: $n_svg charts, $n_shades token shades, no browser errors, screenshots not blank, dashboard shaded"
