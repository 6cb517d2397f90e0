#!/usr/bin/env bash
# Corrupted and inconsistent checkpoints: `gsae inspect` must exit 1 (an error, not a crash)
# with exactly one line on stderr naming the file and the tensor or field at fault.
# Each case starts from a fresh copy of a small valid checkpoint made by `gsae mkmodel`.
set -u
cd "$T"
fails=0

"$GSAE" mkmodel base --preset tiny --vocab 512 --layers 2 --seed 7 >/dev/null || exit 1
"$GSAE" inspect base >/dev/null || { echo "FAIL: the valid checkpoint does not load"; exit 1; }
M=model.safetensors

# sft.py: read and rewrite safetensors files (header dict, data bytes) for the corruptions.
cat >sft.py <<'EOF'
import json, struct
def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def save(path, hdr, data, text=None, n=None):
    t = (text if text is not None else json.dumps(hdr)).encode()
    t += b' ' * (-len(t) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(t) if n is None else n) + t + data)
def drop(hdr, data, name):
    """Remove a tensor and its bytes, shifting the offsets after it."""
    b, e = hdr.pop(name)['data_offsets']
    for k, v in hdr.items():
        if k != '__metadata__' and v['data_offsets'][0] >= e:
            v['data_offsets'] = [v['data_offsets'][0] - (e - b), v['data_offsets'][1] - (e - b)]
    return data[:b] + data[e:]
EOF

