#!/usr/bin/env bash
# bench/run.sh --quick end to end on FC/MNIST: bntrain and PyTorch side by side in one table,
# the machine named, every row with both sides' numbers and a ratio; and run.sh's usage errors.
# A smoke test of the pipeline, not of speed: --quick's windows are too short for steady
# state. Skipped (77) without PyTorch, without the bench program (built only where OpenBLAS
# is) or without the shared MNIST.
set -u
src=${BNTRAIN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${BNTRAIN_BUILD_DIR:-$src/build}
bench=$build/bench/bench_throughput
data=${BNTRAIN_DATA:-${BNTRAIN_SHARED_DATA:-${BNTRAIN_SHARED_DATA_DEFAULT:-$src/../shared/data}}}
skip() {
    echo "test_bench: SKIPPED: $*" >&2
    exit 77
}
/usr/bin/python3 -c 'import torch' 2> /dev/null ||
    skip "no PyTorch for /usr/bin/python3 (apt-get install python3-torch)"
[ -x "$bench" ] || skip "no $bench (bench/ is built only where OpenBLAS is)"
[ -d "$data/mnist" ] || skip "no MNIST in $data (\$BNTRAIN_SHARED_DATA or \$BNTRAIN_DATA)"
work=$(mktemp -d /tmp/bntrain-bench-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "test_bench: FAILED: $what" >&2
    fi
}

status=0
bash "$src/bench/run.sh" --repeat 0 > /dev/null 2> "$work/err" || status=$?
check "--repeat 0 is a usage error" [ "$status" = 2 ]
status=0
bash "$src/bench/run.sh" --arch vgg16 > /dev/null 2> "$work/err" || status=$?
check "--arch vgg16 without --deep is a usage error" grep -q -- "--deep" "$work/err"
status=0
bash "$src/bench/run.sh" --arch "fc resnet" --deep > /dev/null 2> "$work/err" || status=$?
check "--arch with an unknown network: exit 2, the networks named" \
    test $status -eq 2 -a "$(grep -c "preact-resnet18" "$work/err")" -eq 1
status=0
bash "$src/bench/run.sh" --isa sse > /dev/null 2> "$work/err" || status=$?
check "--isa sse is a usage error" [ "$status" = 2 ]
status=0
bash "$src/bench/run.sh" --layouts 3x1 > /dev/null 2> "$work/err" || status=$?
check "--layouts 3x1 is a usage error naming it (status $status)" \
    [ "$status" = 2 ] && grep -q -- "--layouts '3x1'" "$work/err"
status=0
BNTRAIN_ISA=sse "$bench" --gemm > /dev/null 2> "$work/err" || status=$?
check "bench_throughput: BNTRAIN_ISA=sse is a usage error naming it (status $status)" \
    [ "$status" = 2 ] && grep -q "BNTRAIN_ISA='sse'" "$work/err"
status=0
"$bench" --winograd f6 > /dev/null 2> "$work/err" || status=$?
check "bench_throughput: --winograd f6 is a usage error naming it (status $status)" \
    [ "$status" = 2 ] && grep -q -- "--winograd must be auto or f2, not 'f6'" "$work/err"

status=0
bash "$src/bench/run.sh" --quick --arch fc --bench "$bench" --data-dir "$data" \
    --logs "$work/logs" > "$work/out" 2> "$work/err" || status=$?
check "run.sh --quick exits 0 (status $status)" [ "$status" = 0 ]
check "the machine is named with OpenBLAS's core type" \
    grep -q "^machine: .* cores; OpenBLAS core type (kernel): [A-Za-z]" "$work/out"
# default fc 1 "1 x 1" gemm bntrain [spread] PyTorch [spread] (config) ratio: fields 8, 10, 13
rows=$(awk '$1 == "default" && $2 == "fc" && $8 + 0 > 0 && $10 + 0 > 0 && $13 + 0 > 0' \
    "$work/out" | wc -l)
check "three FC rows with bntrain, PyTorch and a ratio (got $rows)" [ "$rows" = 3 ]
check "PyTorch's configurations named" grep -q "(single).*(threads)" <(tr '\n' ' ' < "$work/out")
check "PyTorch's report says whether it was steady" \
    grep -q "^result .* steady=" "$work/logs/default-pytorch-fc-w1-r1.log"

# --layouts 1x1: one row, and PyTorch asked for its single-threaded configuration alone.
status=0
bash "$src/bench/run.sh" --quick --arch fc --bench "$bench" --data-dir "$data" --layouts 1x1 \
    --logs "$work/logs-1x1" > "$work/out-1x1" 2> "$work/err" || status=$?
check "run.sh --quick --layouts 1x1 exits 0 (status $status)" [ "$status" = 0 ]
rows=$(awk '$1 == "default" && $2 == "fc" && $8 + 0 > 0 && $10 + 0 > 0' "$work/out-1x1" | wc -l)
check "--layouts 1x1: one FC row with both sides (got $rows)" [ "$rows" = 1 ]
check "--layouts 1x1: only the 1x1 bntrain report" \
    [ "$(ls "$work/logs-1x1" | grep -c -- '-bntrain-')" = 1 ]
check "--layouts 1x1: PyTorch ran single alone" \
    grep -q "^result .*single_samples_per_s=[0-9]" "$work/logs-1x1/default-pytorch-fc-w1-r1.log"
check "--layouts 1x1: PyTorch ran no threads configuration" \
    bash -c '! grep -q "threads_samples_per_s=[0-9]" "$1"' _ \
    "$work/logs-1x1/default-pytorch-fc-w1-r1.log"
[ "$failed" -gt 0 ] && cat "$work/out-1x1" >&2

# --isa avx2 (where the CPU has it): bntrain's kernels and OpenBLAS's both at that level.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    status=0
    bash "$src/bench/run.sh" --quick --arch fc --bench "$bench" --data-dir "$data" --isa avx2 \
        --no-pytorch --logs "$work/logs-avx2" > "$work/out-avx2" 2> "$work/err" || status=$?
    check "run.sh --quick --isa avx2 exits 0 (status $status)" [ "$status" = 0 ]
    check "--isa avx2: OpenBLAS's Haswell kernel, BNTRAIN_ISA named" grep -q \
        "kernel): Haswell; environment: BNTRAIN_ISA=avx2 OPENBLAS_CORETYPE=Haswell" "$work/out-avx2"
    check "--isa avx2: bntrain's reports say avx2" \
        grep -q "^result .*gemm=avx2" "$work/logs-avx2/avx2-bntrain-fc-w1-1x1-r1.log"
    rows=$(awk '$1 == "avx2" && $2 == "fc" && $8 + 0 > 0' "$work/out-avx2" | wc -l)
    check "--isa avx2: three FC rows (got $rows)" [ "$rows" = 3 ]
    [ "$failed" -gt 0 ] && cat "$work/out-avx2" >&2
fi
if [ "$failed" -gt 0 ]; then
    cat "$work/out" "$work/err" >&2
fi
echo "test_bench: $passed passed, $failed failed"
[ "$failed" = 0 ]
