#!/usr/bin/env bash
# `gsae plan` prints the stage plan: explicit truncated stages for 9B, a balanced 2B split where
# the unembedding takes a stage's share, replicas, and clear refusals.
set -u
# Under ASan, unwind malloc stacks fully so the MPI leak suppressions (tests/lsan.supp) match.
[ -z "${GSAE_SAN:-}" ] || export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
status=0
fail() { echo "FAIL: $*"; status=1; }
out=$("$GSAE" plan --preset 9b --ranks 6 --stages 3 --upto 20) || fail "9b plan failed"
echo "$out"
echo "$out" | grep -q "6 ranks = 2 replicas x 3 stages; layers 0-20 of 42 (truncated" || fail "9b header"
echo "$out" | grep -Eq "^2 +2,5 +14-20 " || fail "9b: stage 2 should run layers 14-20 on ranks 2,5"
out=$("$GSAE" plan --preset 2b --ranks 2) || fail "2b plan failed"
echo "$out"
echo "$out" | grep -Eq "^1 +1 +[0-9]+-25 +- +yes" || fail "2b: last stage should unembed"
out=$("$GSAE" plan "$TESTDATA/gemma2/tiny-mqa-bf16" --ranks 4) || fail "tiny plan failed"
echo "$out" | grep -Eq "^3 +3 +- +- +yes" || fail "tiny: 4th stage should hold only the unembedding"
"$GSAE" plan --preset 2b --ranks 3 --stages 2 2>"$T/e" && fail "3 ranks in 2 stages accepted"
grep -q "does not divide the 3 ranks" "$T/e" || fail "unclear: $(cat "$T/e")"
"$GSAE" plan --preset 9b --layers 0-6,7-13,14-20 2>"$T/e" && fail "truncated spec with logits accepted"
grep -q "logits need every layer" "$T/e" || fail "unclear: $(cat "$T/e")"
exit $status
