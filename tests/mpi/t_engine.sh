#!/usr/bin/env bash
# engine_open with SAEs at layers 1, 2 and 3 on 2 ranks (2 stages) and 4 ranks (2 replicas x 2
# stages): each hook's last-token features equal those of an engine with that SAE alone, and one
# prefill calls every hook's subscribers on the owning stage only (tests/unit/test_engine.c).
set -euo pipefail
export OMPI_MCA_orte_tmpdir_base="$T"
for np in 2 4; do
    $MPIRUN -np $np "$BUILD/tests/test_engine"
done
