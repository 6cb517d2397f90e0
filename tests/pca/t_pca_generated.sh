# gsae pca --case on generated cases of the reference format, with scikit-learn's results:
# d not a multiple of the block, k larger than the rank count, d = 1 (smaller than the grid),
# fewer rows than ranks, a large common offset (centering), a reconstruction with more
# features and other sizes. Each runs on 1, 2, 3 and 4 ranks.
set -u
"$PY3" -c "import numpy, sklearn" 2>/dev/null || { echo "skip: $PY3 lacks numpy or sklearn"; exit 77; }
mk="$TOP/tests/pca/make_case.py"
"$PY3" "$mk" "$T/d131" dense 700 131 7 1 || exit 1
"$PY3" "$mk" "$T/d1" dense 50 1 1 2 || exit 1
"$PY3" "$mk" "$T/n3" dense 3 5 2 3 || exit 1
"$PY3" "$mk" "$T/offset" dense 400 20 4 4 10000 || exit 1
"$PY3" "$mk" "$T/r70" reconstruction 900 300 70 6 5 1,2,3,50,77,120,121,200,250,299 || exit 1
fail=0
for case in d131 d1 n3 offset r70; do
    for np in $(gsae_np 1 4); do
        echo "== $case on $np ranks"
        if ! $MPIRUN -np $np "$GSAE" pca --case "$T/$case" --out "$T/$case-out$np" --chunk-rows 64; then
            echo "FAIL: gsae pca exited non-zero"; fail=1; continue
        fi
        res=$("$PY3" "$TOP/tests/pca/compare.py" "$T/$case" "$T/$case-out$np"); rc=$?
        echo "$res" | tail -2
        [ $rc -eq 0 ] || fail=1
    done
done
exit $fail
