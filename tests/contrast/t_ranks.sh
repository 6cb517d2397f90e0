# gsae contrast gives identical outputs on 1 rank, on 3 ranks as 3 pipeline stages (layers
# 0-2 only, one per stage), and on 3 ranks as 3 replicas of a 1-stage pipeline taking disjoint
# prompts: every CSV byte for byte, contrast.nc variable by variable and attribute by attribute.
set -u
"$PY3" -c "import numpy, netCDF4" 2>/dev/null || { echo "skip: $PY3 lacks numpy or netCDF4"; exit 77; }
source "$TOP/tests/contrast/inputs.sh"
contrast "$T/np1" >"$T/np1.log" 2>&1 || { cat "$T/np1.log"; exit 1; }
RUN="$MPIRUN -np 3" contrast "$T/stages" --stages 3 >"$T/stages.log" 2>&1 ||
    { cat "$T/stages.log"; exit 1; }
RUN="$MPIRUN -np 3" contrast "$T/replicas" --stages 1 >"$T/replicas.log" 2>&1 ||
    { cat "$T/replicas.log"; exit 1; }
head -1 "$T/np1.log" "$T/stages.log" "$T/replicas.log"
grep -q "on 3 stage(s) x 1 replica(s)" "$T/stages.log" &&
    grep -q "on 1 stage(s) x 3 replica(s)" "$T/replicas.log" || { echo "FAIL: layouts"; exit 1; }
fail=0
for run in stages replicas; do
    for f in acts_last_token.csv feature_diff.csv table_pair_top.csv table_group_contrast.csv; do
        cmp "$T/np1/$f" "$T/$run/$f" || { echo "FAIL: $run/$f differs"; fail=1; }
    done
    # the printed tables too (the first line has the layout and the time; the last the paths)
    diff <(sed '1d;/^wrote/d' "$T/np1.log") <(sed '1d;/^wrote/d' "$T/$run.log") >/dev/null ||
        { echo "FAIL: $run printed other tables"; fail=1; }
    "$PY3" - "$T/np1/contrast.nc" "$T/$run/contrast.nc" <<'PY' || fail=1
import sys
import numpy as np
import netCDF4
a, b = (netCDF4.Dataset(p) for p in sys.argv[1:3])
bad = []
if set(a.variables) != set(b.variables): bad.append("variable sets")
if a.ncattrs() != b.ncattrs() or any(str(a.getncattr(k)) != str(b.getncattr(k)) for k in a.ncattrs()):
    bad.append("global attributes")
for name in a.variables:
    x, y = a[name][:], b[name][:]
    if x.dtype.kind in "fiu":
        same = x.shape == y.shape and np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
    else:
        same = list(x) == list(y)
    if not same: bad.append(name)
print(f"{sys.argv[2]}: {len(a.variables)} variables", "FAIL: " + ", ".join(bad) if bad else "identical")
sys.exit(1 if bad else 0)
PY
done
[ $fail -eq 0 ] && echo PASS
exit $fail
