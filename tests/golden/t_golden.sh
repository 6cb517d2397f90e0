#!/usr/bin/env bash
# Every golden case in tests/data/gemma2/: `gsae golden CASE OUT`, then compare OUT with the
# case's expected.safetensors under meta.json's tolerance (tests/golden/compare.py). Every
# expected tensor must be computed, except those tests/golden/not_computed.sh names as not yet
# computed (listed as skipped); fails on any mismatch or missing tensor.
set -u
source "$TOP/tests/golden/not_computed.sh"
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
# gsae golden initialises MPI: under ASan, unwind malloc stacks fully so the MPI leak
# suppressions in tests/lsan.supp can match the library frames.
[ -n "${GSAE_SAN:-}" ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
echo "not computed yet, skipped where absent: ${GOLDEN_NOT_COMPUTED[*]:-(none)}"
status=0 n=0
for case in "$TESTDATA"/gemma2/*/; do
    [ -f "$case/expected.safetensors" ] || continue
    name=$(basename "$case") n=$((n + 1))
    echo "== $name"
    if ! "$GSAE" golden "$case" "$T/$name.safetensors" 2>"$T/$name.err"; then
        cat "$T/$name.err"; echo "FAIL $name: gsae golden failed"; status=1; continue
    fi
    "$PY3" "$TOP/tests/golden/compare.py" "${GOLDEN_NOT_COMPUTED_ARGS[@]}" \
        "$case/expected.safetensors" "$T/$name.safetensors" "$case/meta.json" || { echo "FAIL $name"; status=1; }
done
[ $n -gt 0 ] || { echo "FAIL: no golden cases under $TESTDATA/gemma2"; exit 1; }
# A case whose prompt lacks `tokens` must fail with a message naming the file.
mkdir -p "$T/bad" && cp "$TESTDATA"/gemma2/tiny-mqa-bf16/{config.json,meta.json,model.safetensors} "$T/bad/"
"$PY3" - "$T/bad/expected.safetensors" <<'PY'
import json, struct, sys
h = json.dumps({"embed": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"\0" * 4)
PY
if "$GSAE" golden "$T/bad" "$T/bad.out" 2>"$T/bad.err"; then
    echo "FAIL: golden without tokens succeeded"; status=1
elif ! grep -q "expected.safetensors: no tensor 'tokens'" "$T/bad.err"; then
    echo "FAIL: unexpected message:"; cat "$T/bad.err"; status=1
fi
exit $status
