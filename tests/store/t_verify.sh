#!/usr/bin/env bash
# `gsae store verify` passes a good store and catches a tampered value (also when the part's
# own checksum attribute is updated to match), a truncated part, a missing part and a part
# swapped for another one.
set -euo pipefail
cd "$T"
"$GSAE" store synth --corpus "$TESTDATA/pile/00.jsonl.zst" --context 32 --windows-per-part 4 \
    --d-sae 200 --max-windows 20 --out s 2>/dev/null
"$GSAE" store verify s >ok.txt
grep -q "0 problems" ok.txt
expect_bad() { # expect_bad WHAT PATTERN
    if "$GSAE" store verify s >bad.txt 2>&1; then echo "verify missed: $1"; cat bad.txt; exit 1; fi
    grep -q "$2" bad.txt || { echo "verify did not say '$2' for $1"; cat bad.txt; exit 1; }
    echo "caught: $1"
}
cp -r s pristine
# one activation changed
"$PY3" - <<'PY'
import netCDF4
d = netCDF4.Dataset("s/part-00001.nc", "a")
d["sae_value"][3] = d["sae_value"][3] + 1.0
d.close()
PY
expect_bad "changed activation" "BAD   part-00001.nc: content checksum"
# the same, with the part's checksum attribute forged to match: the manifest still disagrees
rm -rf s && cp -r pristine s
"$PY3" - <<'PY'
import netCDF4
d = netCDF4.Dataset("s/part-00002.nc", "a")
d["token_id"][0] = 7
d.content_fnv1a64 = "0123456789abcdef"
d.close()
PY
expect_bad "changed token and forged attribute" "BAD   part-00002.nc"
rm -rf s && cp -r pristine s
size=$(stat -c %s s/part-00003.nc)
truncate -s $((size / 2)) s/part-00003.nc
expect_bad "truncated part" "BAD   part-00003.nc"
rm -rf s && cp -r pristine s
rm s/part-00004.nc
expect_bad "missing part" "BAD   part-00004.nc"
rm -rf s && cp -r pristine s
cp s/part-00000.nc s/part-00001.nc
expect_bad "swapped part" "BAD   part-00001.nc"
