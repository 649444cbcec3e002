#!/usr/bin/env bash
# One command for bntrain's throughput numbers: builds Release in build-bench/, then measures
# the GEMM ceiling (single-threaded OpenBLAS sgemm with the widest kernel the CPU has, chosen
# as bntrain chooses it), bntrain's training throughput (1 run on 1 core; one run per core at
# once, as a grid runs; 1 run on all cores) and PyTorch's with the same OpenBLAS kernel, for
# FC/MNIST and CNN/CIFAR-10, and prints one table. Full reports go to build-bench/bench-logs/.
#
#   bash bench/run.sh [--steps N] [--repeat R] [--data-dir DIR] [--no-pytorch]
#
# Every measurement runs R times (default 2), interleaved, and the table shows the best of the
# R for each side: on a shared virtual machine one run can be 30 % slower than the next.
# OPENBLAS_CORETYPE is set only for the PyTorch commands, never for tests or CI. About 2.5
# minutes per repeat on an idle 2-core machine with --steps 200.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=300
repeat=2
data_dir=${BNTRAIN_DATA:-../shared/data}
with_pytorch=1
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --data-dir) data_dir=$2; shift 2 ;;
        --no-pytorch) with_pytorch=0; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

build="build-bench"
logs=$build/bench-logs
python=/usr/bin/python3 # Debian's python3-torch; the pyenv python3 first on PATH has no torch
cores=$(nproc)
bench=$build/bench_throughput # or $build/bench/bench_throughput once CMake builds it

build_bench() {
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > "$logs/build.log" 2>&1
    cmake --build "$build" -j "$cores" --target bntrain_lib >> "$logs/build.log" 2>&1
    if grep -q '^ *add_subdirectory(bench)' CMakeLists.txt; then
        cmake --build "$build" -j "$cores" --target bench_throughput >> "$logs/build.log" 2>&1
        bench=$build/bench/bench_throughput
    else
        # Until the top-level CMakeLists.txt adds bench/: the same Release flags, by hand.
        # shellcheck disable=SC2046
        cc -std=c11 -D_DEFAULT_SOURCE -O3 -DNDEBUG -fopenmp -Wall -Wextra -Wshadow \
            -Wno-unused-parameter -Iinclude $(pkg-config --cflags openblas) \
            bench/bench_throughput.c bench/gemm_ceiling.c bench/blas_runtime.c \
            "$build/libbntrain.a" \
            $(pkg-config --libs openblas) -lpng -lz -lm -o "$bench" >> "$logs/build.log" 2>&1
    fi
}

# Percentage of all cores busy over one second, from /proc/stat: other people's jobs on the
# machine make every number here wrong, so run.sh waits for an idle machine and says how busy
# it was.
busy_percent() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    children_cpu_seconds
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# Waits up to 3 minutes for the machine to be idle (under 10 % busy), then goes on anyway.
wait_for_idle() {
    local waited=0 busy
    while busy=$(busy_percent) && [ "$busy" -ge 10 ] && [ $waited -lt 180 ]; do
        [ $waited = 0 ] && echo "machine ${busy}% busy with other processes: waiting" >&2
        sleep 9
        waited=$((waited + 10))
    done
}

# field LINE KEY: the value of KEY=VALUE in a `result ...` line.
field() {
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"
}

result_line() {
    grep '^result ' "$1" | tail -n 1
}

# Sets cpu_seconds to the CPU time used so far by this shell's finished children (second line
# of bash's `times`). Not in a $(...): a subshell would report its own children only.
cpu_seconds=0
children_cpu_seconds() {
    times > "$logs/.times"
    cpu_seconds=$(sed -n 2p "$logs/.times" | awk '{
        total = 0
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); total += 60 * t[1] + t[2] }
        printf "%.2f", total }')
}

