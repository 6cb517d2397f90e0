# Contrast statistics (src/stats.c) against an independent numpy computation on the same
# seeded matrix: means, difference, Cohen's d, Hedges' g, BH-FDR, top |pair difference|; the
# permutation p-values for determinism, range, the separated feature's minimum p, and
# agreement with a numpy permutation test within Monte Carlo error.
set -u
"$PY3" -c "import numpy" 2>/dev/null || { echo "skip: $PY3 has no numpy"; exit 77; }
mkdir -p "$T/a" && "$BUILD/tests/test_stats" --dump "$T/a" || exit 1
mkdir -p "$T/b" && "$BUILD/tests/test_stats" --dump "$T/b" || exit 1
cmp "$T/a/p.npy" "$T/b/p.npy" || { echo "FAIL: permutation p-values differ between runs"; exit 1; }
"$PY3" - "$T/a" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
L = lambda n: np.load(f"{d}/{n}.npy")
x = L("x").astype(np.float64); a = L("in_a").astype(bool); n_perm = int(L("n_perm")[0])
A, B = x[a], x[~a]
na, nb = len(A), len(B)
ma, mb = A.mean(0), B.mean(0)
sp = np.sqrt(((na - 1) * A.var(0, ddof=1) + (nb - 1) * B.var(0, ddof=1)) / (na + nb - 2))
with np.errstate(divide="ignore", invalid="ignore"):
    dd = np.where(sp > 0, (ma - mb) / sp, np.where(ma == mb, 0.0, np.sign(ma - mb) * np.inf))
g = dd * (1 - 3 / (4 * (na + nb) - 9))
bad = []
def close(name, got, want, rtol=1e-12, atol=1e-12):
    ok = np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=False)
    print(f"{name:9s} max abs err {np.max(np.abs(np.where(np.isinf(want), 0, got - want))):.2e}  {'ok' if ok else 'FAIL'}")
    if not ok: bad.append(name)
close("mean_a", L("mean_a"), ma); close("mean_b", L("mean_b"), mb)
close("diff", L("diff"), ma - mb); close("cohens_d", L("cohens_d"), dd); close("hedges_g", L("hedges_g"), g)
p = L("p")
# BH in numpy: sort, scale by m / rank, running minimum from the top, cap at 1.
m = p.size; o = np.argsort(p, kind="stable")
q = np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1]
qq = np.empty(m); qq[o] = np.minimum(q, 1)
close("bh_q", L("q"), qq, rtol=1e-14, atol=0)
top = np.argsort(-np.abs(x[0] - x[1]), kind="stable")[:L("top_rows01").size]
print("top |x0 - x1|", L("top_rows01").tolist(), "numpy", top.tolist())
if not np.array_equal(L("top_rows01"), top): bad.append("top")
# p-values: in range, separated feature at the minimum, constant feature at 1, and close to a
# numpy permutation test (different random stream, so within Monte Carlo error).
if not (np.all(p >= 1 / (n_perm + 1)) and np.all(p <= 1)): bad.append("p range")
if p[0] != 1 / (n_perm + 1): bad.append(f"p[0] = {p[0]}, expected {1 / (n_perm + 1)}")
if p[1] != 1.0: bad.append(f"p[1] = {p[1]} for a constant feature, expected 1")
rng = np.random.default_rng(0); obs = np.abs(ma - mb); cnt = np.zeros(x.shape[1]); P = 4000
for _ in range(P):
    s = rng.permutation(a)
    cnt += np.abs(x[s].mean(0) - x[~s].mean(0)) >= obs * (1 - 1e-12)
pn = (1 + cnt) / (1 + P)
err = np.abs(p - pn)
print("p       ", np.round(p, 4).tolist()); print("numpy p ", np.round(pn, 4).tolist())
if np.any(err > 0.08): bad.append(f"p vs numpy permutation test: max diff {err.max():.3f}")
print("FAIL: " + ", ".join(bad) if bad else "PASS")
sys.exit(1 if bad else 0)
PY
