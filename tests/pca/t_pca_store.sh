# gsae pca STORE: residual rows and feature-reconstruction rows of a small activation store
# (written by test_dpca_store --make-store) on 1, 2 and 3 ranks, checked against numpy and
# scikit-learn reading the same parts with netCDF4: components, explained variance, projected
# rows (up to sign), the rows' token numbers, their context and the CSV.
set -u
"$PY3" -c "import numpy, sklearn, netCDF4" 2>/dev/null || { echo "skip: $PY3 lacks numpy, sklearn or netCDF4"; exit 77; }
"$BUILD/tests/test_dpca_store" --make-store "$T/store" || exit 1
fail=0
for np in $(gsae_np 1 3); do
    $MPIRUN -np $np "$GSAE" pca "$T/store" --out "$T/resid$np" --components 4 --chunk-rows 7 || fail=1
    $MPIRUN -np $np "$GSAE" pca "$T/store" --out "$T/feat$np" --components 3 \
        --w-dec "$T/store/W_dec.npy" --features 3,7,11,20 || fail=1
done
# The job form (--store, --sae) with token text from the real tokenizer.
$MPIRUN -np 2 "$GSAE" pca --store "$T/store" --out "$T/tok" --components 3 \
    --w-dec "$T/store/W_dec.npy" --features 3,7,11,20 \
    --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" || fail=1
# The decoder from a Gemma Scope params.npz (--sae) gives the same result as --w-dec.
"$PY3" -c "
import numpy as np
W = np.load('$T/store/W_dec.npy'); d_sae, d = W.shape
np.savez('$T/params.npz', W_enc=np.ones((d, d_sae), np.float32), W_dec=W,
         b_enc=np.zeros(d_sae, np.float32), b_dec=np.zeros(d, np.float32),
         threshold=np.zeros(d_sae, np.float32))" || fail=1
$MPIRUN -np 2 "$GSAE" pca --store "$T/store" --out "$T/sae" --components 3 \
    --sae "$T/params.npz" --features 3,7,11,20 || fail=1
cmp "$T/sae/components.npy" "$T/feat2/components.npy" || { echo "FAIL: --sae differs from --w-dec"; fail=1; }
[ $fail -eq 0 ] || { echo "FAIL: gsae pca exited non-zero"; exit 1; }
"$PY3" - "$T" <<'PY' || fail=1
import csv, glob, json, sys
import numpy as np
import netCDF4
from sklearn.decomposition import PCA
T = sys.argv[1]
man = json.load(open(f"{T}/store/manifest.json"))
ids, resid, acts = [], [], []
for p in man["parts"]:
    with netCDF4.Dataset(f"{T}/store/{p['file']}") as ds:
        ids.append(ds["token_id"][:]); resid.append(ds["resid_post"][:].astype(np.float64))
        rp = np.concatenate([[0], np.cumsum(ds["sae_row_size"][:], dtype=np.int64)])
        ix, va = ds["sae_index"][:], ds["sae_value"][:]
        d_sae = int(ds.d_sae)
        A = np.zeros((len(rp) - 1, d_sae))
        for t in range(len(rp) - 1):
            np.add.at(A[t], ix[rp[t]:rp[t + 1]], va[rp[t]:rp[t + 1]])
        acts.append(A)
ids, R, A = np.concatenate(ids), np.concatenate(resid), np.concatenate(acts)
W = np.load(f"{T}/store/W_dec.npy").astype(np.float64)
F = [3, 7, 11, 20]
fired = np.nonzero(A[:, F].sum(1) > 0)[0]
cases = {"resid": (R, np.arange(len(R)), 4), "feat": (A[fired][:, F] @ W[F], fired, 3)}
bad = []
for name, (X, tokens, k) in cases.items():
    ref = PCA(n_components=k, svd_solver="full").fit(X)
    Z = ref.transform(X)
    for np_ in (1, 2, 3):
        with netCDF4.Dataset(f"{T}/{name}{np_}/pca.nc") as ds:
            C, ev, pc, tok = ds["components"][:], ds["explained_variance"][:], ds["pc"][:], ds["token"][:]
            ctx = ds["context"][:]
        dots = np.abs(np.sum(C * ref.components_, 1))
        err_ev = np.max(np.abs(ev - ref.explained_variance_) / ref.explained_variance_)
        sign = np.sign(np.sum(C * ref.components_, 1))
        err_pc = np.max(np.abs(pc * sign - Z)) / np.abs(Z).max()
        ok = dots.min() >= 0.9999 and err_ev <= 1e-4 and err_pc <= 1e-6 and np.array_equal(tok, tokens)
        # context: ids of tokens t-5..t+3 within the token's 16-token window, -1 outside
        for r in (0, len(tokens) // 2, len(tokens) - 1):
            t = tokens[r]; w0 = t - t % 16
            want = [ids[u] if w0 <= u < w0 + 16 else -1 for u in range(t - 5, t + 4)]
            ok &= list(ctx[r]) == want
        rows = list(csv.reader(open(f"{T}/{name}{np_}/pca.csv")))
        ok &= len(rows) == len(tokens) + 1 and rows[0][5:5 + k] == [f"PC{i + 1}" for i in range(k)]
        ok &= rows[1][-1].count("|") == 2 and int(rows[1][1]) == tokens[0]
        print(f"{name} on {np_} ranks: {len(tokens)} rows, min |dot| {dots.min():.10f}, "
              f"ev rel err {err_ev:.1e}, pc rel err {err_pc:.1e}  {'ok' if ok else 'FAIL'}")
        if not ok:
            bad.append(f"{name}/{np_}")
# Report CSVs with token text: the context's middle part is the token; ratios as in pca.nc.
rows = list(csv.DictReader(open(f"{T}/tok/pca_scores.csv")))
with netCDF4.Dataset(f"{T}/tok/pca.nc") as ds:
    evr, pc = ds["explained_variance_ratio"][:], ds["pc"][:]
    nc_ctx, nc_tok = list(ds["context_text"][:]), list(ds["token_text"][:])
ok = len(rows) == len(fired) and all(r["context"].split("|")[1] == r["token"] for r in rows)
ok &= all(len(r["context"].split("|")) == 3 for r in rows)
ok &= nc_ctx == [r["context"] for r in rows] and nc_tok == [r["token"] for r in rows]
ok &= np.allclose([float(r["pc2"]) for r in rows], pc[:, 1], rtol=1e-15, atol=0)
ex = list(csv.DictReader(open(f"{T}/tok/pca_explained.csv")))
ok &= [e["component"] for e in ex] == ["PC1", "PC2", "PC3"]
ok &= np.allclose([float(e["explained_variance_ratio"]) for e in ex], evr, rtol=1e-15, atol=0)
print(f"token text: first rows {[(r['token'], r['context']) for r in rows[:2]]}  {'ok' if ok else 'FAIL'}")
if not ok:
    bad.append("report csv")
print("FAIL: " + ", ".join(bad) if bad else "PASS")
sys.exit(1 if bad else 0)
PY
exit $fail
