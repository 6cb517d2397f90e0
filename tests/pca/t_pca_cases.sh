# gsae pca --case on the reference cases (scikit-learn 1.2.1 results) on 1, 2 and 4 ranks.
set -u
command -v "$PY3" >/dev/null || { echo "skip: no $PY3"; exit 77; }
"$PY3" -c "import numpy" 2>/dev/null || { echo "skip: $PY3 has no numpy"; exit 77; }
fail=0
for case in "$TESTDATA"/pca/*/; do
    for np in $(gsae_np 1 4); do
        out="$T/$(basename "$case")-np$np"
        echo "== $(basename "$case") on $np ranks"
        if ! $MPIRUN -np $np "$GSAE" pca --case "$case" --out "$out"; then
            echo "FAIL: gsae pca exited non-zero"; fail=1; continue
        fi
        "$PY3" "$TOP/tests/pca/compare.py" "$case" "$out" || fail=1
    done
done
exit $fail
