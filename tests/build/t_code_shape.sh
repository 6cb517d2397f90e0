#!/usr/bin/env bash
# The code keeps the shape its layering promises (tests/build/code_shape.py): files of at most
# 600 lines, functions of at most 80, the command layer (jobs/) under a quarter of the code with
# no MPI or BLAS call, includes pointing down only. The checker is first shown to catch each
# kind of violation on a small made-up tree, then run on this tree.
set -euo pipefail
cd "$T"
check() { /usr/bin/python3 "$TOP/tests/build/code_shape.py" "$1"; }
mk() { # a tree that passes: src/ and io/ large enough that jobs/ stays under a quarter
    rm -rf tree && mkdir -p tree/src tree/io tree/mpi tree/jobs tree/report tree/tools tree/tests
    for d in src io mpi report; do
        { echo "int f_$d(void);"; echo "int f_$d(void)"; echo "{"; echo "    return 0;";
          echo "}"; for i in $(seq 1 100); do echo "/* $i */"; done; } > "tree/$d/a.c"
    done
    printf 'int main(void)\n{\n    return 0;\n}\n' > tree/jobs/main.c
}
mk
check tree >out.txt || { cat out.txt; echo "FAIL: a clean tree is rejected"; exit 1; }
expect() { # expect WHAT PATTERN: the checker fails on the tree and names the violation
    if check tree >out.txt; then cat out.txt; echo "FAIL: $1 not caught"; exit 1; fi
    grep -q "$2" out.txt || { cat out.txt; echo "FAIL: $1: no line matching '$2'"; exit 1; }
    echo "caught: $1"
}
mk; for i in $(seq 1 601); do echo "/* $i */"; done > tree/io/big.c
expect "file of 601 lines" "io/big.c: 601 lines"
mk; { echo "void g(void)"; echo "{"; for i in $(seq 1 80); do echo "    ;"; done; echo "}"; } > tree/mpi/g.c
expect "function of 82 lines" "mpi/g.c:1: function of 82 lines"
mk; printf 'void h(void)\n{\n    MPI_Barrier(MPI_COMM_WORLD);\n}\n' > tree/jobs/h.c
expect "MPI call in jobs/" "jobs/h.c:3: MPI call"
mk; printf 'void h(void)\n{\n    cblas_sgemm(0);\n}\n' > tree/jobs/h.c
expect "BLAS call in jobs/" "jobs/h.c:3: BLAS call"
mk; printf '#include "../jobs/cli.h"\n' > tree/io/up.c
expect "an include pointing up" "io/up.c:1: io/ includes jobs/"
mk; for i in $(seq 1 200); do echo "/* $i */"; done > tree/jobs/more.c
expect "jobs/ over a quarter" "jobs/: .* not under a quarter"
check "$TOP"
