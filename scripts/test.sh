#!/usr/bin/env bash
# Builds bntrain and runs every test. `scripts/test.sh --sanitize` does the same in a separate
# AddressSanitizer + UndefinedBehaviorSanitizer build. Tests read real data from ../shared/data
# (or $BNTRAIN_DATA) and say loudly when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
    build=build-sanitize
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBNTRAIN_SANITIZE=ON)
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
cmake -S . -B "$build" "${flags[@]}" > /dev/null
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j 1