# py CODE: run python on the copy in c/ with F (weights), C (config) and the sft helpers.
py() {
    (cd c && "$PY3" -c "import json, struct, sys; sys.path.insert(0, '..'); from sft import *
F = '$M'; C = 'config.json'
$1") || { echo "FAIL: corruption snippet failed"; exit 1; }
}
fresh() { rm -rf c; cp -r "${1:-base}" c; }

# check NAME PATTERN...: inspect fails with exit 1 and one stderr line holding every PATTERN.
check() {
    local name=$1 args=()
    shift
    [ "${1:-}" = "--layers" ] && { args=(--layers "$2"); shift 2; }
    "$GSAE" inspect c "${args[@]}" >out 2>err
    local rc=$? lines ok=1
    lines=$(wc -l <err)
    if [ $rc -ne 1 ]; then echo "FAIL $name: exit $rc, expected 1"; ok=0; fi
    if [ "$lines" -ne 1 ]; then echo "FAIL $name: $lines lines on stderr, expected 1"; ok=0; fi
    local p
    for p in "$@"; do
        grep -qF -- "$p" err || { echo "FAIL $name: message lacks '$p'"; ok=0; }
    done
    if [ $ok = 1 ]; then echo "ok   $name: $(cat err)"; else sed 's/^/     | /' err; fails=$((fails + 1)); fi
}

fresh; py "import os; os.truncate(F, os.path.getsize(F) - 100)"
check truncated-file "c/$M" "'model.norm.weight'" "past the data section"

fresh; py "b = open(F, 'rb').read(); open(F, 'wb').write(struct.pack('<Q', len(b)) + b[8:])"
check header-longer-than-file "c/$M" "header length" "past the end of the file"

fresh; py "h, d = load(F); h['model.layers.0.self_attn.v_proj.weight']['data_offsets'] = h['model.layers.0.self_attn.k_proj.weight']['data_offsets']; save(F, h, d)"
check overlapping-offsets "c/$M" "'model.layers.0.self_attn.v_proj.weight'" "overlap"

fresh; py "h, d = load(F); v = h['model.norm.weight']; v['data_offsets'] = [x + 2 for x in v['data_offsets']]; save(F, h, d[:v['data_offsets'][0] - 2] + b'xx' + d[v['data_offsets'][0] - 2:])"
check gap-in-offsets "c/$M" "'model.norm.weight'" "gap of 2 bytes"

fresh; py "h, d = load(F); h['model.layers.1.input_layernorm.weight']['shape'] = [63]; save(F, h, d)"
check shape-bytes-mismatch "c/$M" "'model.layers.1.input_layernorm.weight'" "hold 128 bytes, expected 126"

fresh; py "h, d = load(F); h['model.layers.0.mlp.up_proj.weight']['dtype'] = 'Q4'; save(F, h, d)"
check unknown-dtype "c/$M" "'model.layers.0.mlp.up_proj.weight'" "dtype 'Q4' is unknown"

fresh; py "h, d = load(F); t = json.dumps(h); e = json.dumps(h['model.norm.weight']); save(F, h, d, text='{\"model.norm.weight\": ' + e + ', ' + t[1:])"
check duplicate-tensor "c/$M" "'model.norm.weight'" "appears twice"

fresh; py "h, d = load(F); d = drop(h, d, 'model.layers.1.mlp.up_proj.weight'); save(F, h, d)"
check missing-tensor "c/$M" "'model.layers.1.mlp.up_proj.weight'" "missing"

fresh; py "h, d = load(F); h['model.layers.1.mlp.down_proj.weight']['shape'] = [128, 64]; save(F, h, d)"
check wrong-shape-for-config "c/$M" "'model.layers.1.mlp.down_proj.weight'" "shape [128, 64], expected [64, 128]"

fresh; py "c = json.load(open(C)); c['intermediate_size'] = 192; json.dump(c, open(C, 'w'))"
check config-disagrees-with-weights "c/$M" "'model.layers.0.mlp.gate_proj.weight'" "expected [192, 64]"

fresh; py "c = json.load(open(C)); c['num_hidden_layers'] = 1; json.dump(c, open(C, 'w'))"
check extra-layer-in-weights "c/$M" "'model.layers.1." "num_hidden_layers 1"

fresh; py "h, d = load(F); h['model.norm.weight']['dtype'] = 'I16'; save(F, h, d)"
check integer-dtype "c/$M" "'model.norm.weight'" "dtype I16, expected F32, F16 or BF16"

fresh; py "t = open(C).read(); open(C, 'w').write(t[:len(t) // 2])"
check bad-json-config "c/config.json" "not valid JSON"

fresh; py "c = json.load(open(C)); c['hidden_size'] = '64'; json.dump(c, open(C, 'w'))"
check non-numeric-config-field "c/config.json" "'hidden_size' is a string"

fresh; py "c = json.load(open(C)); del c['head_dim']; json.dump(c, open(C, 'w'))"
check missing-config-field "c/config.json" "'head_dim' is missing"

fresh; py "c = json.load(open(C)); c['num_attention_heads'] = 0; json.dump(c, open(C, 'w'))"
check zero-heads "c/config.json" "'num_attention_heads' is 0"

fresh; py "c = json.load(open(C)); c['num_key_value_heads'] = 3; json.dump(c, open(C, 'w'))"
check heads-not-multiple-of-kv "c/config.json" "'num_attention_heads' is 4" "'num_key_value_heads' (3)"

fresh; py "h, d = load(F); save(F, h, d, n=200000000)"
check header-over-100MB "c/$M" "header length 200000000" "at most 100000000"

fresh; py "h, d = load(F); save(F, h, b'', text='[]')"
check non-object-header "c/$M" "header is a JSON array" "expected a JSON object"

fresh; py "h, d = load(F); v = h['model.layers.0.self_attn.q_proj.weight']; v['data_offsets'] = v['data_offsets'][::-1]; save(F, h, d)"
check offsets-begin-after-end "c/$M" "'model.layers.0.self_attn.q_proj.weight'" "begin > end"

fresh; py "open(F, 'wb').close()"
check empty-weights-file "c/$M" "0 bytes" "at least 8"

# Sharded checkpoints: the index names a shard that is not there, or lacks a tensor.
"$GSAE" mkmodel sharded --preset tiny --vocab 512 --layers 3 --shards 3 >/dev/null || exit 1
"$GSAE" inspect sharded >/dev/null || { echo "FAIL: the sharded checkpoint does not load"; exit 1; }
fresh sharded; rm c/model-00002-of-00003.safetensors
check index-names-missing-shard "c/model.safetensors.index.json" "shard 'model-00002-of-00003.safetensors'" "does not exist"

fresh sharded; py "i = json.load(open('model.safetensors.index.json')); del i['weight_map']['model.layers.2.mlp.up_proj.weight']; json.dump(i, open('model.safetensors.index.json', 'w'))"
check index-lacks-tensor "c/model.safetensors.index.json" "'model.layers.2.mlp.up_proj.weight'" "missing from weight_map"

# A pipeline stage opens only its own shards: with every shard that holds none of layer 1's
# tensors removed, the whole model fails but a stage running layer 1 alone still loads.
fresh sharded
py "i = json.load(open('model.safetensors.index.json'))['weight_map']
import os
need = {f for k, f in i.items() if k.startswith('model.layers.1.')}
gone = sorted(set(i.values()) - need)
assert gone, 'layer 1 spans every shard'
for f in gone: os.remove(f)
print('removed', *gone)"
check stage-needs-removed-shard "c/model.safetensors.index.json" "does not exist"
if "$GSAE" inspect c --layers 1-1 >out 2>err; then
    echo "ok   stage-uses-own-shards: $(grep -E '^(checked|files)' out | tr '\n' ' ')"
else
    echo "FAIL stage-uses-own-shards: $(cat err)"; fails=$((fails + 1))
fi

# The golden sharded case loads.
if "$GSAE" inspect "$TESTDATA/gemma2/tiny-mha-f32-sharded" >out 2>err && grep -q "files        2" out; then
    echo "ok   golden-sharded: $(grep '^tensors' out)"
else
    echo "FAIL golden-sharded: $(cat err)"; fails=$((fails + 1))
fi

echo "$fails failed"
[ $fails -eq 0 ]
