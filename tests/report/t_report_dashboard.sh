#!/usr/bin/env bash
# gsae report's feature dashboard: features chosen by interest with "N of M shown", every token
# of an example shaded by its activation, token text escaped (markup, control bytes, invalid
# UTF-8), the peak-only fallback without maxact_tokens.csv, logit effects, histograms equal to
# the store's feature_stats.nc, Neuronpedia links from an option or job.ini, and bad settings
# and files rejected.
set -euo pipefail
cd "$T"
$PY3 "$TOP/tests/report/make_results.py" res
fail() { echo "FAIL: $*"; exit 1; }
count() { { grep -o -- "$1" "$2" || true; } | wc -l; } # count PATTERN FILE: matches, 0 when none
ids() { { grep -o '<div class="feat" id="feature-[0-9]*"' "$1" || true; } | grep -o '[0-9]*' || true; }
# A tiny store for the histograms (features up to 4095, so those of make_results.py fit).
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 4096 --layer 2 --density 0.03 >/dev/null
"$GSAE" harvest --model m --sae sae.npz --layer 2 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" \
    --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 6 --max-tokens 2000 --out h1 2>h1.log

# check_html FILE: what every dashboard page must satisfy.
check_html() {
    local html=$1
    grep -q '<section id="features">' "$html" || fail "$html: no dashboard section"
    # No control bytes (C0 but tab/newline/CR, DEL, C1 as UTF-8) and valid UTF-8.
    if LC_ALL=C grep -qP '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]' "$html"; then
        fail "$html: control bytes in the page"
    fi
    iconv -f UTF-8 -t UTF-8 "$html" >/dev/null 2>&1 || fail "$html: not valid UTF-8"
    # Token text escaped: no markup from a token, the escaped form present.
    if grep -qi '<script' "$html"; then fail "$html: raw <script> from a token"; fi
    grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' "$html" || fail "$html: escaped token text missing"
    # Control characters shown visibly.
    grep -qF 'a<i>\x01</i>b<i>\x7f</i>' "$html" || fail "$html: control characters not shown as \\xNN"
    grep -qF '<i>\u0085</i>' "$html" || fail "$html: C1 control not shown as \\u0085"
    # A newline as gsae maxact escapes it ("\n") is shown like a raw one: a mark and a break.
    grep -qF "end<i>$(printf '\xe2\x86\xb5')</i>" "$html" || fail "$html: escaped newline not shown as a mark"
}

"$GSAE" report res >/dev/null
html=res/report.html
check_html "$html"
# N of M: 30 features have examples, 24 are shown without a user choice.
grep -qF '24 of 30 features with max-activating examples shown.' "$html" || fail "N of M (24 of 30)"
test "$(grep -c '<div class="feat" id="feature-' "$html")" -eq 24 || fail "not 24 feature cards"
# Chosen by interest: the group contrast's top feature first, 3655 (its #2) second, then the
# largest activations; feature 777777 (contrast #3) has no examples and is not shown.
cards=$(ids "$html" | head -4 | tr '\n' ' ')
[ "$cards" = "225 3655 1600 5 " ] || fail "card order '$cards', expected 225 3655 1600 5"
grep -qF 'success-failure contrast #1' "$html" || fail "reason of the contrast's top feature"
if grep -q 'id="feature-777777"' "$html"; then fail "a feature without examples got a card"; fi
# Every token shaded by its activation: many shaded spans, many distinct shades, the peak marked.
n_shaded=$(count 'style="background:rgba(255,128,0,[0-9.]*)"' "$html")
n_shades=$({ grep -o 'rgba(255,128,0,[0-9.]*)' "$html" || true; } | sort -u | wc -l)
[ "$n_shaded" -ge 400 ] && [ "$n_shades" -ge 10 ] || fail "only $n_shaded shaded tokens in $n_shades shades"
# 76 examples (3655 and 1600 with 5, 22 more with 3); all but 1600's have their peak marked.
test "$(count '<div class="ex">' "$html")" -eq 76 || fail "not 76 examples"
test "$(count 'class="pk"' "$html")" -eq 71 || fail "not 71 peak tokens marked"
grep -q "class=\"pk\" style=\"background:rgba(255,128,0,1.00)\" title=\"&#39;" "$html" ||
    fail "the peak token is not marked at full shade with a hover title"
