#!/usr/bin/env bash
# One command for bntrain's throughput numbers, bntrain and PyTorch side by side: builds
# Release in build-bench/, then measures the GEMM ceiling (single-threaded OpenBLAS sgemm with
# the widest kernel the CPU has, chosen as bntrain chooses it), bntrain's training throughput
# (1 run on 1 core; one run per core at once, as a grid runs; 1 run on all cores) and PyTorch's
# (single; best of one process per core and one process with all threads; all threads) with
# the same OpenBLAS kernel, for FC/MNIST and CNN/CIFAR-10 and, with --deep, vgg16 and
# preact-resnet18 on CIFAR-10 at each of --widths (augmentation on, on both sides). Both sides
# time steady state (bench/steady_state.h: windows of 50 steps until two agree within 3 % after
# at least 200 steps, then at least 5 s), repeated R times, interleaved (bntrain, PyTorch,
# bntrain, PyTorch, ...); the table shows each side's median and min-max. Full reports go to
# build-bench/bench-logs/.
#
#   bash bench/run.sh [--repeat R] [--deep] [--widths "1 0.25"] [--arch "fc cnn"]
#                     [--quick] [--window N] [--min-warmup N] [--min-seconds S]
#                     [--data-dir DIR] [--no-pytorch] [--bench BINARY] [--logs DIR]
#                     [--isa portable|avx2|avx512] [--layouts "1x1 2x1 1x2"]
#
# --quick: a smoke run (windows of 5 steps, 10 warm-up steps at least, 0.5 s timed, short GEMM
# ceilings, 1 repeat unless --repeat follows): it checks that everything runs, its numbers are
# not steady state. --bench: an existing bench_throughput instead of building one. --deep at
# full width takes hours on 2 cores with the default windows; with --deep, --arch may name
# vgg16 or preact-resnet18 to measure only that one ("--arch preact-resnet18 --deep": it alone,
# no FC or CNN). OPENBLAS_CORETYPE is set only for
# the PyTorch commands, never for tests or CI. --isa: what a CPU of that level would give, on a
# wider one: BNTRAIN_ISA=LEVEL for bntrain, and OpenBLAS's kernel of that level for the ceiling
# and PyTorch (OPENBLAS_CORETYPE: portable Nehalem, SSE only; avx2 Haswell; avx512 SkylakeX),
# and PyTorch's oneDNN and ATen narrowed to match (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY).
# --layouts: only these runs x cores (default all three, N = the core count), and only the
# PyTorch configurations they are compared with; "1x1" alone makes a full-width --deep run
# with the default windows fit in about an hour per repeat on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=3
data_dir=${BNTRAIN_DATA:-../shared/data}
with_pytorch=1
archs="fc cnn"
deep=0
quick=0
widths="1 0.25"
bench=""
logs=""
isa=""
layouts_option=""
timing=() # steady-state options for both sides
ceiling=()
while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) repeat=$2; shift 2 ;;
        --data-dir) data_dir=$2; shift 2 ;;
        --no-pytorch) with_pytorch=0; shift ;;
        --arch) archs=$2; shift 2 ;;
        --deep) deep=1; shift ;;
        --widths) widths=$2; shift 2 ;;
        --bench) bench=$2; shift 2 ;;
        --logs) logs=$2; shift 2 ;;
        --isa) isa=$2; shift 2 ;;
        --layouts) layouts_option=$2; shift 2 ;;
        --window|--min-warmup|--max-warmup|--min-seconds|--tolerance)
            timing+=("$1" "$2"); shift 2 ;;
        --quick)
            repeat=1 quick=1
            timing+=(--window 5 --min-warmup 10 --max-warmup 50 --min-seconds 0.5)
            ceiling=(--ceiling-seconds 0.1)
            shift ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$repeat" in
    ''|*[!0-9]*|0) echo "bench/run.sh: --repeat '$repeat' is not a positive integer" >&2; exit 2 ;;
esac
# --isa: the OpenBLAS core type of each level that Debian's OpenBLAS 0.3.21 accepts
# (OPENBLAS_VERBOSE=2 names the core it took), exported for every command below; bntrain's
# bench keeps a kernel set this way (blas_runtime.c widens only one narrower than the level).
# PyTorch's convolutions are oneDNN's, narrowed by ONEDNN_MAX_CPU_ISA (ONEDNN_VERBOSE=1 names
# the level: SSE4.1 is its narrowest), and its own vector loops by ATEN_CPU_CAPABILITY.
isa_env=()
case "$isa" in
    '') ;;
    portable) isa_env=(BNTRAIN_ISA=portable OPENBLAS_CORETYPE=Nehalem
                       ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default) ;;
    avx2) isa_env=(BNTRAIN_ISA=avx2 OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2
                   ATEN_CPU_CAPABILITY=avx2) ;;
    avx512) isa_env=(BNTRAIN_ISA=avx512 OPENBLAS_CORETYPE=SkylakeX) ;;
    *) echo "bench/run.sh: --isa '$isa': portable, avx2 or avx512" >&2; exit 2 ;;
