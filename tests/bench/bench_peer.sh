#!/usr/bin/env bash
# Peer figures in the same run as bench_engine: the same Gemma-2 layer prefill (2B and 9B
# dimensions, T = 512 and 1024, bf16 and f32, per layer) in PyTorch (tests/bench/peer_torch.py),
# when Debian's python3-torch is installed; otherwise one "skipped" line. Not in `make deps`:
# it is a comparison, not something gsae needs. usage: tests/bench/bench_peer.sh BUILD_DIR
set -uo pipefail
THREADS=${GSAE_BENCH_THREADS:-2}
/usr/bin/python3 "$(dirname "$0")/peer_torch.py" "$THREADS" 5
rc=$?
[ $rc -eq 3 ] && exit 0 # not installed: said so
exit $rc
