# gsae pca fails cleanly, on every rank, with a message naming the file or option.
set -u
src="$TESTDATA/pca/recon-3000x512"
expect_fail() { # expect_fail PATTERN ARGS...: non-zero exit and PATTERN in stderr
    local pat=$1; shift
    if $MPIRUN -np 2 "$GSAE" pca "$@" >"$T/out" 2>"$T/err"; then
        echo "FAIL: 'gsae pca $*' succeeded"; return 1
    fi
    if ! grep -q -- "$pat" "$T/err"; then
        echo "FAIL: 'gsae pca $*': stderr lacks '$pat':"; cat "$T/err"; return 1
    fi
    echo "ok: $pat"
}
fail=0
mkdir -p "$T/broken"
cp "$src"/meta.json "$src"/acts_indptr.npy "$src"/acts_values.npy "$src"/W_dec.npy "$T/broken/"
expect_fail "acts_indices.npy: cannot open" --case "$T/broken" --out "$T/o1" || fail=1
expect_fail "feature 512 is out of range: W_dec.npy has 512" --case "$src" --out "$T/o2" \
    --features 3,512 || fail=1
expect_fail "components" --case "$src" --out "$T/o3" --components 65 || fail=1
expect_fail "random-features needs --seed" --case "$src" --out "$T/o4" --random-features 8 || fail=1
expect_fail "dense case" --case "$TESTDATA/pca/dense-6000x48" --out "$T/o5" --features 1,2 || fail=1
# A truncated X.npy: the shape needs more data than the file has.
mkdir -p "$T/trunc"
cp "$TESTDATA/pca/dense-6000x48/meta.json" "$T/trunc/"
head -c 100000 "$TESTDATA/pca/dense-6000x48/X.npy" > "$T/trunc/X.npy"
expect_fail "X.npy: .npy data is" --case "$T/trunc" --out "$T/o6" || fail=1
# A failure only one rank sees (a bad CSR row pointer in the second half of the tokens): every
# rank returns an error, rank 1 names the cause, rank 0 says another rank failed, none hangs.
mkdir -p "$T/onerank"
cp "$src"/meta.json "$src"/acts_indices.npy "$src"/acts_values.npy "$src"/W_dec.npy "$T/onerank/"
"$PY3" -c "
import numpy as np
p = np.load('$src/acts_indptr.npy'); p[2500] = p[2501] + 5
np.save('$T/onerank/acts_indptr.npy', p)" || fail=1
expect_fail "rank 1: acts_indptr.npy: entries 2500..2501" --case "$T/onerank" --out "$T/o7" || fail=1
grep -q "rank 0: another rank failed (EFORMAT)" "$T/err" || { echo "FAIL: rank 0 did not report"; cat "$T/err"; fail=1; }
# --features and --random-features choose the rows; the same seed gives the same rows.
$MPIRUN -np 2 "$GSAE" pca --case "$src" --out "$T/r1" --random-features 8 --seed 7 >/dev/null || fail=1
$MPIRUN -np 1 "$GSAE" pca --case "$src" --out "$T/r2" --random-features 8 --seed 7 >/dev/null || fail=1
cmp -s "$T/r1/fired_rows.npy" "$T/r2/fired_rows.npy" || { echo "FAIL: seeded draw differs"; fail=1; }
$MPIRUN -np 2 "$GSAE" pca --case "$src" --out "$T/f" --features 3,17,100,101,250,311,400,509 \
    >/dev/null || fail=1
cmp -s "$T/f/fired_rows.npy" "$src/expected_fired_rows.npy" || cmp -s <("$PY3" -c "
import numpy as np; print(np.load('$T/f/fired_rows.npy').tolist())") <("$PY3" -c "
import numpy as np; print(np.load('$src/expected_fired_rows.npy').tolist())") ||
    { echo "FAIL: --features with the case's list selects other rows"; fail=1; }
exit $fail
