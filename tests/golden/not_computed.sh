# Sourced by the scripts that compare `gsae golden` output with a case's expected.safetensors
# (tests/golden/compare.py). The golden cases hold tensors `gsae golden` does not compute yet:
# name them here, and only here, as fnmatch globs. An expected tensor matching none of them
# must be in the output. Remove a glob when its tensors are computed (compare.py says so).
#   attrib.*   attribution: attrib.<metric>.{metric,grad,features,error}
GOLDEN_NOT_COMPUTED=('attrib.*')
# The options for compare.py: --not-computed GLOB for each.
GOLDEN_NOT_COMPUTED_ARGS=()
for _g in "${GOLDEN_NOT_COMPUTED[@]}"; do GOLDEN_NOT_COMPUTED_ARGS+=(--not-computed "$_g"); done
unset _g
