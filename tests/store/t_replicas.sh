#!/usr/bin/env bash
# A store written by 1, 2 and 3 replicas is the same store: identical `gsae store dump` text,
# identical part checksums in the manifest, identical feature_stats.nc variables.
set -euo pipefail
cd "$T"
args=(--corpus "$TESTDATA/pile/*.jsonl.zst" --context 48 --windows-per-part 3 --d-sae 70000
      --max-windows 60)
"$GSAE" store synth "${args[@]}" --out s1 2>log1
$MPIRUN -np 2 "$GSAE" store synth "${args[@]}" --out s2 2>log2
$MPIRUN -np 3 "$GSAE" store synth "${args[@]}" --out s3 2>log3
"$GSAE" store dump s1 >d1
test "$(wc -l <d1)" -eq $((60 * 48 + 1))
checks() { "$PY3" -c 'import json,sys; print([p["checksum"] for p in json.load(open(sys.argv[1]))["parts"]])' "$1"; }
for n in 2 3; do
    "$GSAE" store dump s$n >d$n
    cmp d1 d$n
    test "$(checks s1/manifest.json)" = "$(checks s$n/manifest.json)"
    "$GSAE" store verify s$n >/dev/null
done
# statistics: every variable equal (the files' bytes may differ only in HDF5 bookkeeping)
"$PY3" - <<'PY'
import netCDF4, numpy as np
a = netCDF4.Dataset("s1/feature_stats.nc")
for n in ("s2", "s3"):
    b = netCDF4.Dataset(n + "/feature_stats.nc")
    assert a.n_tokens == b.n_tokens
    for v in a.variables:
        assert np.array_equal(a[v][:], b[v][:]), (n, v)
print("feature_stats equal; features that fired:", int((a["fire_count"][:] > 0).sum()))
PY
echo "replicas: 1, 2 and 3 writers give the same store"