# run_logged LOG ENV... -- COMMAND...: runs the command under `env ENV...`, report to LOG, and
# sets others_busy to the percentage of the machine that other processes used meanwhile (the
# machine's busy time from /proc/stat less the command's own CPU time).
others_busy=0
run_logged() {
    local log=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    echo "  $(basename "$log" .log)" >&2
    local a b cpu_before
    read -r -a a < <(grep '^cpu ' /proc/stat)
    children_cpu_seconds
    cpu_before=$cpu_seconds
    if ! env "${envs[@]}" "$@" > "$log" 2>&1; then
        echo "bench/run.sh: failed, see $log:" >&2
        tail -n 5 "$log" >&2
        return 1
    fi
    read -r -a b < <(grep '^cpu ' /proc/stat)
    children_cpu_seconds
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    others_busy=$(awk -v busy=$((total - idle)) -v total="$total" -v hz="$(getconf CLK_TCK)" \
        -v ours="$(awk -v a="$cpu_before" -v b="$cpu_seconds" 'BEGIN { print b - a }')" \
        'BEGIN { p = (total > 0) ? 100 * (busy - ours * hz) / total : 0
                 printf "%d", (p < 0) ? 0 : p }')
}

have_torch() {
    [ "$with_pytorch" = 1 ] && [ -x "$python" ] && "$python" -c 'import torch' 2> /dev/null
}

rows=()

# best_line FIELD LOG...: the `result` line, among the logs', with the largest FIELD.
best_line() {
    local key=$1 best="" best_value=-1 log line value
    shift
    for log in "$@"; do
        line=$(result_line "$log")
        value=$(field "$line" "$key")
        if [ -n "$value" ] && awk -v a="$value" -v b="$best_value" 'BEGIN { exit !(a > b) }'; then
            best=$line; best_value=$value
        fi
    done
    printf "%s" "$best"
}

# measure NAME ENV...: every measurement in one environment, --repeat times over, one table
# row per (arch, layout) with the best of the repeats for each side: 1 run on 1 core; one run
# per core at once (a grid); 1 run on all cores (bntrain train, or a grid's tail). PyTorch runs
# with the OpenBLAS kernel that bntrain's process chose (the `kernel` field of its report), so
# both sides use the same GEMM library settings.
measure() {
    local name=$1; shift
    echo "environment $name: ${*:-as set}" >&2
    local rep arch dataset layout kernel
    local -A busy=()
    for rep in $(seq "$repeat"); do
        local gemm_log=$logs/$name-gemm-r$rep.log
        run_logged "$gemm_log" "$@" -- "$bench" --gemm --threads "$cores"
        kernel=$(field "$(result_line "$gemm_log")" kernel)
        for arch in fc cnn; do
            dataset=mnist; [ "$arch" = cnn ] && dataset=cifar10
            if have_torch; then
                run_logged "$logs/$name-pytorch-$arch-r$rep.log" "$@" OPENBLAS_CORETYPE="$kernel" \
                    -- "$python" bench/pytorch_bench.py --arch "$arch" --data-dir "$data_dir" \
                    --steps "$steps" --cores "$cores"
                busy[$arch]=$(( others_busy > ${busy[$arch]:-0} ? others_busy : ${busy[$arch]:-0} ))
            fi
            for layout in "1 1" "$cores 1" "1 $cores"; do
                local runs=${layout% *} per_run=${layout#* }
                run_logged "$logs/$name-bntrain-$arch-${runs}x$per_run-r$rep.log" -- "$bench" \
                    --arch "$arch" --dataset "$dataset" --data-dir "$data_dir" \
                    --threads "$runs" --cores-per-run "$per_run" --steps "$steps"
                busy[$arch]=$(( others_busy > ${busy[$arch]:-0} ? others_busy : ${busy[$arch]:-0} ))
            done
        done
    done
    for arch in fc cnn; do
        for layout in "1 1" "$cores 1" "1 $cores"; do
            local runs=${layout% *} per_run=${layout#* } torch_field torch_line=""
            case "$layout" in
                "1 1") torch_field=single_samples_per_s ;;
                "1 "*) torch_field=threads_samples_per_s ;;
                *) torch_field=best_samples_per_s ;;
            esac
            have_torch && torch_line=$(best_line "$torch_field" "$logs/$name-pytorch-$arch"-r*.log)
            add_row "$name" "$arch" "$runs x $per_run" \
                "$(best_line samples_per_s "$logs/$name-bntrain-$arch-${runs}x$per_run"-r*.log)" \
                "$torch_line" "${busy[$arch]:-0}"
        done
    done
}