esac
[ ${#isa_env[@]} -eq 0 ] || export "${isa_env[@]}"
configs=()
deep_archs=""
for arch in $archs; do
    case "$arch" in
        fc|cnn) configs+=("$arch:1") ;;
        vgg16|preact-resnet18)
            if [ "$deep" != 1 ]; then
                echo "bench/run.sh: --arch '$arch': a deep network, measured with --deep" >&2
                exit 2
            fi
            deep_archs+=" $arch" ;;
        *) echo "bench/run.sh: --arch '$arch': fc, cnn, or with --deep vgg16 or preact-resnet18" >&2
           exit 2 ;;
    esac
done
if [ "$deep" = 1 ]; then
    for width in $widths; do
        for arch in ${deep_archs:-vgg16 preact-resnet18}; do configs+=("$arch:$width"); done
    done
fi

# Layouts as "RUNS PER_RUN" words, and the PyTorch configurations they are compared with
# (add_row: 1x1 with single, Nx1 with the best of threads and procs, 1xN with threads).
cores=$(nproc)
layouts=()
torch_configs=""
for layout in ${layouts_option:-1x1 ${cores}x1 1x${cores}}; do
    case "$layout" in
        1x1) torch_configs+=",single" ;;
        "${cores}x1") torch_configs+=",threads,procs" ;;
        "1x${cores}") torch_configs+=",threads" ;;
        *) echo "bench/run.sh: --layouts '$layout': 1x1, ${cores}x1 or 1x${cores}" >&2; exit 2 ;;
    esac
    layouts+=("${layout%x*} ${layout#*x}")
done
torch_configs=$(tr ',' '\n' <<< "${torch_configs#,}" | awk '!seen[$0]++' | paste -sd, -)

build="build-bench"
logs=${logs:-$build/bench-logs}
python=/usr/bin/python3 # Debian's python3-torch; the pyenv python3 first on PATH has no torch

