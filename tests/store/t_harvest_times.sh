#!/usr/bin/env bash
# gsae harvest's summary accounts for the writer's whole wall time: the shares (model forward,
# SAE encode, waiting on other stages, store write, commit+fsync, manifest, statistics,
# corpus+tokenizer, other) are each >= 0 and add up to 100% (to the print's rounding), on 1
# rank, 1 replica of 3 stages and 2 replicas. The progress line's fraction and ETA count
# towards --max-tokens, not the corpus. Structure only: no wall-clock thresholds.
set -euo pipefail
cd "$T"
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null
common=(--model m --sae sae.npz --layer 2 --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst"
        --corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 6 --max-tokens 4000)
check() { # check LOG: the shares line is complete, non-negative, and sums to 100%
    "$PY3" - "$1" <<'PY'
import re, sys
line = [l for l in open(sys.argv[1]) if l.startswith("harvest: time on rank")]
assert len(line) == 1, "no time summary"
names = ["model forward", "SAE encode", "waiting on other stages", "store write", "commit+fsync",
         "manifest", "statistics", "corpus+tokenizer", "other"]
shares = {}
for n in names:
    m = re.search(re.escape(n) + r" (-?[0-9.]+)%", line[0])
    assert m, "missing share: " + n
    shares[n] = float(m.group(1))
bad = {n: v for n, v in shares.items() if v < 0}
assert not bad, "negative shares: %s" % bad
total = sum(shares.values())
assert abs(total - 100.0) <= 0.05 * len(names), "shares add up to %.1f%%" % total
print("shares add up to %.1f%%: %s" % (total, line[0].split(": ", 2)[2].strip()))
PY
}
# the checker rejects a negative share and shares that do not cover the wall time
echo "harvest: time on rank 0 (x), shares of its 1 s: model forward -15.7%, SAE encode 10.0%, waiting on other stages 0.0%, store write 5.0%, commit+fsync 0.0%, manifest 0.0%, statistics 0.0%, corpus+tokenizer 0.7%, other 100.0%" >neg.log
echo "harvest: time on rank 0 (x), shares of its 1 s: model forward 80.0%, SAE encode 5.0%, waiting on other stages 0.0%, store write 0.0%, commit+fsync 0.0%, manifest 0.0%, statistics 0.0%, corpus+tokenizer 0.0%, other 0.0%" >short.log
for bad in neg short; do
    if check $bad.log 2>/dev/null; then echo "the checker accepted $bad.log"; exit 1; fi
done

"$GSAE" harvest "${common[@]}" --out h1 2>h1.log
check h1.log
$MPIRUN -np 3 "$GSAE" harvest "${common[@]}" --out s3 --stages 3 2>s3.log
check s3.log
grep -q "^harvest: time on rank 2 (replica 0's writer)" s3.log
$MPIRUN -np 2 "$GSAE" harvest "${common[@]}" --out r2 --stages 1 2>r2.log
check r2.log

# progress: the fraction is of --max-tokens (4000 -> 84 windows of 48 = 4032 tokens), with an ETA
"$PY3" - h1.log <<'PY'
import re, sys
lines = [l for l in open(sys.argv[1]) if re.match(r"harvest: tokens \d+", l)]
assert lines, "no progress line"
for l in lines:
    m = re.match(r"harvest: tokens (\d+)\s+(\d+) tok/s .* max-tokens ([0-9.]+)%\s+elapsed \S+\s+ETA (\S+)", l)
    assert m, "progress line without tok/s, max-tokens fraction or ETA: " + l
    tokens, pct, eta = int(m.group(1)), float(m.group(3)), m.group(4)
    assert abs(pct - 100.0 * tokens / 4032) < 0.06, (tokens, pct)
    assert eta != "?", l
print("progress: " + lines[0].strip())
PY
echo "harvest times: shares cover the wall time on 1, 1x3 and 2x1 ranks; ETA towards --max-tokens"
