"""gsae_store.py: read gsae activation stores (parts of schema_version 2, io/store.h) in Python.

    import gsae_store
    ds = gsae_store.open_store("results/store")        # every part as one xarray.Dataset
    acts = gsae_store.dense(ds)                        # numpy [n_tokens, d_sae], or of one part
    for row in gsae_store.feature(ds, 17, tokenizer="tokenizer.json")[:10]:
        print(row.activation, row.doc, row.pos, repr(row.text))

Needs numpy and xarray (with dask, which xarray.open_mfdataset uses). A store keeps two
dimensions that grow part by part, token and nnz (the sparse entries, sae_row_size of them per
token), so its parts are concatenated along each separately and merged (README.md, "Reading
stores from Python").
"""
import collections
import json
import os
import re

import numpy as np
import xarray as xr

# attributes that describe one part, not the concatenation
PER_PART = ("part_index", "first_window", "token_offset", "n_windows", "n_tokens", "nnz",
            "content_fnv1a64")

Row = collections.namedtuple("Row", "doc pos token token_id activation text")


def part_paths(store):
    """The store's parts in order: those manifest.json lists (an unlisted file is no part)."""
    with open(os.path.join(store, "manifest.json")) as f:
        parts = sorted(json.load(f)["parts"], key=lambda p: p["index"])
    return [os.path.join(store, p["file"]) for p in parts if p["n_tokens"] > 0]


def open_store(store):
    """All parts of the store directory as one lazy xarray.Dataset (dims token, nnz)."""
    paths = part_paths(store)
    if not paths:
        raise ValueError(f"{store}: the manifest lists no part with tokens")
    with xr.open_dataset(paths[0]) as first:
        if first.attrs.get("schema_version") != 2:
            raise ValueError(f"{paths[0]}: schema_version {first.attrs.get('schema_version')}, "
                             "this reader reads 2 (gsae store dump reads older parts)")
    tokens = xr.open_mfdataset(paths, preprocess=lambda d: d.drop_dims("nnz"))
    entries = xr.open_mfdataset(paths, combine="nested", concat_dim="nnz",
                                preprocess=lambda d: d.drop_dims("token"))
    ds = xr.merge([tokens, entries], combine_attrs="override")
    for name in PER_PART:
        ds.attrs.pop(name, None)
    return ds


def dense(part):
    """Activations as a dense float32 array [n_tokens, d_sae] of a part (a path or an open
    dataset) or of a whole store opened with open_store."""
    ds = xr.open_dataset(part) if isinstance(part, (str, os.PathLike)) else part
    size = ds["sae_row_size"].values
    out = np.zeros((len(size), int(ds.attrs["d_sae"])), dtype=np.float32)
    out[np.repeat(np.arange(len(size)), size), ds["sae_index"].values.astype(np.int64)] = \
        ds["sae_value"].values
    if ds is not part:
        ds.close()
    return out


def token_texts(tokenizer):
    """Each id's text from a tokenizer.json: the vocabulary piece, "▁" as a space, byte
    fallback pieces <0xNN> as that byte (decoded alone, so a partial UTF-8 character shows as
    U+FFFD)."""
    with open(tokenizer, encoding="utf-8") as f:
        tk = json.load(f)
    pieces = dict((i, p) for p, i in tk["model"]["vocab"].items())
    pieces.update((a["id"], a["content"]) for a in tk.get("added_tokens", []))
    out = [""] * (max(pieces) + 1)
    for i, p in pieces.items():
        m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", p)
        out[i] = bytes([int(m.group(1), 16)]).decode("utf-8", "replace") if m else \
            p.replace("\u2581", " ")
    return out


def feature(store, f, tokenizer=None, include_bos=False):
    """Every token where feature f fired (activation > 0), largest activation first, ties by
    token number: Rows (doc, pos, token, token_id, activation, text), text from a tokenizer.json
    path when given, else None. store: a directory or open_store's dataset. Inserted <bos>
    tokens (pos -1) are left out unless include_bos, as gsae's statistics and maxact do."""
    ds = open_store(store) if isinstance(store, (str, os.PathLike)) else store
    index, value = ds["sae_index"].values, ds["sae_value"].values
    size = ds["sae_row_size"].values
    hit = (index == f) & (value > 0)
    t, v = np.repeat(np.arange(len(size)), size)[hit], value[hit]
    pos = ds["pos"].values[t]
    if not include_bos:
        t, v, pos = t[pos >= 0], v[pos >= 0], pos[pos >= 0]
    token, doc, ids = ds["token"].values[t], ds["doc"].values[t], ds["token_id"].values[t]
    texts = token_texts(tokenizer) if tokenizer else None
    return [Row(int(doc[i]), int(pos[i]), int(token[i]), int(ids[i]), float(v[i]),
                texts[ids[i]] if texts else None) for i in np.lexsort((token, -v))]