# callers_of RESULT: how many sgemm callers at once a bntrain report's ceiling had.
callers_of() {
    awk -v t="$(field "$1" threads)" -v c="$(field "$1" cores_per_run)" \
        'BEGIN { print (t + 0) * (c + 0) }'
}

# best_ceiling ENV CALLERS: the fastest 2048^3 sgemm per core seen with CALLERS callers at
# once, over every measurement of this session (the gemm reports and the ceiling each bntrain
# report measured before its run). A neighbour on the host only ever slows a measurement
# down, and one of them alone moved by up to 35 % here, so the best one is the machine's
# ceiling; bntrain's own figure is a best-of-R too.
best_ceiling() {
    local env=$1 callers=$2 log line best=0 value
    for log in "$logs/$env"-gemm-r*.log "$logs/$env"-bntrain-*.log; do
        [ -f "$log" ] || continue
        line=$(result_line "$log")
        case "$line" in
            *mode=gemm*)
                if [ "$callers" = 1 ]; then value=$(field "$line" square_gflops_1t)
                elif [ "$callers" = "$(field "$line" threads)" ]; then
                    value=$(field "$line" square_gflops_per_core)
                else value=0; fi ;;
            *mode=train*)
                if [ "$(callers_of "$line")" = "$callers" ]
                then value=$(field "$line" peak_gflops_per_core); else value=0; fi ;;
            *) value=0 ;;
        esac
        best=$(awk -v a="${value:-0}" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
    done
    echo "$best"
}

# best_bound ENV ARCH CALLERS: the most samples/s per run that the network's own sgemm calls
# alone allowed, over this session's bntrain reports with as many callers at once (the same
# reasoning as best_ceiling).
best_bound() {
    local log line best=0
    for log in "$logs/$1-bntrain-$2"-*.log; do
        [ -f "$log" ] || continue
        line=$(result_line "$log")
        [ "$(callers_of "$line")" = "$3" ] || continue
        best=$(awk -v a="$(field "$line" gemm_bound_samples_per_s)" -v b="$best" \
            'BEGIN { print (a + 0 > b) ? a + 0 : b }')
    done
    echo "$best"
}

# add_row ENV ARCH THREADS BNTRAIN_RESULT TORCH_RESULT BUSY_PERCENT
add_row() {
    local ours=$4 theirs=$5 torch="-" config="" ratio="-"
    if [ -n "$theirs" ]; then
        case "$3" in
            "1 x 1") torch=$(field "$theirs" single_samples_per_s); config=single ;;
            "1 x "*) torch=$(field "$theirs" threads_samples_per_s); config=threads ;;
            *) torch=$(field "$theirs" best_samples_per_s); config=$(field "$theirs" best_config) ;;
        esac
        ratio=$(awk -v a="$(field "$ours" samples_per_s)" -v b="$torch" \
            'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    fi
    rows+=("$(awk -v env="$1" -v arch="$2" -v t="$3" -v k="$(field "$ours" gemm)" \
        -v ours="$(field "$ours" samples_per_s)" -v torch="$torch" -v cfg="$config" \
        -v ratio="$ratio" -v peak="$(awk -v g="$(field "$ours" gflops_per_core)" \
            -v c="$(best_ceiling "$1" "$(callers_of "$ours")")" \
            'BEGIN { print (c > 0) ? g / c : 0 }')" \
        -v bound="$(awk -v r="$(field "$ours" samples_per_s_per_run)" \
            -v c="$(field "$ours" cores_per_run)" \
            -v b="$(best_bound "$1" "$2" "$(callers_of "$ours")")" \
            'BEGIN { print (b > 0) ? r / (c * b) : 0 }')" -v rph="$(field "$ours" runs_per_hour)" \
        -v busy="$6" \
        'BEGIN { format = "%-9s %-4s %12s  %-9s %10.0f  %10s  %-9s %6s" \
                          "  %9.0f%%  %9.0f%%  %7.1f  %4d%%"
                 printf format, env, arch, t, k, ours, torch == "-" ? "-" : sprintf("%.0f", torch),
                 cfg == "" ? "" : "(" cfg ")", ratio, 100 * peak, 100 * bound, rph, busy }')")
}

