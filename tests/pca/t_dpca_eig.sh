# The distributed eigen-solve (ScaLAPACK pdsyevr over 1x2, 1x3 and 2x2 grids) against serial
# LAPACK dsyevr: test_pca prints each case's scaled residual ||AV - VL||_F / (eps ||A||_F n),
# orthogonality and eigenvalue error with PASS/FAIL (threshold 16) and fails on any FAIL.
set -u
fail=0
for np in $(gsae_np 2 4); do
    echo "== $np ranks"
    $MPIRUN -np $np "$BUILD/tests/test_pca" > "$T/out$np" 2>&1 || fail=1
    grep '^eig ' "$T/out$np"
    grep -q '^eig .*PASS' "$T/out$np" || fail=1
    ! grep -q '^eig .*FAIL' "$T/out$np" || fail=1
done
exit $fail
