#!/usr/bin/env bash
# gsae features / steer / ablate on the golden cases, checked against expected.safetensors:
#   features: the final token's top features and the --all-positions CSV equal sae.acts
#   steer:    each strength's tokens equal steer.<S>; a batch of strengths equals each alone
#   ablate:   the logits predicting the first answer token equal logits[T-1] (clean) and
#             ablate.noerr.logits[T-1] / ablate.err.logits[T-1] (ablated)
# One case also runs under mpirun with 2 ranks and must print the same.
set -u
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
cd "$T"
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

for case in "$TESTDATA"/gemma2/*/; do
    name=$(basename "$case")
    eval "$("$PY3" - "$case" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1] + "/../../../golden")
import compare
c = sys.argv[1]
m = json.load(open(c + "/meta.json")); e = compare.read_safetensors(c + "/expected.safetensors")
print("IDS=" + ",".join(map(str, e["tokens"].tolist())))
print("SAE=%s/%s LAYER=%d" % (c, m["sae"]["path"], m["sae"]["layer"]))
st = m["steer"]
print("FEAT=%d MAXACT=%r NNEW=%d STRENGTHS=%s" % (st["feature"], st["max_act"], st["n_new"],
      ",".join(repr(s) for s in st["strengths"])))
a = m["ablate"]["feature"]
print("AFEAT=" + (",".join(map(str, a)) if isinstance(a, list) else str(a)))
print("ANS=%d" % e["greedy"][0])
PY
)"
    common=(--model "$case" --sae "$SAE" --layer "$LAYER" --prompt-ids "$IDS")
    "$GSAE" features "${common[@]}" --top 10 --json "$name.features.json" \
        --all-positions "$name.features.csv" >"$name.features.txt" 2>&1 || fail "$name: features: $(cat "$name.features.txt")"
    "$GSAE" steer "${common[@]}" --feature "$FEAT" --max-act "$MAXACT" --strengths "$STRENGTHS" \
        --max-new "$NNEW" --json "$name.steer.json" >"$name.steer.txt" 2>&1 || fail "$name: steer: $(cat "$name.steer.txt")"
    for et in "" --error-term; do
        "$GSAE" ablate "${common[@]}" --feature "$AFEAT" $et --answer-ids "$ANS" --top 10 \
            --json "$name.ablate$et.json" >"$name.ablate$et.txt" 2>&1 || fail "$name: ablate $et: $(cat "$name.ablate$et.txt")"
    done
    "$PY3" - "$case" "$name" <<'PY' || fail "$name: outputs differ from expected.safetensors"
import csv, json, sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/../../../golden")
import compare
c, name = sys.argv[1:3]
m = json.load(open(c + "/meta.json")); e = compare.read_safetensors(c + "/expected.safetensors")
rtol, atol = m["tolerance"]["rtol"], m["tolerance"]["atol"]
ok = True
def close(a, b):
    return np.all(np.abs(np.asarray(a, float) - np.asarray(b, float)) <= atol + rtol * np.abs(np.asarray(b, float)))
# features: top list against the final row of sae.acts (order may swap only within tolerance)
acts = e["sae.acts"]; f = json.load(open(name + ".features.json"))
top = f["prompts"][0]["top"]; last = acts[-1]
want = np.argsort(-last, kind="stable")[:len(top)]
got_vals = [t["activation"] for t in top]
if not close(got_vals, last[want]) or not close(last[[t["feature"] for t in top]], got_vals):
    print("features: top list differs", top[:3], want[:3]); ok = False
if f["prompts"][0]["n_active"] != int((last > 0).sum()):
    print("features: n_active", f["prompts"][0]["n_active"], int((last > 0).sum())); ok = False
dense = np.zeros_like(acts)
for r in csv.DictReader(open(name + ".features.csv")):
    dense[int(r["position"]), int(r["feature"])] = float(r["activation"])
if not close(dense, acts):
    print("features: --all-positions differs from sae.acts"); ok = False
# steer
s = json.load(open(name + ".steer.json"))
for run in s["runs"]:
    key = "steer.%+.1f" % run["strength"]
    if run["tokens"] != e[key].tolist():
        print("steer:", key, run["tokens"], e[key].tolist()); ok = False
# ablate: the row predicting the first answer token is the prompt's last row
for et, key in (("", "ablate.noerr.logits"), ("--error-term", "ablate.err.logits")):
    a = json.load(open(name + ".ablate" + et + ".json"))["conditions"][0]["answer"][0]
    for side, ref in (("clean", e["logits"][-1]), ("ablated", e[key][-1])):
        toks = [t["token"] for t in a[side]["top"]]
        vals = [t["logit"] for t in a[side]["top"]]
        if not close(vals, ref[toks]) or not close(vals, np.sort(ref)[::-1][:len(vals)]):
            print("ablate", et, side, "top logits differ"); ok = False
        if not close([a[side]["logit"]], [ref[a["token"]]]):
            print("ablate", et, side, "answer logit differs"); ok = False
print(name, "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
done

# the same under two ranks (pipeline of two stages)
case="$TESTDATA/gemma2/tiny-mqa-bf16"
IDS=$("$PY3" -c "
import sys; sys.path.insert(0, '$TOP/tests/golden'); import compare
print(','.join(map(str, compare.read_safetensors('$case/expected.safetensors')['tokens'].tolist())))")
for np_ in 1 2; do
    $MPIRUN -np $np_ "$GSAE" steer --model "$case" --sae "$case/sae/params.npz" --layer 1 \
        --prompt-ids "$IDS" --feature 70 --max-act 15.3 --max-new 6 >"steer.np$np_" 2>&1 \
        || fail "steer -np $np_: $(cat "steer.np$np_")"
    $MPIRUN -np $np_ "$GSAE" features --model "$case" --sae "$case/sae/params.npz" --layer 1 \
        --prompt-ids "$IDS" >"features.np$np_" 2>&1 || fail "features -np $np_: $(cat "features.np$np_")"
done
cmp -s steer.np1 steer.np2 || fail "steer output differs between 1 and 2 ranks"
# all strengths of a prompt run as one batch of rows; each must equal that strength run alone
# (greedy and sampled, on 1 and 2 ranks)
for np_ in 1 2; do
    for tmp in 0 1.5; do
        sflags=(--model "$case" --sae "$case/sae/params.npz" --layer 1 --prompt-ids "$IDS"
                --feature 70 --max-act 15.3 --max-new 8 --temperature "$tmp" --seed 7)
        $MPIRUN -np $np_ "$GSAE" steer "${sflags[@]}" --strengths -2,-1,0,0.5,1,2 \
            --json "batch.$np_.$tmp.json" >/dev/null 2>&1 || fail "steer batch -np $np_ t=$tmp"
        for st in -2 -1 0 0.5 1 2; do
            $MPIRUN -np $np_ "$GSAE" steer "${sflags[@]}" --strengths "$st" \
                --json "one.$np_.$tmp.$st.json" >/dev/null 2>&1 || fail "steer $st -np $np_ t=$tmp"
        done
        "$PY3" - "$np_" "$tmp" <<'PY' || fail "batched strengths differ from one at a time (-np $np_, t=$tmp)"
import json, sys
np_, tmp = sys.argv[1:3]
runs = json.load(open("batch.%s.%s.json" % (np_, tmp)))["runs"]
assert len(runs) == 6, runs
for r in runs:
    s = r["strength"]
    one = json.load(open("one.%s.%s.%s.json" % (np_, tmp, "%g" % s)))["runs"]
    assert len(one) == 1 and one[0]["tokens"] == r["tokens"], (s, one[0]["tokens"], r["tokens"])
print("batched strengths equal one at a time")
PY
    done
done
# a SAELens SAE, its layer taken from cfg.json on every rank (only the owner reads the weights)
lens="$TESTDATA/gemma2/tiny-mha-f32-sharded"
for np_ in 1 2; do
    $MPIRUN -np $np_ "$GSAE" features --model "$lens" --sae "$lens/sae" --prompt-ids 2,5,6,7 \
        >"lens.np$np_" 2>"lens.err$np_" || fail "features on SAELens -np $np_: $(cat "lens.err$np_")"
done
grep -q "resid_post.2 (d_sae 96)" lens.np1 || fail "SAELens layer/d_sae: $(cat lens.np1)"
# stdout compared exactly; the model-name warning goes to stderr from whichever rank owns the SAE
cmp -s lens.np1 lens.np2 || fail "SAELens features differ between 1 and 2 ranks"
grep -q "trained on model 'tiny-gemma2'" lens.err2 || fail "no model-name warning on 2 ranks"
cmp -s features.np1 features.np2 || fail "features output differs between 1 and 2 ranks"

# the job-file spellings on a tiny model with the real tokenizer's vocabulary: ARC tasks by id
TK="$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
"$GSAE" mkmodel m --preset tiny --layers 3 --seed 1 >/dev/null || fail "mkmodel"
"$GSAE" mksae m.sae --model m --layer 1 --d-sae 128 --layout saelens --calib-tokens 32 >/dev/null || fail "mksae"
job=(--model m --sae m.sae --tokenizer "$TK" --layer 1 --stages auto --arc "$TESTDATA/arc")
"$GSAE" features "${job[@]}" --prompts e9afcf9a,c9e6f938 --top 3 --json f.json \
    --all-positions f.csv >f.txt 2>&1 || fail "features --prompts: $(cat f.txt)"
"$GSAE" steer "${job[@]}" --prompts e9afcf9a,c9e6f938 --feature 3 --max-act 10 \
    --strengths -1,1 --max-new-tokens 3 --greedy --out steer.csv >s.txt 2>&1 || fail "steer --prompts: $(cat s.txt)"
mkdir -p abl
"$GSAE" ablate "${job[@]}" --prompt e9afcf9a --feature 3 --answer $'5\nnp.array([[6, 2]])' \
    --error-term without,with --top-k 4 --out abl >a.txt 2>&1 || fail "ablate --out: $(cat a.txt)"
"$PY3" - <<'PY' || fail "job-file outputs"
import csv, json
f = json.load(open("f.json"))
assert [p["prompt"] for p in f["prompts"]] == ["e9afcf9a", "c9e6f938"], f["prompts"]
assert {r["prompt"] for r in csv.DictReader(open("f.csv"))} == {"e9afcf9a", "c9e6f938"}
rows = list(csv.DictReader(open("steer.csv")))
assert [(r["prompt"], float(r["strength"])) for r in rows] == [
    ("e9afcf9a", -1), ("e9afcf9a", 1), ("c9e6f938", -1), ("c9e6f938", 1)], rows
assert all(r["feature"] == "3" for r in rows)
top = list(csv.DictReader(open("abl/ablate_topk.csv")))
assert [r["condition"] for r in top] == ["baseline"] * 4 + ["ablate 3"] * 4 + ["ablate 3 + error"] * 4
lp = list(csv.DictReader(open("abl/table_answer_logprob.csv")))
assert [r["condition"] for r in lp] == ["baseline", "ablate 3", "ablate 3 + error"]
assert all(float(r["logprob"]) < 0 for r in lp)
print("job-file spellings ok")
PY

# with the error term, ablating a feature that is active nowhere leaves every logit bit for bit
# as it was (the SAE in the loop changes nothing)
"$GSAE" features --model m --sae m.sae --layer 1 --prompt-ids 2,100,200,300,400 \
    --all-positions idle.csv >idle.txt 2>&1 || fail "features for the idle test: $(cat idle.txt)"
idle=$("$PY3" -c "
import csv
seen = {int(r['feature']) for r in csv.DictReader(open('idle.csv'))}
print(min(set(range(128)) - seen))")
"$GSAE" ablate --model m --sae m.sae --layer 1 --prompt-ids 2,100,200,300,400 \
    --feature "$idle" --error-term --answer-ids 5,6,7 --top 5 --json idle.json >idle.txt 2>&1 \
    || fail "ablate idle feature: $(cat idle.txt)"
"$PY3" - <<'PY' || fail "error term with an idle feature changed the logits"
import json
for row in json.load(open("idle.json"))["conditions"][0]["answer"]:
    assert row["clean"] == row["ablated"], (row["clean"], row["ablated"])
print("idle feature with the error term: logits identical")
PY

# bad input: a feature outside the SAE is one line naming it, exit 1
out=$("$GSAE" steer --model "$case" --sae "$case/sae/params.npz" --layer 1 --prompt-ids 2,5 \
      --feature 100000 --max-act 1 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "feature 100000" || fail "bad feature: exit $rc: $out"
echo "$fails failures"
[ $fails -eq 0 ]
