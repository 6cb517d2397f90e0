"""Check `gsae export` output (and maxact's --tokens-out / --logits-out CSVs) against the JSON
schemas in tests/data/schema and against independent recomputations: the activations over each
example's window from the store's parts (netCDF4), the peak against feature_stats.nc's
top_value, density and histogram against feature_stats.nc, and the logit effects with numpy
from the checkpoint (safetensors) and the SAE (npz).

usage: export_check.py FORMAT OUT STORE MODEL SAE SCHEMAS [TOKENS_CSV LOGITS_CSV]
Exits 1 with "FAIL <check>: ..." on the first failing check."""
import csv, glob, json, os, struct, sys

import jsonschema
import netCDF4
import numpy as np

fmt, out, store, model, sae, schemas = sys.argv[1:7]
extra = sys.argv[7:]


def fail(check, msg):
    print(f"FAIL {check}: {msg}")
    sys.exit(1)


def schema(name):
    with open(os.path.join(schemas, name)) as f:
        return jsonschema.Draft202012Validator(json.load(f))


def validate(v, doc, where):
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    if errs:
        fail("schema", f"{where}: {errs[0].message} at {list(errs[0].path)}")


fs = netCDF4.Dataset(os.path.join(store, "feature_stats.nc"))
top_value = fs["top_value"][:]
top_token = fs["top_token"][:]
n_examples = fs["n_examples"][:]
before = int(fs.context_before)
after = int(fs.context_after)

# the store's parts, read here independently of gsae
parts = {}
p0 = netCDF4.Dataset(os.path.join(store, "part-00000.nc"))
cs, wpp = int(p0.context_size), int(p0.n_windows)


def part(k):
    if k not in parts:
        d = netCDF4.Dataset(os.path.join(store, "part-%05d.nc" % k))
        # schema 2: entries per token (sae_row_size); schema 1: row pointers (sae_row_ptr)
        if "sae_row_size" in d.variables:
            rp = np.concatenate([[0], np.cumsum(d["sae_row_size"][:].astype(np.int64))])
        else:
            rp = d["sae_row_ptr"][:]
        parts[k] = (int(d.first_window), d["token_id"][:], rp,
                    d["sae_index"][:].astype(np.int64), d["sae_value"][:])
    return parts[k]


