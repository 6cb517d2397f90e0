#!/usr/bin/env bash
# gsae mkmodel: deterministic from the seed, the same weights whatever the sharding or dtype,
# sane scales, a loadable HF layout, bounded memory at real sizes, and clear usage errors.
set -u
cd "$T"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mk() { "$GSAE" mkmodel "$@" >/dev/null 2>err || { fail "mkmodel $*: $(cat err)"; }; }
mk a --preset tiny --vocab 512 --layers 2 --seed 3
mk b --preset tiny --vocab 512 --layers 2 --seed 3
mk c --preset tiny --vocab 512 --layers 2 --seed 4
mk s --preset tiny --vocab 512 --layers 3 --seed 3 --shards 4
mk f --preset tiny --vocab 512 --layers 2 --seed 3 --dtype f32

cmp -s a/model.safetensors b/model.safetensors || fail "same seed, different bytes"
cmp -s a/config.json b/config.json || fail "same arguments, different config.json"
cmp -s a/model.safetensors c/model.safetensors && fail "different seeds, same bytes"
[ "$(ls s/model-0000?-of-00004.safetensors | wc -l)" = 4 ] || fail "--shards 4 did not write 4 shards"
for d in a s f; do "$GSAE" inspect $d >/dev/null 2>err || fail "inspect $d: $(cat err)"; done
"$GSAE" inspect a | grep -q "preset       tiny" || fail "inspect does not recognise the tiny preset"

# Weights depend on the seed and the tensor name only: the sharded 3-layer model holds the
# 2-layer model's tensors bit for bit, the f32 model rounds to them, and scales are sane.
"$PY3" - <<'EOF' || fails=$((fails + 1))
import glob, json, struct, sys
import numpy as np
def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); d = b[8 + n:]
    assert (8 + n) % 8 == 0, 'data section not 8-byte aligned'
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        raw = d[v['data_offsets'][0]:v['data_offsets'][1]]
        if v['dtype'] == 'BF16':
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, np.float32)
        out[k] = a.reshape(v['shape'])
    return out
a = load('a/model.safetensors')
s = {}
for p in sorted(glob.glob('s/model-*.safetensors')): s.update(load(p))
f = load('f/model.safetensors')
idx = json.load(open('s/model.safetensors.index.json'))
bad = []
if set(idx['weight_map']) != set(s): bad.append('index names other tensors than the shards hold')
if any(not (a[k] == s[k]).all() for k in a): bad.append('sharded model differs')
if any(np.abs(a[k] - f[k]).max() > np.abs(f[k]).max() / 128 for k in a): bad.append('f32 and bf16 differ by more than rounding')
for k, w in a.items():
    sd = float(w.std())
    if k.endswith('norm.weight'):
        want = 0.1
    elif k == 'model.embed_tokens.weight':
        want = 1 / np.sqrt(64)
    else:
        want = 1 / np.sqrt(w.shape[1])
    if not 0.75 * want < sd < 1.25 * want: bad.append(f'{k}: sd {sd:.4f}, expected about {want:.4f}')
    if abs(float(w.mean())) > 4 * want / np.sqrt(w.size): bad.append(f'{k}: mean {float(w.mean()):.4f}')
cfg = json.load(open('a/config.json'))
for key, val in [('model_type', 'gemma2'), ('architectures', ['Gemma2ForCausalLM']),
                 ('num_hidden_layers', 2), ('vocab_size', 512), ('hidden_size', 64),
                 ('torch_dtype', 'bfloat16'), ('tie_word_embeddings', True),
                 ('rms_norm_eps', 1e-6), ('hidden_activation', 'gelu_pytorch_tanh')]:
    if cfg.get(key) != val: bad.append(f'config.json {key} = {cfg.get(key)!r}, expected {val!r}')
for b in bad: print('FAIL:', b)
print('weights: checked', len(a), 'tensors')
sys.exit(1 if bad else 0)
EOF

# Usage errors: exit 2 with a message; help exits 0.
usage_err() { # usage_err PATTERN ARGS...: exit 2 and PATTERN on stderr
    local pat=$1; shift
    "$GSAE" mkmodel "$@" >/dev/null 2>err; local rc=$?
    { [ $rc = 2 ] && grep -q -- "$pat" err; } || fail "mkmodel $*: exit $rc, stderr: $(head -1 err)"
}
usage_err "--preset is required" x
usage_err "OUT_DIR is required" --preset tiny
usage_err "expected 9b, 2b, 27b or tiny" x --preset 7b
usage_err "--layers '0', expected an integer from 1" x --preset tiny --layers 0
usage_err "--dtype 'f16', expected bf16 or f32" x --preset tiny --dtype f16
usage_err "--seed '-1', expected an unsigned" x --preset tiny --seed -1
usage_err "--shards 'x', expected an integer" x --preset tiny --shards x
usage_err "needs a value" x --preset
usage_err "unexpected argument" x y --preset tiny
usage_err "--vocab '2', expected an integer from 3" x --preset tiny --vocab 2
"$GSAE" mkmodel --help | grep -q -- "--shards" || fail "--help does not describe --shards"

# An existing checkpoint is kept unless --force; --force replaces it cleanly (no stale index).
"$GSAE" mkmodel s --preset tiny --vocab 512 >/dev/null 2>err && fail "overwrote a checkpoint without --force"
grep -q "already holds a checkpoint" err || fail "no message for an existing checkpoint: $(cat err)"
"$GSAE" mkmodel s --preset tiny --vocab 512 --layers 2 --seed 3 --force >/dev/null || fail "--force failed"
[ -e s/model.safetensors.index.json ] && fail "--force left the old index behind"
cmp -s a/model.safetensors s/model.safetensors || fail "--force result differs from a fresh model"
"$GSAE" mkmodel a/x --preset tiny --vocab 512 --shards 99 >/dev/null 2>err && fail "--shards 99 accepted"
grep -q "expected at most" err || fail "--shards 99: $(cat err)"

# Streaming: a 2B-sized model (d_model 2304, d_ff 9216) of 180 MiB is written with a few MiB
# of memory, never the whole model (or one 40 MiB FFN matrix) at once. Skipped under the
# sanitizers, whose shadow memory would dominate the figures.
if [ -z "${GSAE_SAN:-}" ]; then
    /usr/bin/time -f "%M" -o rss "$GSAE" mkmodel big --preset 2b --layers 1 --vocab 8192 >/dev/null 2>err ||
        fail "2b-sized mkmodel: $(cat err)"
    rss_kb=$(tail -1 rss)
    size_kb=$(du -k big/model.safetensors | cut -f1)
    echo "2b, 1 layer: file ${size_kb} KiB, peak RSS ${rss_kb} KiB"
    [ "$rss_kb" -lt 65536 ] || fail "peak RSS ${rss_kb} KiB, expected under 64 MiB"
    # Validation reads headers only: inspect's resident memory stays far below the file size.
    /usr/bin/time -f "%M" -o rss "$GSAE" inspect big >/dev/null 2>err || fail "inspect big: $(cat err)"
    rss_kb=$(tail -1 rss)
    echo "inspect: peak RSS ${rss_kb} KiB"
    [ "$rss_kb" -lt 40000 ] || fail "inspect peak RSS ${rss_kb} KiB: it touched weight pages"
    rm -rf big
fi

echo "$fails failed"
[ $fails -eq 0 ]
