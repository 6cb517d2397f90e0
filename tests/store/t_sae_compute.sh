#!/usr/bin/env bash
# gsae harvest --sae-compute bf16: the SAE encoder's x W_enc in bf16. The store is the same on
# 1 rank, 1 replica of 3 stages and 3 replicas (each row's bits depend on that row alone), it
# differs from the f32 store only where a pre-activation is within bf16 rounding of its edge;
# with --compute bf16 as well the store is still the same on every layout;
# a resume refuses to mix it with f32 parts, and a bad mode is refused. features takes the
# option too; a job key sae-compute = bf16 equals the flag.
set -euo pipefail
cd "$T"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
common=(--model m --sae sae.npz --layer 2 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
        --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 6 --max-tokens 2000)
"$GSAE" harvest "${common[@]}" --out f32 2>f32.log
"$GSAE" harvest "${common[@]}" --out b1 --sae-compute bf16 2>b1.log
$MPIRUN -np 3 "$GSAE" harvest "${common[@]}" --out b3 --stages 3 --sae-compute bf16 2>/dev/null
$MPIRUN -np 3 "$GSAE" harvest "${common[@]}" --out r3 --stages 1 --sae-compute bf16 2>/dev/null
"$GSAE" store dump f32 >f32.dump
"$GSAE" store dump b1 >b1.dump
for s in b3 r3; do
    "$GSAE" store dump $s | cmp b1.dump - || { echo "FAIL: bf16 store $s differs from 1 rank"; exit 1; }
done
if cmp -s f32.dump b1.dump; then echo "FAIL: --sae-compute bf16 made the f32 store"; exit 1; fi
"$PY3" - <<'PY'
import netCDF4, numpy as np
def acts(d):
    out = {}
    import glob
    for f in sorted(glob.glob(d + "/part-*.nc")):
        p = netCDF4.Dataset(f)
        ix, v = p["sae_index"][:], p["sae_value"][:]
        rp = np.concatenate([[0], np.cumsum(p["sae_row_size"][:].astype(np.int64))])
        base = int(p.first_window) * int(p.context_size)
        for t in range(len(rp) - 1):
            for k in range(rp[t], rp[t + 1]):
                out[(base + t, int(ix[k]))] = float(v[k])
    return out
a, b = acts("f32"), acts("b1")
both = set(a) & set(b)
only = (set(a) | set(b)) - both
jac = len(both) / len(set(a) | set(b))
rel = max(abs(a[k] - b[k]) for k in both) / max(abs(x) for x in a.values())
print(f"ok   f32 vs bf16 SAE encode: {len(a)} / {len(b)} entries, Jaccard {jac:.4f}, "
      f"{len(only)} only in one, max value difference relative to the largest {rel:.2e}")
assert jac > 0.97, jac
assert rel < 2 ** -6, rel
PY
# the model in bf16 too: 1 rank (its threads), 3 stages and 3 replicas (one thread each here)
# give the same store, as oneDNN runs in tiles of a fixed shape, one thread per tile
"$GSAE" harvest "${common[@]}" --out c1 --compute bf16 --sae-compute bf16 2>/dev/null
"$GSAE" store dump c1 >c1.dump
for st in 1 3; do
    $MPIRUN -np 3 "$GSAE" harvest "${common[@]}" --out c3.$st --stages $st --compute bf16 \
        --sae-compute bf16 2>/dev/null
    "$GSAE" store dump c3.$st | cmp c1.dump - ||
        { echo "FAIL: --compute bf16 store on 3 ranks (--stages $st) differs from 1 rank"; exit 1; }
done
# a resume with the other mode is another job
"$GSAE" harvest "${common[@]}" --out b1 2>mix.log && { echo "FAIL: f32 resume of a bf16 store ran"; exit 1; }
grep -q "another job" mix.log || { echo "FAIL: mixed resume: $(cat mix.log)"; exit 1; }
rc=0; "$GSAE" harvest "${common[@]}" --out bad --sae-compute fp8 2>bad.log || rc=$?
[ $rc -eq 2 ] && grep -q "fp8" bad.log || { echo "FAIL: --sae-compute fp8: exit $rc: $(cat bad.log)"; exit 1; }
# job file key equals the flag
cat >h.ini <<INI
[job]
steps = harvest
[harvest]
command = harvest
model = m
sae = sae.npz
layer = 2
tokenizer = $TESTDATA/tokenizer/gemma2-tokenizer.json.zst
corpus = $TESTDATA/pile/*.jsonl.zst
context = 48
windows-per-part = 6
max-tokens = 2000
sae-compute = bf16
out = jb
INI
"$GSAE" harvest --job h.ini 2>jb.log || { cat jb.log; exit 1; }
"$GSAE" store dump jb | cmp b1.dump - || { echo "FAIL: job key sae-compute differs from the flag"; exit 1; }
# features: bf16 changes the values (the option reaches the encoder), the top features stay
for c in f32 bf16; do
    "$GSAE" features --model m --sae sae.npz --layer 2 --prompt-ids 2,100,200,300,400,500,600 \
        --top 8 --sae-compute $c --json feat.$c.json >feat.$c.txt 2>&1 || { cat feat.$c.txt; exit 1; }
done
"$PY3" - <<'PY'
import json
a, b = (json.load(open(f"feat.{c}.json")) for c in ("f32", "bf16"))
ta, tb = ({t["feature"]: t["activation"] for t in x["prompts"][0]["top"]} for x in (a, b))
same = set(ta) & set(tb)
assert len(same) >= 6, (ta, tb)
assert any(ta[f] != tb[f] for f in same), "bf16 gave the f32 activations"
assert all(abs(ta[f] - tb[f]) <= 2 ** -6 * abs(ta[f]) for f in same), (ta, tb)
PY
echo "ok   harvest and features with --sae-compute bf16"