# Feature 1600 has no per-token rows: its examples fall back to the peak token highlighted.
awk '/id="feature-1600"/,/id="feature-5"/' "$html" >f1600.html
grep -qF '<mark>tok0</mark>' f1600.html || fail "fallback: peak token of feature 1600 not highlighted"
if grep -q 'rgba(255,128,0' f1600.html; then fail "feature 1600 shaded without per-token rows"; fi
# Logit effects: promotes and suppresses per card, largest first.
test "$(grep -c '<caption>promotes</caption>' "$html")" -eq 24 || fail "logit effects not on every card"
grep -qF '<td><code> the</code></td><td class="num">+2.5</td>' "$html" || fail "top positive logit effect"
# Without a store: a note, no histogram. No links without a source.
grep -q 'No activation histograms: the store is not known' "$html" || fail "no note on the missing store"
if grep -q 'neuronpedia.org' "$html"; then fail "a Neuronpedia link without a source"; fi

# The user's choice first, a feature without examples named, N of M counting it.
"$GSAE" report res --features 1600,99999 --store h1 --neuronpedia gemma-2-9b-it/20-gemmascope-res-16k >/dev/null
check_html "$html"
grep -qF '25 of 30 features with max-activating examples shown. Not shown, no examples in maxact.csv: 99999.' "$html" ||
    fail "N of M with a user choice"
first=$(ids "$html" | head -1)
[ "$first" = 1600 ] || fail "the user's feature is not first ($first)"
grep -qF 'your choice' "$html" || fail "reason 'your choice'"
# Links: every card links to its Neuronpedia page; nothing else refers outside the page.
grep -qF '<a href="https://www.neuronpedia.org/gemma-2-9b-it/20-gemmascope-res-16k/1600">Feature 1600' "$html" ||
    fail "Neuronpedia link of feature 1600"
test "$(count 'href="https://www.neuronpedia.org/[^"]*"' "$html")" -eq 25 || fail "not one link per card"
n_other=$({ grep -o 'https\?://[^"]*' "$html" || true; } | { grep -v '^https://www.neuronpedia.org/' || true; } | wc -l)
[ "$n_other" -eq 0 ] || fail "$n_other external URLs besides the Neuronpedia links"
if grep -Eiq 'src=|url\(' "$html"; then fail "external resources"; fi
# Histograms equal the store's: each card's bar counts are its nonzero bins of hist.
test "$(grep -c '<figure class="fh">' "$html")" -eq 25 || fail "not one histogram per card"
$PY3 - "$html" <<'PY'
import re, sys, netCDF4
html = open(sys.argv[1], encoding="utf-8").read()
hist = netCDF4.Dataset("h1/feature_stats.nc")["hist"][:]
cards = re.findall(r'<div class="feat" id="feature-(\d+)">(.*?)<div class="exs">', html, re.S)
assert len(cards) == 25, len(cards)
for f, body in cards:
    got = [int(c) for c in re.findall(r'\): (\d+)</title></rect>', body)]
    want = [int(c) for c in hist[int(f)] if c > 0]
    assert got == want, (f, got, want)
print(f"histograms of {len(cards)} cards equal feature_stats.nc")
PY

# The same settings from the run's job.ini: [job] keys, the store of the maxact step.
cat >res/job.ini <<INI
[job]
report_features = 3655
neuronpedia_source = gemma-2-9b-it/20-gemmascope-res-16k

[maxact]
command = maxact
store = h1
INI
"$GSAE" report res >/dev/null
grep -qF '<a href="https://www.neuronpedia.org/gemma-2-9b-it/20-gemmascope-res-16k/3655">Feature 3655' "$html" ||
    fail "job.ini: neuronpedia_source"
