#!/usr/bin/env bash
# bench/steady_state.py, the PyTorch bench's steady-state timing, on a synthetic slow start
# (tests/check_steady_state.py); its C twin is tests/test_bench_steady.c.
set -u
src=${BNTRAIN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if ! command -v python3 > /dev/null; then
    echo "test_bench_steady_py: SKIPPED: python3 is not installed" >&2
    exit 77
fi
python3 "$src/tests/check_steady_state.py" -v
