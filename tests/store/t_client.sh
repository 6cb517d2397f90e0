#!/usr/bin/env bash
# A client gsae does not own (Debian's python3-netCDF4) reads the store: token ids, documents,
# positions and every activation of a sample of tokens match `gsae store dump`; bf16 residuals
# decode as documented; feature_stats.nc agrees with the parts. `ncdump -h` shows the schema.
set -euo pipefail
cd "$T"
"$PY3" -c 'import netCDF4' 2>/dev/null || { echo "skip: python3-netcdf4 is not installed"; exit 77; }
"$GSAE" store synth --corpus "$TESTDATA/pile/01.jsonl.zst" --context 40 --windows-per-part 5 \
    --d-sae 1000 --d-model 6 --bf16 --max-windows 37 --out s 2>/dev/null
"$GSAE" store dump s >dump.txt
if command -v ncdump >/dev/null; then
    ncdump -h s/part-00000.nc >header.txt
    for want in "token = UNLIMITED" "int64 token(token)" "int token_id(token)" "int64 doc(token)" \
                "int pos(token)" "int sae_row_size(token)" 'sae_row_size:sample_dimension = "nnz"' \
                "ushort sae_index(nnz)" "float sae_value(nnz)" \
                "ushort resid_post(token, d_model)" 'resid_post:encoding = "bfloat16"' \
                ":schema_version = 2" ":token_offset = " ":d_model = 6" ":content_fnv1a64"; do
        grep -qF "$want" header.txt || { echo "ncdump -h lacks: $want"; exit 1; }
    done
fi
"$PY3" - <<'PY'
import json, netCDF4, numpy as np
m = json.load(open("s/manifest.json"))
assert m["complete"] and m["n_parts_total"] == 8, m["n_parts_total"]
rows = {}
for line in open("dump.txt"):
    if line.startswith("#"):
        continue
    f = line.split()
    rows.setdefault(int(f[0]), []).append((int(f[1]), int(f[2]), int(f[3]),
                    [(int(a), float(b)) for a, b in (x.split(":") for x in f[4:])]))
n_checked = 0
fire = np.zeros(1000, dtype=np.int64)
for p in m["parts"]:
    d = netCDF4.Dataset("s/" + p["file"])
    d.set_auto_mask(False)
    assert d.schema_version == 2 and d.context_size == 40
    tok, doc, pos = d["token_id"][:], d["doc"][:], d["pos"][:]
    assert np.array_equal(d["token"][:], d.token_offset + np.arange(len(tok)))
    assert d.token_offset == d.first_window * 40
    rp = np.concatenate([[0], np.cumsum(d["sae_row_size"][:], dtype=np.int64)])
    idx, val = d["sae_index"][:], d["sae_value"][:]
    assert rp[0] == 0 and rp[-1] == len(idx) == p["nnz"] and len(tok) == p["n_tokens"]
    r = d["resid_post"][:]
    assert r.dtype == np.uint16 and r.shape == (len(tok), 6)
    f32 = (r.astype(np.uint32) << 16).view(np.float32)       # bf16 -> f32
    assert np.all(np.abs(f32) <= 10.0) and np.any(f32 != 0)
    for t in range(len(tok)):
        w = d.first_window + t // 40
        got = rows[w][t % 40]
        assert (int(doc[t]), int(pos[t]), int(tok[t])) == got[:3], (w, t)
        feats = [(int(idx[k]), float(val[k])) for k in range(rp[t], rp[t + 1])]
        assert [a for a, _ in feats] == [a for a, _ in got[3]]
        assert np.allclose([b for _, b in feats], [b for _, b in got[3]], rtol=1e-7, atol=0)
        if pos[t] >= 0:
            fire[idx[rp[t]:rp[t + 1]]] += 1
        n_checked += 1
s = netCDF4.Dataset("s/feature_stats.nc")
assert np.array_equal(s["fire_count"][:], fire)
best = int(np.argmax(s["max_value"][:]))
assert s["top_value"][best, 0] == s["max_value"][best] and s["top_doc"][best, 0] >= 0
print("python netCDF4 read", n_checked, "tokens, all match gsae store dump")
PY
