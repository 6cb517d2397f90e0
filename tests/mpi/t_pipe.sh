#!/usr/bin/env bash
# The pipeline on 2, 3 and 4 ranks (every stage count that divides them, so also replicas)
# gives bit-identical prefill rows, generation logits and tokens to direct forward calls on an
# in-memory random model, and hooks run only on the stage owning the hooked layer.
set -euo pipefail
for np in 2 3 4; do
    $MPIRUN -np $np "$BUILD/tests/test_pipe"
done
