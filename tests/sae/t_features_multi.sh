#!/usr/bin/env bash
# gsae features with two SAEs (--sae twice, layers 1 and 2 from the SAELens files) prints, per
# hook, exactly what a run with that SAE alone prints, on 1 rank and on 2 ranks as 2 stages; the
# JSON lists the hooks. Negative check: the two hooks' reports differ.
set -euo pipefail
cd "$T"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
for L in 1 2; do
    "$GSAE" mksae "s$L" --model m --d-sae 128 --layer $L --layout saelens --seed $L --density 0.05 >/dev/null
done
a=(--model m --prompt-ids 2,5,77,901,33,12 --top 5)
"$GSAE" features "${a[@]}" --sae s1 >one1.txt
"$GSAE" features "${a[@]}" --sae s2 >one2.txt
if cmp -s one1.txt one2.txt; then echo "FAIL: layers 1 and 2 report the same: the check cannot fail"; exit 1; fi
"$GSAE" features "${a[@]}" --sae s1 --sae s2 --json m.json >m1.txt
cat one1.txt one2.txt | cmp - m1.txt || { echo "FAIL: -np 1 per-hook reports differ"; exit 1; }
$MPIRUN -np 2 "$GSAE" features "${a[@]}" --sae s1 --sae s2 --stages 2 >m2.txt 2>/dev/null
cmp m1.txt m2.txt || { echo "FAIL: 2 stages differ from 1 rank"; exit 1; }
"$PY3" - m.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert [h["layer"] for h in d["hooks"]] == [1, 2] and all(h["d_sae"] == 128 for h in d["hooks"]), d
PY
echo "features: two SAEs in one run report as one run per SAE (1 rank, 2 stages)"
