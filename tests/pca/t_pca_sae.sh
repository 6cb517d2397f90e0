#!/usr/bin/env bash
# gsae pca STORE takes the decoder from the SAE the store was harvested with (--sae, any layout
# gsae reads) and refuses one that is not the store's: on a harvested store, --sae params.npz,
# --sae of the same SAE as a SAELens directory and --w-dec of its W_dec give identical pca.nc;
# an SAE of another width or with another hash, and a W_dec of another width, are refused with
# the file, the field, and the value found versus expected, on one rank and on two (exit 1 on
# every rank, no MPI_Abort).
set -u
"$PY3" -c "import numpy, netCDF4" 2>/dev/null || { echo "skip: $PY3 lacks numpy or netCDF4"; exit 77; }
export OMPI_MCA_orte_tmpdir_base="$T"
cd "$T"
fail=0
die() { echo "FAIL: $*"; exit 1; }
"$GSAE" mkmodel m --preset tiny --layers 4 --seed 3 >/dev/null || die "mkmodel"
"$GSAE" mksae sae.npz --model m --d-sae 400 --layer 2 --density 0.03 >/dev/null || die "mksae"
"$GSAE" harvest --model m --sae sae.npz --layer 2 --corpus "$TESTDATA/pile/*.jsonl.zst" \
    --tokenizer "$TESTDATA/tokenizer/gemma2-tokenizer.json.zst" --context 48 \
    --windows-per-part 4 --max-tokens 1200 --out h --freq freq.csv 2>harvest.log ||
    { cat harvest.log; die "harvest"; }
# the four features that fire most often, and the same SAE in the other layout and as W_dec
F=$("$PY3" -c "
import numpy as np
f = np.loadtxt('freq.csv', delimiter=',', skiprows=1)
print(','.join(str(int(i)) for i in f[np.argsort(-f[:, 1], kind='stable')[:4], 0]))")
"$GSAE" mksae lens --from sae.npz --layout saelens --layer 2 >/dev/null || die "mksae --from"
"$PY3" -c "
import numpy as np
W = np.load('sae.npz')['W_dec']
np.save('W_dec.npy', W); np.save('W_dec300.npy', W[:300])" || die "W_dec.npy"

pca() { "$GSAE" pca h --components 2 --features "$F" "$@"; }
pca --sae sae.npz --out npz >/dev/null || { echo "FAIL: --sae sae.npz"; fail=1; }
pca --sae lens --out lens >/dev/null || { echo "FAIL: --sae SAELens directory"; fail=1; }
pca --w-dec W_dec.npy --out wdec >/dev/null || { echo "FAIL: --w-dec"; fail=1; }
"$PY3" - <<'PY' || fail=1
import sys
import netCDF4, numpy as np
ref = netCDF4.Dataset("npz/pca.nc")
assert ref["pc"].shape[0] > 10, "too few rows: %d" % ref["pc"].shape[0]
for other in ("lens", "wdec"):
    ds = netCDF4.Dataset(other + "/pca.nc")
    assert set(ds.variables) == set(ref.variables), other
    for v in ref.variables:
        if not np.array_equal(ds[v][:], ref[v][:]):
            sys.exit(f"FAIL: {other}/pca.nc: '{v}' differs from --sae sae.npz")
print(f"--sae npz, --sae saelens, --w-dec: identical pca.nc ({ref['pc'].shape[0]} rows)")
PY

"$GSAE" mksae other.npz --model m --d-sae 400 --layer 2 --seed 7 >/dev/null || die "mksae other"
"$GSAE" mksae narrow.npz --model m --d-sae 300 --layer 2 >/dev/null || die "mksae narrow"
refused() { # refused NAME PATTERN ARGS...: gsae pca ARGS exits 1 saying PATTERN
    local name=$1 pattern=$2; shift 2
    pca "$@" --out "$name" >"$name.log" 2>&1; local rc=$?
    if [ $rc -ne 1 ] || ! grep -q -- "$pattern" "$name.log"; then
        echo "FAIL: $name: exit $rc, expected 1 with '$pattern'"; cat "$name.log"; fail=1
    else
        echo "ok   $name: $(grep -m1 -- "$pattern" "$name.log")"
    fi
}
part="h/part-00000.nc"
refused hash "other.npz: sae_hash is [0-9a-f]\{16\}, expected [0-9a-f]\{16\} .*sae_hash of $part" \
    --sae other.npz
refused width "narrow.npz: d_sae is 300, expected 400 .*d_sae of $part" --sae narrow.npz
refused wdec "W_dec300.npy: d_sae is 300, expected 400" --w-dec W_dec300.npy
# on two ranks every rank refuses, and the job ends with exit 1 without MPI_Abort
timeout 60 $MPIRUN -np 2 "$GSAE" pca h --components 2 --features "$F" --sae other.npz \
    --out two >two.log 2>&1; rc=$?
[ $rc -eq 1 ] || { echo "FAIL: two ranks: exit $rc"; cat two.log; fail=1; }
[ "$(grep -c '^rank [01]: other.npz: sae_hash is' two.log)" -eq 2 ] ||
    { echo "FAIL: two ranks: not both refused"; cat two.log; fail=1; }
if grep -q MPI_ABORT two.log; then echo "FAIL: two ranks: MPI_Abort"; fail=1; fi
[ ! -e two/pca.nc ] && [ ! -e hash/pca.nc ] || { echo "FAIL: a refused decoder wrote pca.nc"; fail=1; }
exit $fail