grep -qF '25 of 30' "$html" || fail "job.ini: report_features"
test "$(grep -c '<figure class="fh">' "$html")" -eq 25 || fail "job.ini: the maxact step's store"
# A job.ini that does not load (a line over 200 bytes) is reported; the report is still written.
{ cat res/job.ini; printf 'long = %0300d\n' 0; } >res/job.ini.new && mv res/job.ini.new res/job.ini
"$GSAE" report res >/dev/null 2>err.txt || fail "a job.ini that does not load stopped the report"
grep -qF 'res/job.ini:' err.txt && grep -qF 'its dashboard settings are not used' err.txt || fail "no warning on job.ini"
if grep -q 'neuronpedia.org' "$html"; then fail "settings used from a job.ini that did not load"; fi
sed -i '/^long = /d' res/job.ini
# The option wins over job.ini.
"$GSAE" report res --features 5 >/dev/null
first=$(ids "$html" | head -1)
[ "$first" = 5 ] || fail "--features does not override report_features ($first)"
# A store named by the job but not there (a relative path from another directory): a note.
printf '[maxact]\nstore = gone\n' >res/job.ini
"$GSAE" report res >/dev/null
grep -qF 'No activation histograms: gone/feature_stats.nc not found' "$html" || fail "no note on a store not found"
rm res/job.ini

# Without maxact_tokens.csv every example falls back to the peak token.
mkdir peak && cp res/maxact.csv peak/
"$GSAE" report peak >/dev/null
grep -qF 'maxact_tokens.csv not found' peak/report.html || fail "no note on the missing per-token file"
if grep -q 'rgba(255,128,0' peak/report.html; then fail "shading without per-token rows"; fi
test "$(count '<mark>' peak/report.html)" -eq 76 || fail "not every example has its peak highlighted"

# More than 10 logit effects per sign: the first 10 of each (largest first) are shown.
mkdir many && cp res/maxact.csv many/
$PY3 - <<'PY'
import csv
with open("many/logit_effects.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["feature", "sign", "rank", "token_id", "text", "value"])
    w.writerows([5, s, k, k, f"{s}{k}", (1 if s == "pos" else -1) * (30 - k)]
                for s in ("pos", "neg") for k in range(30))
PY
"$GSAE" report many >/dev/null
shown=$(awk '/id="feature-5"/,/class="exs"/' many/report.html | { grep -o '<code>[a-z0-9]*</code>' || true; } | tr -d '\n')
want=$(for s in pos neg; do for k in 0 1 2 3 4 5 6 7 8 9; do printf '<code>%s%s</code>' $s $k; done; done)
[ "$shown" = "$want" ] || fail "logit effects shown: $shown"

# Bad settings and files fail, naming what is wrong.
expect_fail() { # expect_fail PATTERN ARGS...: gsae report fails and says PATTERN
    local pat=$1; shift
    if "$GSAE" report "$@" >/dev/null 2>err.txt; then fail "accepted: $*"; fi
    grep -qF -- "$pat" err.txt || { cat err.txt; fail "message for $*"; }
}
expect_fail "neuronpedia source 'x\"><script>': expected MODEL/SAE_SET" res --neuronpedia 'x"><script>'
expect_fail "report features: 'abc' is not a feature number" res --features 3,abc
expect_fail "nowhere/feature_stats.nc: no such file" res --store nowhere
cp -r res bad
printf 'feature,rank,offset,token_id,text\n5,1,0,9,x\n' >bad/maxact_tokens.csv
expect_fail "maxact_tokens.csv: no column 'activation'" bad
printf 'feature,rank,offset,token_id,text,activation\n5,1,zero,9,x,1.0\n' >bad/maxact_tokens.csv
expect_fail "maxact_tokens.csv: row 1: expected numbers in feature, rank, offset and activation" bad
rm bad/maxact_tokens.csv
printf 'feature,sign,rank,token_id,text,value\n5,up,0,9,x,1.0\n' >bad/logit_effects.csv
expect_fail "logit_effects.csv: row 1: expected numbers in feature, rank, a sign pos or neg and value" bad
echo "report dashboard: choice, N of M, shading, escaping, fallback, logit effects, histograms, links, errors OK"
