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
# same_rows A.npy B.npy: the same row indices, byte for byte or, failing that, by value (the
# .npy headers may differ). Fails when either file is missing, unreadable or empty.
same_rows() {
    [ -s "$1" ] && [ -s "$2" ] && cmp -s "$1" "$2" && "$PY3" -c "
import sys, numpy as np; sys.exit(0 if np.load(sys.argv[1]).size > 0 else 1)" "$1" && return 0
    "$PY3" - "$1" "$2" <<'PY'
import sys
import numpy as np
a, b = (np.load(p).ravel().tolist() for p in sys.argv[1:3])
if not a or not b:
    sys.exit(f"{sys.argv[1]}: {len(a)} rows, {sys.argv[2]}: {len(b)} rows: nothing to compare")
sys.exit(0 if a == b else f"{len(a)} rows vs {len(b)}, first difference at "
         f"{next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))}")
PY
}
same_rows "$T/f/fired_rows.npy" "$src/expected_fired_rows.npy" ||
    { echo "FAIL: --features with the case's list selects other rows"; fail=1; }
# The fallback by value: the expected rows in another integer type pass, one row changed fails.
# It cannot pass on nothing: a missing file, two missing files, two empty arrays.
"$PY3" -c "
import numpy as np
e = np.load('$src/expected_fired_rows.npy')
np.save('$T/other_type.npy', e.astype(np.int32 if e.dtype == np.int64 else np.int64))
e = e.copy(); e[-1] += 1; np.save('$T/changed.npy', e)
np.save('$T/none.npy', np.zeros(0, np.int64))" || fail=1
same_rows "$T/other_type.npy" "$src/expected_fired_rows.npy" ||
    { echo "FAIL: same rows in another integer type differ"; fail=1; }
for pair in "$T/changed.npy $src/expected_fired_rows.npy" "$T/f/fired_rows.npy $T/missing.npy" \
            "$T/missing.npy $T/missing2.npy" "$T/none.npy $T/none.npy"; do
    # shellcheck disable=SC2086
    if same_rows $pair 2>"$T/same.err"; then
        echo "FAIL: same_rows passed on $pair"; fail=1
    else
        echo "ok: same_rows fails on $pair: $(tail -n 1 "$T/same.err")"
    fi
done
exit $fail
