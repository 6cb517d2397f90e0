# gsae contrast on the notebook's 10 ARC tasks (tiny random model and SAE), checked against an
# independent numpy computation on the prompt x feature matrix read back from contrast.nc: the
# stored prompt metadata (order, outcome, len_prompt = prompt length, the notebook's token
# counts), every CSV value, each pair's top-10 features, the group means, differences, Cohen's
# d and Hedges' g, BH q-values from the stored p-values, and the permutation p-values against
# the exact test over all 120 splits of 3 successes among 10 prompts. The report renders them.
set -u
"$PY3" -c "import numpy, netCDF4" 2>/dev/null || { echo "skip: $PY3 lacks numpy or netCDF4"; exit 77; }
source "$TOP/tests/contrast/inputs.sh"
contrast "$T/out" >"$T/stdout" 2>"$T/stderr" || { cat "$T/stderr"; exit 1; }
cat "$T/stdout"
if [ -s "$T/stderr" ]; then echo "FAIL: unexpected messages:"; cat "$T/stderr"; exit 1; fi
grep -q "^pair 3-5: 6150a2bd.json (failure) minus 48d8fb45.json (failure)" "$T/stdout" ||
    { echo "FAIL: pair table missing"; exit 1; }
"$PY3" - "$T/out" "$TESTDATA/arc/notebook_outcomes.csv" "$PAIRS" <<'PY' || exit 1
import csv, itertools, sys
import numpy as np
import netCDF4
out, outcomes_path, pairs_spec = sys.argv[1:4]
bad = []
def check(name, ok, detail=""):
    print(f"{name:34s} {'ok' if ok else 'FAIL'} {detail}")
    if not ok: bad.append(name)
def rows(name):
    with open(f"{out}/{name}", newline="") as f:
        return list(csv.reader(f))

nc = netCDF4.Dataset(f"{out}/contrast.nc")
nc.set_auto_mask(False)
X = nc["acts"][:].astype(np.float64)
P, F = X.shape
names = [str(s) for s in nc["name"][:]]
label = nc["label"][:]
check("schema_version", nc.schema_version == 1 and nc.layer == 2 and nc.hook == "resid_post.2")
notebook = list(csv.DictReader(open(outcomes_path)))
check("prompt order = outcomes CSV", names == [r["filename"] for r in notebook], str(names))
check("labels", list(label) == [1 if r["outcome"] == "True" else 0 for r in notebook])
check("confidence", np.array_equal(nc["confidence"][:], [float(r["confidence"]) for r in notebook]))
check("len_prompt", list(nc["len_prompt"][:]) == [int(r["len_prompt"]) for r in notebook])
check("n_chars = len_prompt", np.array_equal(nc["n_chars"][:], nc["len_prompt"][:]))
ntok = dict(zip(names, nc["n_tokens"][:]))
check("notebook token counts", (ntok["e9afcf9a.json"], ntok["c9e6f938.json"], ntok["48d8fb45.json"]) == (390, 527, 1602),
      str((ntok["e9afcf9a.json"], ntok["c9e6f938.json"], ntok["48d8fb45.json"])))
check("matrix is not trivial", np.count_nonzero(X) > P and np.all(X >= 0), f"{np.count_nonzero(X)} non-zero of {X.size}")

# acts_last_token.csv: every value, float32 round trip
a = rows("acts_last_token.csv")
check("acts header", a[0] == ["feature"] + [n[:-5] for n in names])
A = np.array([[float(v) for v in r[1:]] for r in a[1:]], dtype=np.float32)
check("acts values", len(a) == F + 1 and np.array_equal(A.T.astype(np.float64), X) and
      [int(r[0]) for r in a[1:]] == list(range(F)))

pairs = [tuple(int(x) for x in p.split("-")) for p in pairs_spec.split(",")]
check("pairs in nc", list(zip(nc["pair_a"][:], nc["pair_b"][:])) == pairs)
d = rows("feature_diff.csv")
check("diff header", d[0] == ["feature"] + [f"{i}-{j}" for i, j in pairs] + ["success-failure"])
D = np.array([[float(v) for v in r[1:]] for r in d[1:]])
check("diff values", np.allclose(D[:, :-1], np.stack([X[i] - X[j] for i, j in pairs], 1), rtol=1e-12, atol=0))

