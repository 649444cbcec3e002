#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -DBNTRAIN_FUZZ=ON, ASan + UBSan, in
# build-fuzz) and runs each for SECONDS, one after the other:
#
#   scripts/fuzz.sh SECONDS [TARGET...]      e.g. scripts/fuzz.sh 30, scripts/fuzz.sh 600 fuzz_idx
#
# Each target starts from its seed corpus (tests/fuzz/corpus/TARGET, read only) and from the
# inputs earlier runs found (build-fuzz/fuzz/TARGET/corpus, kept between runs). Prints per
# target the executions, executions per second, coverage (libFuzzer's cov: edges, ft: features)
# and crashes. Exits 1 if any target crashed, leaked, hung or broke one of its checks: the input
# is then in build-fuzz/fuzz/TARGET/ (crash-*, leak-*, timeout-*, oom-*), and
# build-fuzz/tests/fuzz/TARGET FILE replays it. Readers that need files get them in $TMPDIR
# (default /dev/shm when writable: no disk writes, fsync is free there).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift
build=build-fuzz
if ! command -v clang > /dev/null; then
    echo "fuzz: clang is missing (scripts/install_deps.sh installs it)" >&2
    exit 1
fi
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBNTRAIN_FUZZ=ON > /dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz > "$build/fuzz-build.log" 2>&1 ||
    { tail -n 30 "$build/fuzz-build.log" >&2; exit 1; }

if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for source in tests/fuzz/fuzz_*.c; do
        name=$(basename "$source" .c)
        [ "$name" = fuzz_common ] || targets+=("$name")
    done
fi

# The inputs libFuzzer saved in a target's folder: what crashed, leaked, hung or ran out of memory.
artifacts() {
    find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
        -o -name 'oom-*' \) | wc -l
}

summary=()
failed=0
for target in "${targets[@]}"; do
    binary=$build/tests/fuzz/$target
    [ -x "$binary" ] || { echo "fuzz: no target $target" >&2; exit 2; }
    work=$build/fuzz/$target
    mkdir -p "$work/corpus"
    seeds=tests/fuzz/corpus/$target
    [ -d "$seeds" ] || { echo "fuzz: $target has no seed corpus in $seeds" >&2; exit 1; }
    dict=()
    [ -f "tests/fuzz/$target.dict" ] && dict=("-dict=tests/fuzz/$target.dict")
    before=$(artifacts "$work")
    echo "fuzz: $target for $seconds s" >&2
    status=0
    "$binary" "$work/corpus" "$seeds" "${dict[@]}" -max_total_time="$seconds" -timeout=25 \
        -print_final_stats=1 -artifact_prefix="$work/" > "$work/log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
    coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$work/log" | tail -n 1)
    crashes=$(( $(artifacts "$work") - before ))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    line=$(printf '%-18s %12s runs %8s exec/s   %-20s crashes: %d' "$target" "${runs:-?}" \
        "${speed:-?}" "${coverage:-cov: ?}" "$crashes")
    summary+=("$line")
    if [ "$crashes" -gt 0 ]; then
        failed=1
        grep -E 'ERROR|SUMMARY|runtime error|fuzz check failed|Test unit written' "$work/log" |
            head -n 20 >&2 || true
        echo "fuzz: $target failed: input and log in $work/" >&2
    fi
done
echo "fuzz: ${seconds} s per target, seeds from tests/fuzz/corpus"
printf '%s\n' "${summary[@]}"
exit "$failed"