def window(f, j):
    """token ids and the feature's values over the example's slots inside its window, and the
    peak's index among them"""
    g = int(top_token[f, j])
    first, ids, rp, idx, val = part(g // cs // wpp)
    t = g - first * cs
    w0 = t // cs * cs
    toks, vals, peak = [], [], None
    for u in range(t - before, t + after + 1):
        if u < w0 or u >= w0 + cs or u >= len(ids):
            continue
        if u == t:
            peak = len(toks)
        lo, hi = rp[u] - rp[0], rp[u + 1] - rp[0]
        hit = np.nonzero(idx[lo:hi] == f)[0]
        toks.append(int(ids[u]))
        vals.append(np.float32(val[lo + hit[0]]) if len(hit) else np.float32(0))
    return toks, vals, peak


def load_safetensors(d):
    tensors = {}
    for path in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            head = json.loads(f.read(n))
            data = f.read()
        for name, h in head.items():
            if name == "__metadata__":
                continue
            a, b = h["data_offsets"]
            raw = data[a:b]
            if h["dtype"] == "BF16":
                x = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            elif h["dtype"] == "F32":
                x = np.frombuffer(raw, np.float32)
            elif h["dtype"] == "F16":
                x = np.frombuffer(raw, np.float16).astype(np.float32)
            else:
                continue
            tensors[name] = x.reshape(h["shape"])
    return tensors


st = load_safetensors(model)
E = st["model.embed_tokens.weight"].astype(np.float64)
w = st["model.norm.weight"].astype(np.float64)
W_dec = np.load(sae)["W_dec"].astype(np.float64)


def effects(f, k):
    e = E @ (W_dec[f] * (1.0 + w))
    ids = np.arange(len(e))
    pos = np.lexsort((ids, -e))[:k]
    neg = np.lexsort((ids, e))[:k]
    return pos, e[pos], neg, e[neg]


def check_feature(f, feat, acts, kind):
    """feat: the feature's dict; acts: its activation records (tokens, values, peak index)."""
    where = f"feature {f}"
    if abs(feat["frac_nonzero"] - float(fs["frequency"][f])) > 1e-9:
        fail("density", f"{where}: frac_nonzero {feat['frac_nonzero']} != {fs['frequency'][f]}")
    if [int(h) for h in feat["freq_hist_data_bar_heights"]] != [int(h) for h in fs["hist"][f]]:
        fail("histogram", f"{where}: bar heights differ from feature_stats.nc hist")
    if not np.allclose(feat["freq_hist_data_bar_values"], fs["hist_lower"][:], rtol=1e-8):
        fail("histogram", f"{where}: bar values differ from hist_lower")
    k = len(feat["pos_values"])
    pos, pv, neg, nv = effects(f, k)
    for name, got, want in (("pos_values", feat["pos_values"], pv),
                            ("neg_values", feat["neg_values"], nv)):
        if not np.allclose(got, want, rtol=1e-7, atol=1e-9):
            fail("logits", f"{where}: {name} {got} != numpy {list(want)}")
    if len(feat["pos_str"]) != k or len(feat["neg_str"]) != len(feat["neg_values"]):
        fail("logits", f"{where}: token strings and values differ in length")
    if len(acts) != min(int(n_examples[f]), len(acts)) or len(acts) == 0 and n_examples[f] > 0:
        fail("examples", f"{where}: {len(acts)} examples, feature_stats holds {n_examples[f]}")
    for j, (tokens, values, q) in enumerate(acts):
        ids, vals, peak = window(f, j)
        if len(tokens) != len(values) or len(values) != len(vals):
            fail("window", f"{where} example {j}: {len(values)} values, the window has {len(vals)}")
        if q != peak:
            fail("peak", f"{where} example {j}: peak index {q}, expected {peak}")
        if np.float32(values[q]) != np.float32(top_value[f, j]):
            fail("peak", f"{where} example {j}: value at the peak {values[q]} != top_value "
                 f"{top_value[f, j]}")
        if [np.float32(v) for v in values] != vals:
            fail("window", f"{where} example {j}: values differ from the store's CSR rows")


n_checked = 0
if fmt == "saedashboard":
    v = schema("saedashboard_batch.json")
    files = sorted(glob.glob(os.path.join(out, "batch-*.json")))
    if not files:
        fail("files", f"no batch-*.json in {out}")
    for path in files:
        with open(path) as fh:
            doc = json.load(fh)
        validate(v, doc, path)
        for feat in doc["features"]:
            acts = [(a["tokens"], a["values"], a["qualifying_token_index"])
                    for a in feat["activations"]]
            check_feature(feat["feature_index"], feat, acts, fmt)
            n_checked += 1
else:
    vf, va = schema("neuronpedia_feature.json"), schema("neuronpedia_activation.json")
    fdirs = glob.glob(os.path.join(out, "*", "*", "features"))
    if len(fdirs) != 1:
        fail("files", f"expected one MODEL/SOURCE/features directory in {out}, found {fdirs}")
    src = os.path.dirname(fdirs[0])
    for path in sorted(glob.glob(os.path.join(src, "features", "batch-*.jsonl"))):
        with open(path) as fh:
            feats = [json.loads(line) for line in fh]
        with open(path.replace("/features/", "/activations/")) as fh:
            recs = [json.loads(line) for line in fh]
        for i, feat in enumerate(feats):
            validate(vf, feat, f"{path} line {i + 1}")
        by_feature = {}
        for i, a in enumerate(recs):
            validate(va, a, f"activations line {i + 1}")
            vals = a["values"]
            if len(a["tokens"]) != len(vals):
                fail("record", f"line {i + 1}: {len(a['tokens'])} tokens, {len(vals)} values")
            if a["maxValue"] != max(vals) or a["maxValueTokenIndex"] != vals.index(max(vals)) \
                    or a["minValue"] != min(vals):
                fail("record", f"line {i + 1}: maxValue/maxValueTokenIndex/minValue disagree "
                     "with values")
            by_feature.setdefault(a["index"], []).append(
                (a["tokens"], vals, a["qualifyingTokenIndex"]))
        for feat in feats:
            acts = by_feature.get(feat["index"], [])
            if acts and abs(feat["maxActApprox"] - max(max(v) for _, v, _ in acts)) > 0:
                fail("record", f"feature {feat['index']}: maxActApprox")
            check_feature(feat["index"], feat, acts, fmt)
            n_checked += 1

if extra:  # maxact's CSVs
    tokens_csv, logits_csv = extra
    with open(tokens_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or list(rows[0].keys()) != ["feature", "rank", "offset", "token_id", "text",
                                            "activation"]:
        fail("tokens-csv", "header")
    ex = {}
    for r in rows:
        ex.setdefault((int(r["feature"]), int(r["rank"])), []).append(r)
    for (f, rank), rs in ex.items():
        ids, vals, peak = window(f, rank - 1)
        offs = [int(r["offset"]) for r in rs]
        zero = offs.index(0)
        if np.float32(rs[zero]["activation"]) != np.float32(top_value[f, rank - 1]):
            fail("tokens-csv", f"feature {f} rank {rank}: offset 0 activation != top_value")
        sub = range(peak + min(offs), peak + max(offs) + 1)
        if [int(r["token_id"]) for r in rs] != [ids[i] for i in sub] or \
                [np.float32(r["activation"]) for r in rs] != [vals[i] for i in sub]:
            fail("tokens-csv", f"feature {f} rank {rank}: tokens or activations differ from the store")
    with open(logits_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or list(rows[0].keys()) != ["feature", "sign", "rank", "token_id", "text", "value"]:
        fail("logits-csv", "header")
    per = {}
    for r in rows:
        per.setdefault((int(r["feature"]), r["sign"]), []).append(r)
    for (f, sign), rs in per.items():
        pos, pv, neg, nv = effects(f, len(rs))
        ids, vals = (pos, pv) if sign == "pos" else (neg, nv)
        if [int(r["rank"]) for r in rs] != list(range(len(rs))) or \
                [int(r["token_id"]) for r in rs] != [int(i) for i in ids] or \
                not np.allclose([float(r["value"]) for r in rs], vals, rtol=1e-7, atol=1e-9):
            fail("logits-csv", f"feature {f} {sign}: ids or values differ from numpy")
    n_checked += len(per)
print(f"ok: {fmt}, {n_checked} checked")
