# Sourced by the scripts that compare `gsae golden` output with a case's expected.safetensors
# (tests/golden/compare.py). The golden cases hold tensors `gsae golden` does not compute yet:
# name them here, and only here, as fnmatch globs. An expected tensor matching none of them
# must be in the output. Remove a glob when its tensors are computed (compare.py says so).
# Today `gsae golden` computes every tensor the cases hold, attribution included.
GOLDEN_NOT_COMPUTED=()
# The options for compare.py: --not-computed GLOB for each.
GOLDEN_NOT_COMPUTED_ARGS=()
for _g in "${GOLDEN_NOT_COMPUTED[@]}"; do GOLDEN_NOT_COMPUTED_ARGS+=(--not-computed "$_g"); done
unset _g
