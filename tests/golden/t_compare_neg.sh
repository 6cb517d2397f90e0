#!/usr/bin/env bash
# tests/golden/compare.py fails on what it must catch. From one real `gsae golden` output,
# variants that each break one thing: a required tensor missing, a float value and an integer
# value off, a tensor the expected file lacks, an output with nothing in it. The exemption for
# tensors not computed yet (tests/golden/not_computed.sh) skips only absent tensors whose
# names it matches; several globs work together; a matching tensor that is present is
# still compared, and a wrong one still fails.
set -u
[ -x "$PY3" ] && "$PY3" -c 'import numpy' 2>/dev/null || { echo "skip: $PY3 with numpy not found"; exit 77; }
source "$TOP/tests/golden/not_computed.sh"
cd "$T"
case="$TESTDATA/gemma2/tiny-mqa-bf16"
exp="$case/expected.safetensors" meta="$case/meta.json"
"$GSAE" golden "$case" good.safetensors 2>golden.err || { cat golden.err; echo "FAIL: gsae golden"; exit 1; }
fails=0

# edit IN OUT OP...: rewrite a safetensors file, tensor bytes as they are, with each OP applied:
#   drop:NAME   remove NAME          bump:NAME   add 1 to NAME's first element (F32 or I32)
#   add:NAME=FILE   append NAME from FILE          copy:NEW=NAME   append NAME's bytes as NEW
edit() {
    "$PY3" - "$@" <<'PY'
import json, struct, sys
import numpy as np

def load(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    hdr = json.loads(blob[8:8 + n])
    hdr.pop("__metadata__", None)
    return {k: (e["dtype"], e["shape"], blob[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]])
            for k, e in hdr.items()}

src, dst, ops = sys.argv[1], sys.argv[2], sys.argv[3:]
t = load(src)
for op in ops:
    kind, arg = op.split(":", 1)
    if kind == "drop":
        del t[arg]
    elif kind == "bump":
        dt, shape, raw = t[arg]
        a = np.frombuffer(raw, dtype={"F32": "<f4", "I32": "<i4"}[dt]).copy()
        a[0] += 1
        t[arg] = (dt, shape, a.tobytes())
    elif kind == "copy":
        new, name = arg.split("=", 1)
        t[new] = t[name]
    elif kind == "add":
        name, path = arg.split("=", 1)
        t[name] = load(path)[name]
hdr, off = {}, 0
for k, (dt, shape, raw) in t.items():
    hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
    off += len(raw)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(raw for _, _, raw in t.values()))
PY
}

# check LABEL FILE WANT_RC GREP [compare.py options...]: compare FILE.safetensors with the
# case's expected file; the exit status must be WANT_RC and the output must contain GREP.
check() {
    local name=$1 file=$2 want=$3 pat=$4; shift 4
    local rc=0
    "$PY3" "$TOP/tests/golden/compare.py" "$@" "$exp" "$file.safetensors" "$meta" >"$name.txt" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$name.txt"; echo "FAIL $name: exit $rc, expected $want"; fails=$((fails + 1))
    elif ! grep -qF -- "$pat" "$name.txt"; then
        cat "$name.txt"; echo "FAIL $name: output lacks '$pat'"; fails=$((fails + 1))
    else
        echo "ok   $name: exit $rc, $(grep -m1 -F -- "$pat" "$name.txt" | sed 's/^ *//')"
    fi
}

# The real output passes with the suite's exemptions (none today) and compares every tensor.
check good good 0 " 0 skipped as not computed" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
# Without the attribution tensors it fails unless they are named not computed ...
attrib_drops=(); for n in metric grad features error; do
    for m in logit_diff answer_logprob; do attrib_drops+=("drop:attrib.$m.$n"); done
done
edit good.safetensors no_attrib.safetensors "${attrib_drops[@]}"
check no_exemption no_attrib 1 "FAIL attrib.logit_diff.metric: expected, but not in the output"
check no_attrib_named no_attrib 0 "skipped: not computed  attrib.logit_diff.metric" --not-computed 'attrib.*'
# ... and a wrong attribution value fails under meta.json's attribute tolerance.
edit good.safetensors bad_attrib.safetensors bump:attrib.answer_logprob.grad
check bad_attrib bad_attrib 1 "FAIL attrib.answer_logprob.grad" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
# A required tensor missing.
edit good.safetensors no_logits.safetensors drop:logits
check no_logits no_logits 1 "FAIL logits: expected, but not in the output" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
# Wrong values: one float element off by 1 (atol is 0.002), one token id off.
edit good.safetensors bad_acts.safetensors bump:sae.acts
check bad_acts bad_acts 1 "FAIL sae.acts" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
edit good.safetensors bad_greedy.safetensors bump:greedy
check bad_greedy bad_greedy 1 "FAIL greedy                   int, 1 of 8 differ" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
# A tensor the expected file does not have.
edit good.safetensors extra.safetensors copy:extra.thing=tokens
check extra extra 1 "FAIL extra.thing: not in the expected file" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
# Several globs: the steering outputs named not computed as well; dropping them then passes,
# and the summary counts both kinds skipped.
edit good.safetensors no_steer.safetensors drop:steer.-2.0 drop:steer.-1.0 drop:steer.+0.0 \
    drop:steer.+1.0 drop:steer.+2.0
check no_steer no_steer 0 "5 skipped as not computed" "${GOLDEN_NOT_COMPUTED_ARGS[@]}" --not-computed 'steer.*' --not-computed 'nothing.*'
check no_steer_not_named no_steer 1 "FAIL steer.+0.0: expected, but not in the output" "${GOLDEN_NOT_COMPUTED_ARGS[@]}"
# A glob that matches a tensor the output has does not hide it: a wrong one still fails.
check bad_acts_named bad_acts 1 "FAIL sae.acts" "${GOLDEN_NOT_COMPUTED_ARGS[@]}" --not-computed 'sae.*'
# When the exempted tensors appear (here: copied from the expected file), they are compared
# and compare.py says the exemption can go.
ops=(); for n in metric grad features error; do
    for m in logit_diff answer_logprob; do ops+=("add:attrib.$m.$n=$exp"); done
done
edit no_attrib.safetensors with_attrib.safetensors "${ops[@]}"
check with_attrib with_attrib 0 "the exemption can go" --not-computed 'attrib.*'
# An output with no tensors at all fails, even if every name is exempt.
edit good.safetensors empty.safetensors $(printf 'drop:%s ' $("$PY3" -c "
import sys; sys.path.insert(0, '$TOP/tests/golden'); from compare import read_safetensors
print(' '.join(read_safetensors('good.safetensors')))"))
check empty empty 1 "FAIL: nothing compared" --not-computed '*'

echo "$fails failures"
[ "$fails" -eq 0 ]
