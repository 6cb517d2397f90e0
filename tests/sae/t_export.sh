#!/usr/bin/env bash
# gsae export in both formats, and maxact's --tokens-out / --logits-out, on a store harvested
# from a tiny random Gemma-2 and SAE: the output validates against the JSON schemas written
# from SAEDashboard's and Neuronpedia's formats (tests/data/schema), every example's values
# over its whole window equal the store's CSR rows, the peak equals feature_stats.nc's
# top_value, density and histogram equal feature_stats.nc, and the logit effects equal numpy's
# from the checkpoint and the SAE (export_check.py). Each check is then shown to fail on an
# output broken on purpose. Invalid UTF-8 in token strings becomes U+FFFD; `gsae run` runs an
# export step.
set -euo pipefail
"$PY3" -c 'import numpy, netCDF4, jsonschema' 2>/dev/null ||
    { echo "skip: $PY3 without numpy, netCDF4 or jsonschema"; exit 77; }
cd "$T"
TK="$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
SCHEMA="$TESTDATA/schema"
CHECK="$TOP/tests/sae/export_check.py"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
"$GSAE" harvest --model m --sae sae.npz --layer 2 --tokenizer "$TK" --corpus "$TESTDATA/pile/*.jsonl.zst" \
    --context 48 --windows-per-part 6 --max-tokens 4000 --out st 2>/dev/null
