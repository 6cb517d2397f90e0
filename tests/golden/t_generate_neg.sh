#!/usr/bin/env bash
# tests/golden/t_generate.sh fails when the two sides it compares are both empty: run it on a
# copy of the test data whose golden case has no `greedy` tensor, then a zero-length one.
set -u
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
cd "$T"
c=tiny-gqa-bf16 fails=0
for variant in absent empty; do
    d="$T/$variant/gemma2/$c"
    mkdir -p "$d" && ln -s "$TESTDATA/gemma2/$c"/* "$d/" && rm "$d/expected.safetensors"
    # expected.safetensors with `greedy` removed or of length 0, the other tensors as they are
    "$PY3" - "$TESTDATA/gemma2/$c/expected.safetensors" "$d/expected.safetensors" "$variant" <<'PY'
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
hdr = json.loads(blob[8:8 + n])
if sys.argv[3] == "absent":
    del hdr["greedy"]
else:
    hdr["greedy"]["shape"] = [0]
    hdr["greedy"]["data_offsets"] = [0, 0]
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + blob[8 + n:])
PY
    rc=0; TESTDATA="$T/$variant" bash "$TOP/tests/golden/t_generate.sh" >"$variant.txt" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        cat "$variant.txt"; echo "FAIL: t_generate.sh passed with greedy $variant"; fails=$((fails + 1))
    elif ! grep -q "FAIL $c: no prompt or greedy tokens" "$variant.txt"; then
        cat "$variant.txt"; echo "FAIL: greedy $variant: not reported"; fails=$((fails + 1))
    else
        echo "ok   greedy $variant: exit $rc, $(grep -m1 "^FAIL" "$variant.txt")"
    fi
done
[ "$fails" -eq 0 ]