# each pair's top 10 by |difference|, ties by lower index
t = rows("table_pair_top.csv")
check("pair_top header", t[0] == "pair,a,b,name_a,name_b,rank,feature,act_a,act_b,diff".split(","))
body = t[1:]
ok = len(body) == 10 * len(pairs)
for k, (i, j) in enumerate(pairs):
    want = np.argsort(-np.abs(X[i] - X[j]), kind="stable")[:10]
    got = [r for r in body if r[0] == f"{i}-{j}"]
    ok = ok and [int(r[6]) for r in got] == list(want) and list(nc["pair_top_feature"][k]) == list(want)
    ok = ok and all(np.float32(r[7]) == X[i, f] and np.float32(r[8]) == X[j, f] and
                    abs(float(r[9]) - (X[i, f] - X[j, f])) <= 1e-12 * abs(X[i, f] - X[j, f])
                    for r, f in zip(got, want))
    ok = ok and all(r[3] == names[i][:-5] and r[4] == names[j][:-5] for r in got)
check("pair top-10 (numpy argsort)", ok)

# group contrast: success (A) minus failure (B)
s = label == 1
XA, XB = X[s], X[~s]
na, nb = len(XA), len(XB)
ma, mb = XA.mean(0), XB.mean(0)
sp = np.sqrt(((na - 1) * XA.var(0, ddof=1) + (nb - 1) * XB.var(0, ddof=1)) / (na + nb - 2))
with np.errstate(divide="ignore", invalid="ignore"):
    dd = np.where(sp > 0, (ma - mb) / sp, np.where(ma == mb, 0.0, np.sign(ma - mb) * np.inf))
gg = dd * (1 - 3 / (4 * (na + nb) - 9))
def close(name, got, want, rtol=1e-10, atol=1e-12):
    fin = np.isfinite(want)
    ok = np.array_equal(np.isfinite(got), fin) and np.array_equal(got[~fin], want[~fin]) and \
         np.allclose(got[fin], want[fin], rtol=rtol, atol=atol)
    check(name, ok, f"max abs err {np.max(np.abs(got[fin] - want[fin])):.2e}")
close("mean_success", nc["mean_success"][:], ma)
close("mean_failure", nc["mean_failure"][:], mb)
close("diff", nc["diff"][:], ma - mb)
close("success-failure column", D[:, -1], ma - mb)
close("cohens_d", nc["cohens_d"][:], dd)
close("hedges_g", nc["hedges_g"][:], gg)
p, q = nc["p_perm"][:], nc["q_bh"][:]
n_perm = nc.n_permutations
check("p range", np.all(p >= 1 / (n_perm + 1)) and np.all(p <= 1))
o = np.argsort(p, kind="stable")
qq = np.minimum.accumulate((p[o] * F / np.arange(1, F + 1))[::-1])[::-1]
qn = np.empty(F); qn[o] = np.minimum(qq, 1)
close("q_bh from p (numpy BH)", q, qn, rtol=1e-14, atol=0)
# exact permutation test: every way to pick the 3 "successes" among the 10 prompts
obs = np.abs(ma - mb)
cnt = np.zeros(F); splits = list(itertools.combinations(range(P), na))
for c in splits:
    m = np.zeros(P, bool); m[list(c)] = True
    cnt += np.abs(X[m].mean(0) - X[~m].mean(0)) >= obs * (1 - 1e-12)
exact = cnt / len(splits)
err = np.abs(p - exact)
check("p vs exact test (Monte Carlo)", err.max() < 0.05, f"max |p - exact| {err.max():.3f} over {len(splits)} splits")
g = rows("table_group_contrast.csv")
check("group header", g[0] == "rank,feature,mean_success,mean_failure,diff,cohens_d,hedges_g,p_perm,q_bh".split(","))
want = np.argsort(-np.abs(ma - mb), kind="stable")[:10]
feats = [int(r[1]) for r in g[1:]]
check("group top-10 by |diff|", feats == list(want) and list(nc["group_top_feature"][:]) == feats, str(feats))
G = np.array([[float(v) for v in r[2:]] for r in g[1:]])
W = np.stack([ma, mb, ma - mb, dd, gg, p, q], 1)[feats]
check("group CSV values", np.allclose(G, W, rtol=1e-12, atol=1e-15))
print("FAIL: " + ", ".join(bad) if bad else "PASS")
sys.exit(1 if bad else 0)
PY
# gsae report shows the line charts, the bars and both tables
"$GSAE" report "$T/out" >/dev/null || exit 1
for want in "Feature activations at the last token" "Top features by |difference|: 0-1" \
    "Top features by |difference|: success-failure" "pair_top" "group_contrast"; do
    grep -qF "$want" "$T/out/report.html" || { echo "FAIL: report lacks '$want'"; exit 1; }
done
echo "report ok"
