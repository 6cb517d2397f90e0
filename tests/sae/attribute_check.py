"""Check `gsae attribute`'s outputs against `gsae golden`'s attrib.* tensors and the reference.

usage: attribute_check.py OUT_DIR STDOUT GOLDEN.safetensors EXPECTED.safetensors META.json METRIC

OUT_DIR holds attribution.nc and attribution_top.csv of one run for METRIC (logit_diff or
answer_logprob). Checks: the .nc map (scattered dense) and error equal golden's
attrib.METRIC.features / .error bit for bit, its metric equals attrib.METRIC.metric in f32; the
features are within meta.json's attribute tolerance of the reference; the top features of
attribution_top.csv and of the printed table are golden's, ranked by total |attribution| over
positions (ties by lower index), with their totals; the printed metric is golden's. Exit 0 when
all hold, 1 otherwise (one line per failed check).
"""
import csv
import re
import sys

import netCDF4
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/golden")
import compare  # noqa: E402

out, stdout, golden, expected, meta_path, metric = sys.argv[1:7]
g = compare.read_safetensors(golden)
e = compare.read_safetensors(expected)
import json  # noqa: E402

tol = json.load(open(meta_path))["attribute"]["tolerance"]
bad = []
ds = netCDF4.Dataset(out + "/attribution.nc")
T, S = len(ds.dimensions["position"]), len(ds.dimensions["feature"])
rp, fe = ds["row_ptr"][:].data, ds["entry_feature"][:].data
attr = ds["entry_attribution"][:].data
dense = np.zeros((T, S), np.float32)
for p in range(T):
    dense[p, fe[rp[p]:rp[p + 1]]] = attr[rp[p]:rp[p + 1]]
want = g["attrib.%s.features" % metric]
if want.shape != dense.shape or not np.array_equal(want, dense):
    bad.append("features differ from golden's (max abs %g)" % np.abs(want - dense).max())
if not np.array_equal(g["attrib.%s.error" % metric], ds["error"][:].data):
    bad.append("error differs from golden's")
mv = ds.getncattr("metric_value")
if np.float32(mv) != g["attrib.%s.metric" % metric][0]:
    bad.append("metric %r != golden %r" % (mv, g["attrib.%s.metric" % metric][0]))
if ds.getncattr("metric") != metric:
    bad.append("metric attribute %r" % ds.getncattr("metric"))
ref = e["attrib.%s.features" % metric]
lim = tol["rtol"] * np.abs(ref) + tol["atol_of_max"] * np.abs(ref).max()
if not (np.abs(dense - ref) <= lim).all():
    bad.append("features outside the reference tolerance")
total = np.abs(want.astype(np.float64)).sum(axis=0)
order = sorted((f for f in range(S) if total[f] > 0), key=lambda f: (-total[f], f))
rows = list(csv.DictReader(open(out + "/attribution_top.csv")))
top = [int(r["feature"]) for r in rows]
if top != order[:len(top)] or not top:
    bad.append("top features %s, golden's %s" % (top, order[:len(top)]))
for r in rows:
    f = int(r["feature"])
    if abs(float(r["total_abs"]) - total[f]) > 1e-6 * max(1.0, total[f]):
        bad.append("feature %d total %s, golden's %g" % (f, r["total_abs"], total[f]))
text = open(stdout).read()
m = re.search(r"^metric (\w+) = (\S+)", text, re.M)
if not m or m.group(1) != metric or abs(float(m.group(2)) - mv) > 1e-6 * max(1, abs(mv)):
    bad.append("printed metric line wrong: %s" % (m.group(0) if m else None))
printed = [int(x) for x in re.findall(r"^\s+\d+\s+(\d+)\s", text, re.M)]
if printed != top:
    bad.append("printed top features %s, csv's %s" % (printed, top))
for b in bad:
    print("FAIL %s %s: %s" % (out, metric, b))
sys.exit(1 if bad else 0)
