#!/usr/bin/env bash
# gsae report: every view from synthetic result files, HTML escaping, absent views left out,
# a malformed file rejected naming file and line, and output that is byte-identical on rerun.
set -euo pipefail
cd "$T"
$PY3 "$TOP/tests/report/make_results.py" res
"$GSAE" report res
html=res/report.html
for id in summary acts diff steer steer-json ablate ablate-json pca pca-npy harvest features tables; do
    grep -q "<section id=\"$id\">" "$html" || { echo "FAIL: view '$id' missing"; exit 1; }
done
# Self-contained: no scripts, no external resources.
if grep -Eiq '<script|src=|url\(|https?://' "$html"; then
    echo "FAIL: report references scripts or external resources:"
    grep -Eio '<script|src=[^ >]*|url\([^)]*\)|https?://[^ "<]*' "$html" | head; exit 1
fi
# Text from result files is escaped.
grep -qF '&lt;b&gt;rotates&lt;/b&gt; &amp; &quot;flips&quot;' "$html" || { echo "FAIL: steer text not escaped"; exit 1; }
if grep -qF '<b>rotates' "$html"; then echo "FAIL: raw HTML from a result file"; exit 1; fi
grep -qF '<mark>tok0</mark>' "$html" || { echo "FAIL: max-activating token not highlighted"; exit 1; }
grep -qF '&lt;i&gt;steered&lt;/i&gt; by -2' "$html" || { echo "FAIL: steer JSON text missing or unescaped"; exit 1; }
grep -qF 'd037b0a7: feature 3655, max_act 183.167, layer 20' "$html" || { echo "FAIL: steer JSON caption"; exit 1; }
grep -qF "plain: ablate 3655 (error term left out)" "$html" && grep -qF "both: ablate 3655 + error (error term added back)" "$html" || { echo "FAIL: ablate JSON captions"; exit 1; }
grep -qF '<td><code>\n</code></td>' "$html" || { echo "FAIL: newline token not shown as \\n"; exit 1; }
# Deterministic: the same inputs give the same bytes.
cp "$html" first.html
"$GSAE" report res >/dev/null
cmp first.html "$html" || { echo "FAIL: report differs between two runs on the same files"; exit 1; }
# Views whose files are absent are left out.
mkdir only_steer && cp res/steer.csv only_steer/
"$GSAE" report only_steer
grep -q '<section id="steer">' only_steer/report.html || { echo "FAIL: steer view missing"; exit 1; }
if grep -q '<section id="pca">' only_steer/report.html; then echo "FAIL: pca shown without its file"; exit 1; fi
# gsae pca STORE's pca.csv: coloured by token id, shown as text with --tokenizer.
mkdir pca_store
printf 'row,token,doc,pos,token_id,PC1,PC2,PC3,context\n0,1,0,0,2,0.5,1.5,2.5,x\n1,2,0,1,108,1.0,-1.0,0.5,y\n' >pca_store/pca.csv
"$GSAE" report pca_store >/dev/null
grep -qF '</i>108</span>' pca_store/report.html || { echo "FAIL: pca.csv token ids not in the legend"; exit 1; }
"$GSAE" report pca_store --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" >/dev/null
grep -qF '</i>&lt;bos&gt;</span>' pca_store/report.html && grep -qF '</i>\n</span>' pca_store/report.html ||
    { echo "FAIL: --tokenizer did not turn token ids into text"; exit 1; }
# An empty directory still gives a page that says so.
mkdir empty && "$GSAE" report empty && grep -q 'No result files' empty/report.html
# Malformed files fail, naming file and line or column.
mkdir bad && printf 'feature,prompt,strength,text\n1,a,0,"unterminated\n' >bad/steer.csv
if "$GSAE" report bad 2>err.txt; then echo "FAIL: accepted an unterminated quote"; exit 1; fi
grep -q 'bad/steer.csv:2: unterminated' err.txt || { echo "FAIL: message:"; cat err.txt; exit 1; }
printf 'feature,prompt,text\n1,a,b\n' >bad/steer.csv
if "$GSAE" report bad 2>err.txt; then echo "FAIL: accepted steer.csv without 'strength'"; exit 1; fi
grep -q "steer.csv: no column 'strength'" err.txt || { echo "FAIL: message:"; cat err.txt; exit 1; }
echo '{"runs": 3}' >bad/steer_x.json && rm bad/steer.csv
if "$GSAE" report bad 2>err.txt; then echo "FAIL: accepted a steer JSON without a runs array"; exit 1; fi
grep -q "bad/steer_x.json: no array 'runs'" err.txt || { echo "FAIL: message:"; cat err.txt; exit 1; }
echo '{"runs": [' >bad/steer_x.json
if "$GSAE" report bad 2>err.txt; then echo "FAIL: accepted truncated JSON"; exit 1; fi
grep -q "bad/steer_x.json:" err.txt || { echo "FAIL: message:"; cat err.txt; exit 1; }
rm bad/steer_x.json
printf 'a,b\n1,2,3\n' >bad/table_x.csv
if "$GSAE" report bad 2>err.txt; then echo "FAIL: accepted a row with too many fields"; exit 1; fi
grep -q 'table_x.csv:2: 3 fields, the header has 2' err.txt || { echo "FAIL: message:"; cat err.txt; exit 1; }
echo "report: all views, escaping, omission, errors, determinism OK"