gemm_summary() {
    local line
    line=$(best_line square_gflops_1t "$logs/$1"-gemm-r*.log)
    printf "%-9s %-9s square 2048^3: %6.1f GFLOP/s on 1 core, %6.1f per core with %s at once" \
        "$1" "$(field "$line" kernel)" "$(field "$line" square_gflops_1t)" \
        "$(field "$line" square_gflops_per_core)" "$(field "$line" threads)"
    printf "; FC step %5.1f, CNN step %5.1f GFLOP/s on 1 core\n" \
        "$(field "$line" fc_step_gflops_1t)" "$(field "$line" cnn_step_gflops_1t)"
}

main() {
    mkdir -p "$logs"
    rm -f "$logs"/*.log # a skipped measurement must not leave an old report to be read
    local start=$SECONDS busy_before busy_after
    echo "building Release in $build/" >&2
    build_bench || { echo "bench/run.sh: build failed, see $logs/build.log" >&2; exit 1; }
    have_torch || echo "PyTorch: not importable by $python (apt-get install python3-torch)," \
        "or --no-pytorch: PyTorch columns left empty" >&2
    wait_for_idle
    busy_before=$(busy_percent)
    local envs=(default)
    measure default
    busy_after=$(busy_percent)

    echo
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores;" \
        "default environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
        "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
    echo "other load on the machine: ${busy_before}% of all cores busy before," \
        "${busy_after}% after (numbers are only good near 0%)"
    local e
    for e in "${envs[@]}"; do gemm_summary "$e"; done
    echo
    echo "training samples/s, best of $repeat, batch 128, $steps timed steps per run; runs x cores: 1 x 1 one run" \
        "on one core (PyTorch: single), $cores x 1 one run per core at once as a grid (PyTorch:" \
        "best of one process with all threads and one process per core), 1 x $cores one run on" \
        "all cores (PyTorch: one process with all threads)"
    printf "%-9s %-4s %12s  %-9s %10s  %10s  %-9s %6s  %10s  %10s  %7s  %5s\n" env arch "runs x cores" \
        gemm bntrain PyTorch config ratio "GEMM peak" "GEMM bound" runs/h busy
    printf "%s\n" "${rows[@]}"
    echo
    echo "GEMM peak: bntrain's GEMM FLOP rate / single-threaded sgemm 2048^3, as many at once" \
        "(the best of all this session's measurements of it)."
    for e in "${envs[@]}"; do
        echo "$e ceilings used: $(best_ceiling "$e" 1) GFLOP/s with 1 at once," \
            "$(best_ceiling "$e" "$cores") per core with $cores at once"
    done
    echo "GEMM bound: bntrain's samples/s / what the network's own sgemm calls alone allow."
    echo "runs/h: grid runs (5 epochs on the full data, then the test set) per hour, all cores."
    echo "busy: the most that other processes used of the machine during this row's bntrain or"
    echo "PyTorch measurement; the numbers are good only near 0%."
    echo "Reports: $logs/ ($((SECONDS - start)) s)"
}

main