# the five features that fired most, one that never fired (if any); two batches
feats=$("$PY3" -c '
import netCDF4, numpy as np
d = netCDF4.Dataset("st/feature_stats.nc"); n = d["n_examples"][:]
fired = [int(f) for f in np.argsort(-d["fire_count"][:], kind="stable")[:5]]
dead = [int(f) for f in np.nonzero(n == 0)[0][:1]]
print(",".join(map(str, sorted(set(fired + dead)))))')
echo "features: $feats"
common=(--store st --sae sae.npz --model m --features "$feats" --top 6 --logits 8 --tokenizer "$TK")
"$GSAE" export "${common[@]}" --format saedashboard --out sd --batch-size 4
test -f sd/batch-0.json && test -f sd/batch-1.json
"$GSAE" export "${common[@]}" --format neuronpedia --out np --model-id gemma-2-tiny --source-id 2-gsae-res-400
test -f np/gemma-2-tiny/2-gsae-res-400/features/batch-0.jsonl
test -f np/gemma-2-tiny/2-gsae-res-400/activations/batch-0.jsonl
"$GSAE" maxact st --feature "$feats" --top 6 --context 5 --tokenizer "$TK" --out ma.csv \
    --tokens-out tok.csv --model m --sae sae.npz --logits-out lg.csv --logits 8 >/dev/null
head -1 tok.csv | grep -qx 'feature,rank,offset,token_id,text,activation'
head -1 lg.csv | grep -qx 'feature,sign,rank,token_id,text,value'
"$PY3" "$CHECK" saedashboard sd st m sae.npz "$SCHEMA"
"$PY3" "$CHECK" neuronpedia np st m sae.npz "$SCHEMA" tok.csv lg.csv

# each check fails on a broken output: (file, python edit of the parsed JSON / CSV rows, check)
broken() { # broken NAME CHECK DIR/FILE PYTHON: copy the output, apply the edit, expect "FAIL CHECK"
    local name=$1 check=$2 file=$3 edit=$4 fmt args=()
    case $file in sd/*) fmt=saedashboard src=sd ;; np/*) fmt=neuronpedia src=np ;;
                  *) fmt=neuronpedia src=np ;; esac
    rm -rf "b_$name" && mkdir "b_$name" && cp -r "$src" "b_$name/" && cp tok.csv lg.csv "b_$name/"
    "$PY3" - "b_$name/$file" "$edit" <<'PY'
import csv, json, sys
path, edit = sys.argv[1], sys.argv[2]
if path.endswith(".csv"):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    exec(edit)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
elif path.endswith(".jsonl"):
    with open(path) as f:
        recs = [json.loads(l) for l in f]
    exec(edit)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
else:
    with open(path) as f:
        doc = json.load(f)
    exec(edit)
    with open(path, "w") as f:
        json.dump(doc, f)
PY
    [ "$fmt" = neuronpedia ] && args=("b_$name/tok.csv" "b_$name/lg.csv")
    if out=$("$PY3" "$CHECK" "$fmt" "b_$name/$src" st m sae.npz "$SCHEMA" "${args[@]}"); then
        echo "broken $name: the check passed"; exit 1
    fi
    grep -q "^FAIL $check" <<<"$out" || { echo "broken $name: wanted FAIL $check, got: $out"; exit 1; }
    echo "broken $name: $out"
}
A=np/gemma-2-tiny/2-gsae-res-400/activations/batch-0.jsonl
F=np/gemma-2-tiny/2-gsae-res-400/features/batch-0.jsonl
broken sd-missing-key schema sd/batch-0.json 'del doc["features"][0]["pos_str"]'
broken sd-extra-key schema sd/batch-0.json 'doc["features"][0]["activations"][0]["peak"] = 1'
broken np-no-maxindex schema $A 'del recs[0]["maxValueTokenIndex"]'
broken np-string-value schema $A 'recs[0]["values"][0] = "0.5"'
broken np-feature-type schema $F 'recs[0]["index"] = "7"'
broken np-maxvalue record $A 'recs[0]["maxValue"] += 1'
broken sd-peak peak sd/batch-0.json 'a = doc["features"][0]["activations"][0]; a["values"][a["qualifying_token_index"]] *= 1.001'
broken np-peak-index peak $A 'recs[0]["qualifyingTokenIndex"] += 1'
broken sd-window window sd/batch-0.json 'a = doc["features"][0]["activations"][0]; a["values"].pop(); a["tokens"].pop()'
broken np-window-value window $A 'v = recs[0]["values"]; i = min(range(len(v)), key=lambda i: v[i]); v[i] = v[i] + 1e-3; recs[0]["minValue"] = min(v)'
broken sd-density density sd/batch-0.json 'doc["features"][0]["frac_nonzero"] *= 1.5'
broken np-histogram histogram $F 'recs[0]["freq_hist_data_bar_heights"][30] += 1'
broken sd-logit logits sd/batch-0.json 'doc["features"][0]["pos_values"][2] *= 1.0001'
broken np-logit-order logits $F 'v = recs[0]["neg_values"]; v[0], v[1] = v[1], v[0]'
broken tokens-csv tokens-csv tok.csv 'rows[1][5] = str(float(rows[1][5]) + 0.5)'
broken tokens-csv-peak tokens-csv tok.csv 'i = next(i for i, r in enumerate(rows) if r[2] == "0"); rows[i][5] = str(float(rows[i][5]) * 1.01)'
broken logits-csv-id logits-csv lg.csv 'rows[1][3] = str(int(rows[1][3]) + 1)'

# every file is strict UTF-8 (invalid sequences in token strings become U+FFFD: test_utf8)
"$PY3" -c '
import glob, json
for p in glob.glob("sd/batch-*.json") + glob.glob("np/*/*/*/batch-*.jsonl"):
    open(p, "rb").read().decode("utf-8", errors="strict")
print("utf-8 ok")'

# usage errors
if "$GSAE" export --store st --sae sae.npz --model m --format csv --all --out x 2>err.txt; then exit 1; fi
grep -q "expected saedashboard or neuronpedia" err.txt
if "$GSAE" export --store st --sae sae.npz --model m --format neuronpedia --out x 2>err.txt; then exit 1; fi
grep -q "one of --features or --all" err.txt
if "$GSAE" export --store st --sae sae.npz --model m --format neuronpedia --features 400 --out x 2>err.txt; then exit 1; fi
grep -q "is not in 0..399" err.txt
if "$GSAE" maxact st --feature 1 --model m 2>err.txt; then exit 1; fi
grep -q "used only with --logits-out" err.txt
if "$GSAE" maxact st --feature 1 --model m --logits-out x.csv 2>err.txt; then exit 1; fi
grep -q "needs --model and --sae" err.txt
"$GSAE" export --help | grep -q "^usage: gsae export"
"$GSAE" --help | grep -q "^  export "

# as a job step
cat >ex.ini <<INI
[job]
steps = export
[export]
command = export
store = $T/st
sae = $T/sae.npz
model = $T/m
tokenizer = $TK
format = neuronpedia
features = 1-3
top = 2
out = \${job.out}/export
INI
"$GSAE" run --job ex.ini --out runout >run.log 2>&1 || { cat run.log; exit 1; }
ls runout/export/m/*/features/batch-0.jsonl >/dev/null
echo "t_export: ok"
