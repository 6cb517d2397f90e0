"""Write a PCA case in the format of tests/data/pca/ with scikit-learn's results.

usage: make_case.py OUT_DIR dense N D K SEED [OFFSET]
       make_case.py OUT_DIR reconstruction N D_SAE D_MODEL K SEED F1,F2,...
Dense rows are correlated Gaussians (plus OFFSET on every entry, to stress centering);
reconstruction activations are sparse non-negative (JumpReLU-like), about 3% dense.
"""
import json
import os
import sys

import numpy as np
from sklearn.decomposition import PCA


def write(out, meta, rows, pca, **arrays):
    os.makedirs(out, exist_ok=True)
    for name, a in arrays.items():
        np.save(os.path.join(out, name + ".npy"), a)
    np.save(os.path.join(out, "expected_components.npy"), pca.components_)
    np.save(os.path.join(out, "expected_transformed.npy"), pca.transform(rows))
    np.save(os.path.join(out, "expected_mean.npy"), pca.mean_)
    meta["explained_variance"] = pca.explained_variance_.tolist()
    meta["explained_variance_ratio"] = pca.explained_variance_ratio_.tolist()
    meta["tolerance"] = {"components_abs_dot_min": 0.9999, "explained_variance_rtol": 1e-4}
    json.dump(meta, open(os.path.join(out, "meta.json"), "w"), indent=2)


def dense(out, n, d, k, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    scales = np.linspace(3.0, 0.2, d) ** 2
    X = (rng.standard_normal((n, d)) * scales) @ np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = (X + offset).astype(np.float32)
    pca = PCA(n_components=k, svd_solver="full").fit(X.astype(np.float64))
    write(out, {"kind": "dense", "n_components": k}, X.astype(np.float64), pca, X=X)


def recon(out, n, d_sae, d_model, k, seed, features):
    rng = np.random.default_rng(seed)
    dense_acts = rng.exponential(2.0, (n, d_sae)) * (rng.random((n, d_sae)) < 0.03)
    dense_acts = dense_acts.astype(np.float32)
    W = rng.standard_normal((d_sae, d_model)).astype(np.float32)
    indptr = np.zeros(n + 1, np.int64)
    indices, values = [], []
    for t in range(n):
        nz = np.nonzero(dense_acts[t])[0]
        indices.append(nz.astype(np.int32))
        values.append(dense_acts[t, nz])
        indptr[t + 1] = indptr[t] + nz.size
    F = np.asarray(features)
    fired = np.nonzero(dense_acts[:, F].sum(axis=1) > 0)[0].astype(np.int64)
    R = dense_acts[fired][:, F].astype(np.float64) @ W[F].astype(np.float64)
    pca = PCA(n_components=k, svd_solver="full").fit(R)
    meta = {"kind": "reconstruction", "n_components": k, "features": F.tolist(),
            "n_tokens": n, "d_sae": d_sae, "d_model": d_model, "n_fired": int(fired.size)}
    write(out, meta, R, pca, acts_indptr=indptr, acts_indices=np.concatenate(indices),
          acts_values=np.concatenate(values), W_dec=W, expected_fired_rows=fired)


if __name__ == "__main__":
    a = sys.argv
    if a[2] == "dense":
        dense(a[1], int(a[3]), int(a[4]), int(a[5]), int(a[6]), float(a[7]) if len(a) > 7 else 0)
    else:
        recon(a[1], int(a[3]), int(a[4]), int(a[5]), int(a[6]), int(a[7]),
              [int(f) for f in a[8].split(",")])
