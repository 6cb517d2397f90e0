"""Check io/python/gsae_store.py and the documented xarray recipe against gsae's own readers.

usage: xarray_check.py READER_DIR STORE DUMP MAXACT_CSV TOKENIZER_JSON D_MODEL FEATURE
  READER_DIR   where gsae_store.py is (a broken copy must make this script fail)
  DUMP         `gsae store dump STORE` (window doc pos token_id index:value ...)
  MAXACT_CSV   `gsae maxact STORE --feature FEATURE --top N --out MAXACT_CSV` (with a tokenizer)
Checks: the README recipe (xr.open_mfdataset twice, merged) and open_store give every token's
window, doc, pos, id and activations exactly as the dump; d_model is the model's; dense() of a
part and of the store agree with the dump; feature(store, FEATURE) fires as often as
feature_stats.nc says and its top rows are maxact's (activation, doc, pos, token text).
Exit 0 when all hold, 1 otherwise."""
import csv
import glob
import sys

import numpy as np
import xarray as xr

reader_dir, store, dump, maxact_csv, tokenizer, d_model, feat = sys.argv[1:8]
d_model, feat = int(d_model), int(feat)
sys.path.insert(0, reader_dir)
import gsae_store  # noqa: E402  (from reader_dir)

bad = []


def check(name, ok, detail=""):
    print(f"{name:44s} {'ok' if ok else 'FAIL'} {detail}")
    if not ok:
        bad.append(name)


# what gsae store dump says: per token (window, doc, pos, id), its indices and values
want = []
for line in open(dump):
    if not line.startswith("#"):
        f = line.split()
        want.append((tuple(int(x) for x in f[:4]),
                     [(int(a), np.float32(b)) for a, b in (x.split(":") for x in f[4:])]))


def same_as_dump(ds, name):
    ctx = int(ds.attrs["context_size"])
    tok, doc, pos, ids = (ds[v].values for v in ("token", "doc", "pos", "token_id"))
    size, index, value = (ds[v].values for v in ("sae_row_size", "sae_index", "sae_value"))
    start = np.concatenate([[0], np.cumsum(size)])
    got = [((int(tok[t]) // ctx, int(doc[t]), int(pos[t]), int(ids[t])),
            list(zip(index[start[t]:start[t + 1]].tolist(), value[start[t]:start[t + 1]])))
           for t in range(len(tok))]
    check(f"{name}: tokens and activations = dump", got == want and len(got) > 0,
          f"{len(got)} tokens, {int(size.sum())} activations")
    check(f"{name}: token coordinate 0..n-1", np.array_equal(tok, np.arange(len(tok))))


# the README recipe, literally
parts = sorted(glob.glob(store + "/part-*.nc"))
ds = xr.merge([
    xr.open_mfdataset(parts, preprocess=lambda d: d.drop_dims("nnz")),
    xr.open_mfdataset(parts, combine="nested", concat_dim="nnz",
                      preprocess=lambda d: d.drop_dims("token")),
])
same_as_dump(ds, "recipe")
check("d_model attribute is the model's", int(ds.attrs["d_model"]) == d_model,
      str(ds.attrs["d_model"]))
check("sae_row_size: sample_dimension nnz", ds["sae_row_size"].attrs["sample_dimension"] == "nnz")

st = gsae_store.open_store(store)
same_as_dump(st, "open_store")
A = gsae_store.dense(st)
P0 = gsae_store.dense(parts[0])
rows = [np.zeros(A.shape[1], np.float32) for _ in want]
for r, (_, acts) in zip(rows, want):
    for i, v in acts:
        r[i] = v
check("dense(store) = dump", A.shape == (len(want), int(st.attrs["d_sae"])) and
      np.array_equal(A, np.array(rows)), str(A.shape))
check("dense(part 0) = its rows", np.array_equal(P0, A[:len(P0)]), str(P0.shape))

got = gsae_store.feature(store, feat, tokenizer=tokenizer)
fs = xr.open_dataset(store + "/feature_stats.nc")
fired = int(fs["fire_count"].sel(feature=feat))
check(f"feature({feat}): one row per firing", len(got) == fired and fired >= 3,
      f"{len(got)} rows, feature_stats says {fired}")
check(f"feature({feat}): sorted", all((a.activation, -a.token) >= (b.activation, -b.token)
                                      for a, b in zip(got, got[1:])))
ma = [r for r in csv.DictReader(open(maxact_csv)) if int(r["feature"]) == feat]


def escaped(s):  # as gsae maxact prints control characters
    return s.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


mine = [(np.float32(r.activation), r.doc, r.pos, r.text) for r in got[:len(ma)]]
theirs = [(np.float32(r["activation"]), int(r["doc"]), int(r["pos"]), r["token"]) for r in ma]
check(f"feature({feat}) top {len(ma)} = gsae maxact",
      len(ma) >= 3 and [m[:3] for m in mine] == [t[:3] for t in theirs],
      f"first {mine[:1]} vs {theirs[:1]}")
check(f"feature({feat}) token text = gsae maxact",
      [escaped(m[3]) for m in mine] == [t[3] for t in theirs],
      f"{[m[3] for m in mine[:4]]}")
sys.exit(1 if bad else 0)
