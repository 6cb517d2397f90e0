#!/usr/bin/env bash
# PCA benchmark: gsae pca (1 and 2 ranks) next to scikit-learn's PCA on the same rows.
#
#   tests/bench/bench_pca.sh [BUILD_DIR]     (env: BENCH_PCA_ROWS, BENCH_PCA_D, BENCH_PCA_K,
#                                             BENCH_PCA_DIR, BENCH_PCA_SKLEARN="auto full")
# Rows: N x d float32, low rank (32) plus noise, made once by numpy from a fixed seed and kept
# in BENCH_PCA_DIR (default /tmp/gsae-bench-pca; 200k x 2304 is 1.8 GB, never committed).
# Prints wall time and peak RSS per rank (GNU time %M, kB -> MiB) and the agreement of the
# top components and explained variance between gsae and scikit-learn.
set -euo pipefail
BUILD=${1:-build}
source "$(dirname "$0")/../env.sh"
N=${BENCH_PCA_ROWS:-200000} D=${BENCH_PCA_D:-2304} K=${BENCH_PCA_K:-10}
DIR=${BENCH_PCA_DIR:-/tmp/gsae-bench-pca}/${N}x${D}
SOLVERS=${BENCH_PCA_SKLEARN:-auto}  # "auto full" adds the exact LAPACK SVD (about 10 minutes)
GSAE="$(cd "$BUILD" && pwd)/gsae"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "skip: bench_pca needs GNU time (/usr/bin/time)"; exit 77; }
mkdir -p "$DIR"
if [ ! -f "$DIR/X.npy" ]; then
    echo "bench_pca: writing $N x $D float32 rows to $DIR/X.npy"
    "$PY3" - "$DIR" "$N" "$D" <<'PY'
import sys
import numpy as np
d, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(20240601)
W = rng.standard_normal((32, dim)) * np.linspace(4.0, 0.5, 32)[:, None]
offset = rng.standard_normal(dim) * 3
X = np.lib.format.open_memmap(d + "/X.npy.tmp", mode="w+", dtype=np.float32, shape=(n, dim))
for s in range(0, n, 20000):
    e = min(n, s + 20000)
    X[s:e] = (rng.standard_normal((e - s, 32)) @ W + rng.standard_normal((e - s, dim)) + offset)
X.flush(); del X
import os; os.replace(d + "/X.npy.tmp", d + "/X.npy")
PY
fi
printf '{"kind": "dense", "n_components": %d}\n' "$K" > "$DIR/meta.json"
cat "$DIR/X.npy" > /dev/null  # warm the page cache for every contender alike

run_gsae() { # run_gsae RANKS THREADS
    local out="$DIR/out-np$1" log="$DIR/time-np$1"
    rm -f "$log".* "$log.out"
    local t0; t0=$(date +%s.%N)
    OPENBLAS_NUM_THREADS=$2 OMP_NUM_THREADS=$2 $MPIRUN -np "$1" \
        sh -c "exec $TIME -f '%M' -o '$log.'\$OMPI_COMM_WORLD_RANK '$GSAE' pca --case '$DIR' --out '$out'" >"$log.out"
    local t1; t1=$(date +%s.%N)
    local rss; rss=$(cat "$log".[0-9]* | sort -n | awk '{printf "%s%.0f", sep, $1 / 1024; sep = " / "}')
    printf 'gsae pca      %d rank(s) x %d BLAS thread(s): %7.2f s wall, peak RSS per rank %s MiB\n' \
        "$1" "$2" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$rss"
    sed -n 's/.*rank 0 seconds: /    phases (rank 0, s): /p' "$log.out"
}
echo "bench_pca: $N x $D float32 rows, k = $K, $(getconf _NPROCESSORS_ONLN) cores"
run_gsae 1 "$(getconf _NPROCESSORS_ONLN)"
run_gsae 2 1
for solver in $SOLVERS; do
    OPENBLAS_NUM_THREADS=$(getconf _NPROCESSORS_ONLN) OMP_NUM_THREADS=$(getconf _NPROCESSORS_ONLN) "$PY3" - "$DIR" "$K" "$solver" <<'PY'
import resource, sys, time
import numpy as np
from sklearn.decomposition import PCA
d, k, solver = sys.argv[1], int(sys.argv[2]), sys.argv[3]
X = np.load(d + "/X.npy", mmap_mode="r")
t0 = time.perf_counter()
X = np.asarray(X)  # sklearn reads it all: count the load in its time
p = PCA(n_components=k, svd_solver=solver, random_state=0).fit(X)
T = p.transform(X)
t = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"sklearn PCA   svd_solver={solver:10s} ({p._fit_svd_solver}, float32): {t:7.2f} s wall, "
      f"peak RSS {rss:.0f} MiB")
C = np.load(d + "/out-np2/components.npy")
ev = np.load(d + "/out-np2/explained_variance.npy")
dots = np.abs(np.sum(C * p.components_, axis=1) / np.linalg.norm(p.components_, axis=1))
print(f"  vs gsae (2 ranks): min |dot| of components {dots.min():.6f}, max rel diff of "
      f"explained variance {np.max(np.abs(ev - p.explained_variance_) / ev):.2e}")
PY
done