build_bench() {
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > "$logs/build.log" 2>&1
    cmake --build "$build" -j "$cores" --target bench_throughput >> "$logs/build.log" 2>&1
    bench=$build/bench/bench_throughput
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

# Whether PyTorch runs here, asked once: importing torch takes seconds on a busy machine.
torch_found=""
have_torch() {
    if [ -z "$torch_found" ]; then
        torch_found=no
        [ "$with_pytorch" = 1 ] && [ -x "$python" ] && "$python" -c 'import torch' 2> /dev/null &&
            torch_found=yes
    fi
    [ "$torch_found" = yes ]
}

rows=()

# median_line FIELD LOG...: the `result` line, among the logs', with the median FIELD (the
# lower of the two middle ones for an even count); empty if no log has the field.
median_line() {
    local key=$1 log line value
    shift
    for log in "$@"; do
        [ -f "$log" ] || continue
        line=$(result_line "$log")
        value=$(field "$line" "$key")
        [ -n "$value" ] && printf "%s\t%s\n" "$value" "$line"
    done | sort -g | awk -F '\t' '{ lines[NR] = $2 } END { if (NR) print lines[int((NR + 1) / 2)] }'
}

# spread FIELD LOG...: "min-max" of FIELD over the logs' result lines, as integers.
spread() {
    local key=$1 log
    shift
    for log in "$@"; do
        [ -f "$log" ] && field "$(result_line "$log")" "$key"
    done | sort -g |
        awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.0f-%.0f", lo, hi }'
}

# all_steady LOG...: "yes" if every log's result line says steady=1, else "NO".
all_steady() {
    local log
    for log in "$@"; do
        [ -f "$log" ] || continue
        [ "$(field "$(result_line "$log")" steady)" = 1 ] || { echo NO; return; }
    done
    echo yes
}

# dataset_of ARCH: the dataset a network trains on here.
dataset_of() {
    if [ "$1" = fc ]; then echo mnist; else echo cifar10; fi
}

# measure NAME ENV...: every measurement in one environment, --repeat times over, interleaved
# (bntrain's layouts, then PyTorch's configurations, for each network, in each repeat), then
# one table row per (network, layout) with each side's median and spread: 1 run on 1 core;
# one run per core at once (a grid); 1 run on all cores (bntrain train, or a grid's tail).
# PyTorch runs with the OpenBLAS kernel that bntrain's process chose (the `kernel` field of its
# report), so both sides use the same GEMM library settings.
measure() {
    local name=$1; shift
    echo "environment $name: ${*:-as set}" >&2
    local rep config arch width dataset layout tag
    local -A busiest=()
    local seen
    for rep in $(seq "$repeat"); do
        # --quick skips the GEMM report (checks and times every sgemm of both networks): the
        # training reports measure their own ceilings and name the kernel.
        [ "$quick" = 1 ] || run_logged "$logs/$name-gemm-r$rep.log" "$@" -- "$bench" --gemm \
            --threads "$cores"
        for config in "${configs[@]}"; do
            arch=${config%:*} width=${config#*:} tag=$arch-w$width
            dataset=$(dataset_of "$arch")
            for layout in "${layouts[@]}"; do
                local runs=${layout% *} per_run=${layout#* }
                run_logged "$logs/$name-bntrain-$tag-${runs}x$per_run-r$rep.log" "$@" -- "$bench" \
                    --arch "$arch" --width-mult "$width" --dataset "$dataset" \
                    --data-dir "$data_dir" --threads "$runs" --cores-per-run "$per_run" \
                    ${timing[@]+"${timing[@]}"} ${ceiling[@]+"${ceiling[@]}"}
                seen=${busiest[$tag]:-0}
                busiest[$tag]=$((others_busy > seen ? others_busy : seen))
            done
            kernel=$(field "$(result_line \
                "$logs/$name-bntrain-$tag-${layouts[0]/ /x}-r$rep.log")" kernel)
            if have_torch; then
                run_logged "$logs/$name-pytorch-$tag-r$rep.log" "$@" OPENBLAS_CORETYPE="$kernel" \
                    -- "$python" bench/pytorch_bench.py --arch "$arch" --width-mult "$width" \
                    --data-dir "$data_dir" --cores "$cores" --configs "$torch_configs" \
                    ${timing[@]+"${timing[@]}"}
                seen=${busiest[$tag]:-0}
                busiest[$tag]=$((others_busy > seen ? others_busy : seen))
            fi
        done
    done
    for config in "${configs[@]}"; do
        arch=${config%:*} width=${config#*:} tag=$arch-w$width
        for layout in "${layouts[@]}"; do
            local runs=${layout% *} per_run=${layout#* } torch_field
            case "$layout" in
                "1 1") torch_field=single_samples_per_s ;;
                "1 "*) torch_field=threads_samples_per_s ;;
                *) torch_field=best_samples_per_s ;;
            esac
            local bntrain_logs=("$logs/$name-bntrain-$tag-${runs}x$per_run"-r*.log)
            local torch_logs=()
            have_torch && torch_logs=("$logs/$name-pytorch-$tag"-r*.log)
            add_row "$name" "$arch" "$width" "$runs x $per_run" "$torch_field" \
                "${busiest[$tag]:-0}" "${#bntrain_logs[@]}" "${bntrain_logs[@]}" \
                ${torch_logs[@]+"${torch_logs[@]}"}
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

# add_row ENV ARCH WIDTH THREADS TORCH_FIELD BUSY_PERCENT N BNTRAIN_LOG... TORCH_LOG...: one
# table row from the first N logs (bntrain's repeats) and the rest (PyTorch's).
add_row() {
    local env=$1 arch=$2 width=$3 layout=$4 torch_field=$5 busy=$6 n=$7
    shift 7
    local our_logs=("${@:1:n}") their_logs=("${@:n+1}")
    local ours theirs="" torch="-" torch_spread="" config="" ratio="-"
    ours=$(median_line samples_per_s "${our_logs[@]}")
    [ -n "$ours" ] || return 0
    if [ ${#their_logs[@]} -gt 0 ]; then theirs=$(median_line "$torch_field" "${their_logs[@]}"); fi
    if [ -n "$theirs" ]; then
        torch=$(field "$theirs" "$torch_field")
        torch_spread=$(spread "$torch_field" "${their_logs[@]}")
        case "$torch_field" in
            single_*) config=single ;;
            threads_*) config=threads ;;
            *) config=$(field "$theirs" best_config) ;;
        esac
        ratio=$(awk -v a="$(field "$ours" samples_per_s)" -v b="$torch" \
            'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    fi
    rows+=("$(awk -v env="$env" -v arch="$arch" -v width="$width" -v t="$layout" \
        -v k="$(field "$ours" gemm)" -v ours="$(field "$ours" samples_per_s)" \
        -v ours_spread="[$(spread samples_per_s "${our_logs[@]}")]" -v torch="$torch" \
        -v torch_spread="${torch_spread:+[$torch_spread]}" -v cfg="$config" -v ratio="$ratio" \
        -v peak="$(awk -v g="$(field "$ours" gflops_per_core)" \
            -v c="$(best_ceiling "$env" "$(callers_of "$ours")")" \
            'BEGIN { print (c > 0) ? g / c : 0 }')" \
        -v bound="$(awk -v r="$(field "$ours" samples_per_s_per_run)" \
            -v c="$(field "$ours" cores_per_run)" \
            -v b="$(best_bound "$env" "$arch-w$width" "$(callers_of "$ours")")" \
            'BEGIN { print (b > 0) ? r / (c * b) : 0 }')" -v rph="$(field "$ours" runs_per_hour)" \
        -v steady="$(all_steady "${our_logs[@]}" ${their_logs[@]+"${their_logs[@]}"})" \
        -v busy="$busy" \
        'BEGIN { format = "%-7s %-15s %5s %6s  %-7s %8.0f %-13s %8s %-13s %-9s %6s" \
                          "  %5.0f%%  %5.0f%%  %7.1f  %-6s %3d%%"
                 printf format, env, arch, width, t, k, ours, ours_spread,
                 torch == "-" ? "-" : sprintf("%.0f", torch), torch_spread,
                 cfg == "" ? "" : "(" cfg ")", ratio, 100 * peak, 100 * bound, rph, steady,
                 busy }')")
}

gemm_summary() {
    local line
    line=$(median_line square_gflops_1t "$logs/$1"-gemm-r*.log)
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
    if [ -z "$bench" ]; then
        echo "building Release in $build/" >&2
        build_bench || { echo "bench/run.sh: build failed, see $logs/build.log" >&2; exit 1; }
    fi
    [ -x "$bench" ] || { echo "bench/run.sh: no bench_throughput at '$bench'" >&2; exit 2; }
    have_torch || echo "PyTorch: not importable by $python (apt-get install python3-torch)," \
        "or --no-pytorch: PyTorch columns left empty" >&2
    [ "$quick" = 1 ] || wait_for_idle # --quick checks that things run, not speed
    busy_before=$(busy_percent)
    local envs=("${isa:-default}")
    measure "${envs[0]}"
    busy_after=$(busy_percent)

    local gemm_line
    local first_reports=("$logs/${envs[0]}"-bntrain-*-"${layouts[0]/ /x}"-r1.log)
    gemm_line=$(result_line "${first_reports[0]}")
    echo
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores;" \
        "OpenBLAS core type (kernel): $(field "$gemm_line" kernel);" \
        "environment: BNTRAIN_ISA=${BNTRAIN_ISA:-unset} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
        "ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset}" \
        "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
    echo "other load on the machine: ${busy_before}% of all cores busy before," \
        "${busy_after}% after (numbers are only good near 0%)"
    local e
    [ "$quick" = 1 ] || for e in "${envs[@]}"; do gemm_summary "$e"; done
    echo
    echo "training samples/s, batch 128, median [min-max] of $repeat interleaved repeats," \
        "steady state (${timing[*]:-windows of 50 steps until two agree within 3 % after" \
        "at least 200 steps, then at least 5 s}); runs x cores: 1 x 1 one run on one core" \
        "(PyTorch: single), $cores x 1 one run per core at once as a grid (PyTorch: best of" \
        "one process with all threads and one process per core), 1 x $cores one run on all" \
        "cores (PyTorch: one process with all threads)"
    printf "%-7s %-15s %5s %6s  %-7s %8s %-13s %8s %-13s %-9s %6s  %6s  %6s  %7s  %-6s %4s\n" \
        env arch width "runs x cores" gemm bntrain "" PyTorch "" config ratio peak bound runs/h \
        steady busy
    printf "%s\n" "${rows[@]}"
    echo
    echo "ratio: bntrain's median / PyTorch's median (above 1: bntrain is faster)."
    echo "peak: bntrain's GEMM FLOP rate / single-threaded sgemm 2048^3, as many at once" \
        "(the best of all this session's measurements of it)."
    for e in "${envs[@]}"; do
        echo "$e ceilings used: $(best_ceiling "$e" 1) GFLOP/s with 1 at once," \
            "$(best_ceiling "$e" "$cores") per core with $cores at once"
    done
    echo "bound: bntrain's samples/s / what the network's own sgemm calls alone allow."
    echo "runs/h: grid runs (5 epochs on the full data, then the test set) per hour, all cores."
    echo "steady: every window-agreement warm-up of the row (both sides) ended steady."
    echo "busy: the most that other processes used of the machine during this row's bntrain or"
    echo "PyTorch measurements; the numbers are good only near 0%."
    echo "Reports: $logs/ ($((SECONDS - start)) s)"
}

main
