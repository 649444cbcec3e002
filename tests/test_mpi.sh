#!/usr/bin/env bash
# `mpirun -n R bntrain grid` and `bntrain curves` (src/cluster, registered only when built with
# MPI). grid: the grid with
# 1, 2 and 3 ranks equals the single-process grid (runs.csv sorted without its seconds column,
# every other file byte for byte); a worker rank killed with SIGKILL mid-grid ends the job with
# a message and a valid runs.csv, and a rerun with another number of ranks completes it with no
# run missing or duplicated and the single-process results; a rank that cannot read the data
# is named, with the file, by rank 0. curves: 2 and 3 ranks give the single-process curves.csv
# (sorted, without its seconds column) and figure; a usage error is printed once, by rank 0 even
# when it is the last rank to find it; a worker rank
# killed with SIGKILL once a checkpoint is on disk, then again in the resumed job, leaves a
# curves.csv that a rerun with another number of ranks (2, then none: one process) completes
# bitwise as the uninterrupted run, no row missing or twice.
set -u
source "$(dirname "$0")/check.sh" test_mpi
if ! command -v mpirun > /dev/null; then
    echo "test_mpi: SKIPPED: mpirun not found (install openmpi-bin)"
    exit 77
fi
# Open MPI refuses root without --allow-run-as-root, and more ranks than cores without
# --oversubscribe. Its own leaks (libmpi, libopen-pal, ...) are suppressed for LeakSanitizer in
# the sanitizer build, nothing else.
# the sanitizer build: its leaks are matched by library name anywhere in the allocation's stack,
# hence full stacks, and plugins kept loaded so that their frames have a name
mpirun=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader)
export LSAN_OPTIONS="suppressions=$src/tests/lsan_mpi.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export OMPI_MCA_mca_base_component_disable_dlclose=1

small=(grid --dataset mnist-sample --gamma 0.5:2:0.5 --log10-lr -2,-1.5,-1,0 --restarts 2
       --epochs 2 --train-subset 1000 --batch 50 --hidden 64,64 --threads 1 --quiet)
# long enough (seconds) for a kill to fall mid-grid
long=(grid --dataset mnist-sample --gamma 0.5,1,1.5 --log10-lr -2,-1.5 --restarts 2 --epochs 12
      --train-subset 2000 --batch 50 --hidden 128,128 --threads 1 --quiet)

results() { tail -n +3 "$1/runs.csv" | cut -d, -f1-10 | sort; }
keys() { tail -n +3 "$1/runs.csv" | cut -d, -f1,2,4 | sort; }
same_grid() { # same_grid DIR REFERENCE: results and every other file equal
    local f
    cmp -s <(results "$1") <(results "$2") || return 1
    for f in config.json cells.csv theory.csv heatmap.png heatmap.svg; do
        cmp -s "$1/$f" "$2/$f" || return 1
    done
}
# mpirun's own reports (boxes of dashes) go to a log, shown when a check fails.
run_mpi() { # run_mpi LOG ARGS...: mpirun's exit status
    local log=$1
    shift
    "${mpirun[@]}" "$@" > "$log" 2>&1
}
shown() { # shown LOG COMMAND...: COMMAND's verdict; LOG printed if it fails
    local log=$1
    shift
    "$@" && return 0
    cat "$log" >&2
    return 1
}
rank_pid() { # rank_pid JOB RANK: the pid of that rank of the mpirun JOB, once it has started
    local i pid
    for ((i = 0; i < 3000; i++)); do
        for pid in $(pgrep -P "$1"); do
            grep -qz "^OMPI_COMM_WORLD_RANK=$2\$" "/proc/$pid/environ" 2> /dev/null &&
                echo "$pid" && return 0
        done
        sleep 0.01
    done
}

"$bin" "${small[@]}" --out "$work/single"
check "single-process grid exits 0" test $? -eq 0
for ranks in 1 2 3; do
    run_mpi "$work/r$ranks.log" -n $ranks "$bin" "${small[@]}" --out "$work/r$ranks"
    check "mpirun -n $ranks exits 0" shown "$work/r$ranks.log" test $? -eq 0
    check "mpirun -n $ranks: every run once" test "$(keys "$work/r$ranks" | uniq | wc -l)" -eq 32
    check "mpirun -n $ranks equals the single-process grid" same_grid "$work/r$ranks" \
        "$work/single"
done
run_mpi "$work/again.log" -n 2 "$bin" "${small[@]}" --out "$work/r3"
check "a finished grid rerun over MPI adds nothing" test "$(keys "$work/r3" | wc -l)" -eq 32

# SIGKILL of rank 1 once a run is on disk: mpirun ends the job, rank 0 says so and keeps
# runs.csv whole; rerunning with 2 ranks finishes the grid.
"$bin" "${long[@]}" --out "$work/long_single"
records() { echo $(($(cat "$work/killed/runs.csv" 2> /dev/null | wc -l) - 2)); }
"${mpirun[@]}" -n 3 "$bin" "${long[@]}" --out "$work/killed" \
    > "$work/killed.log" 2>&1 &
job=$!
rank1=$(rank_pid $job 1)
while [ "$(records)" -lt 1 ] && kill -0 $job 2> /dev/null; do sleep 0.01; done
kill -9 "$rank1"
wait $job
status=$?
on_disk=$(records)
check "killing a worker rank fails the job" test $status -ne 0
check "the job ended mid-grid (${on_disk} of 12 runs on disk)" test "$on_disk" -lt 12
check "rank 0 says it was stopped and how to resume" \
    grep -q "interrupted by signal.*mpirun ends the whole job when a rank dies" "$work/killed.log"
check "mpirun names the killed rank" shown "$work/killed.log" \
    grep -q "rank 1 .*exited on signal 9" "$work/killed.log"
check "runs.csv ends with a whole line" test "$(tail -c 1 "$work/killed/runs.csv" | od -An -c)" \
    = '  \n'
run_mpi "$work/resume.log" -n 2 "$bin" "${long[@]}" --out "$work/killed"
check "the resumed grid exits 0" shown "$work/resume.log" test $? -eq 0
check "resumed: no run missing or duplicated" cmp -s <(keys "$work/killed") \
    <(keys "$work/long_single")
check "resumed: equals the single-process grid" same_grid "$work/killed" "$work/long_single"

# without_data NAME ARGS...: rank 2 alone is given a data folder that does not exist (a node
# without the data); the job fails and rank 0 names the rank and the file.
without_data() {
    local name=$1
    shift
    run_mpi "$work/$name.log" -n 2 "$bin" "$@" --out "$work/$name" : \
        -n 1 "$bin" "$@" --out "$work/$name" --data-dir "$work/nowhere"
    check "$1, a rank without data fails the job" test $? -ne 0
    check "$1, rank 0 names the rank and the file" shown "$work/$name.log" grep -q \
        "^bntrain $1: rank 2: $work/nowhere/mnist-sample/train-images-idx3-ubyte.gz: not found" \
        "$work/$name.log"
}
without_data bad "${small[@]}"
check "the folder stays resumable" test "$(tail -c 1 "$work/bad/runs.csv" | od -An -c)" = '  \n'

# ---- bntrain curves ----
curves=(curves --dataset mnist-sample --arch cnn --hidden 8,16 --gamma 0.5,1 --restarts 2
        --epochs 2 --train-subset 500 --batch 25 --lr 0.05 --loss ce --threads 1 --quiet)
# long enough (seconds) for a kill to fall mid-run: 2 x 2 runs of 8 epochs
long_curves=(curves --dataset mnist-sample --arch cnn --hidden 32,64 --gamma 0.5,1 --restarts 2
             --epochs 8 --train-subset 2000 --batch 50 --lr 0.05 --loss ce --threads 1 --quiet)
curve_rows() { tail -n +3 "$1/curves.csv" | cut -d, -f1-10 | sort; }
curve_keys() { tail -n +3 "$1/curves.csv" | cut -d, -f1,2,4 | sort; }
same_curves() { # same_curves DIR REFERENCE: the rows, config.json and the figure equal
    local f
    cmp -s <(curve_rows "$1") <(curve_rows "$2") || return 1
    for f in config.json curves.png curves.svg; do
        cmp -s "$1/$f" "$2/$f" || return 1
    done
}

"$bin" "${curves[@]}" --out "$work/c_single"
check "single-process curves exits 0" test $? -eq 0
for ranks in 2 3; do
    run_mpi "$work/c$ranks.log" -n $ranks "$bin" "${curves[@]}" --out "$work/c$ranks"
    check "curves, mpirun -n $ranks exits 0" shown "$work/c$ranks.log" test $? -eq 0
    check "curves, mpirun -n $ranks: every row once" \
        test "$(curve_keys "$work/c$ranks" | uniq | wc -l)" -eq 8
    check "curves, mpirun -n $ranks equals the single-process curves" \
        same_curves "$work/c$ranks" "$work/c_single"
    check "curves, mpirun -n $ranks: a checkpoint per run" \
        test "$(ls "$work/c$ranks/checkpoints" | wc -l)" -eq 4
done
run_mpi "$work/c_usage.log" -n 3 "$bin" "${curves[@]}" --gamma 0,1 --out "$work/c_usage"
check "curves, a usage error under mpirun: exit 2" test $? -eq 2
check "curves, a usage error under mpirun: said once, by rank 0" \
    test "$(grep -c '^bntrain curves: --gamma: values must be positive' "$work/c_usage.log")" -eq 1
# rank 0 a second late (a loaded node): the quiet ranks must not end the job before it speaks
late_rank0=(sh -c '[ "$OMPI_COMM_WORLD_RANK" = 0 ] && sleep 1; exec "$@"' late_rank0)
run_mpi "$work/c_usage_late.log" -n 3 "${late_rank0[@]}" "$bin" "${curves[@]}" --gamma 0,1 \
    --out "$work/c_usage_late"
check "curves, a usage error under mpirun, rank 0 late: exit 2" test $? -eq 2
check "curves, a usage error under mpirun, rank 0 late: still said once" shown \
    "$work/c_usage_late.log" test "$(grep -c '^bntrain curves: --gamma: values must be positive' \
    "$work/c_usage_late.log")" -eq 1
without_data c_bad "${curves[@]}"
# a --batch larger than the training set: refused by every rank before rank 0 starts a folder
run_mpi "$work/c_batch.log" -n 3 "$bin" "${curves[@]}" --batch 5000 --out "$work/c_batch"
check "curves, --batch above the training set under mpirun: exit 2" test $? -eq 2
check "curves, --batch above the training set: said once, and no folder" \
    test "$(grep -c '^bntrain curves: --batch 5000 is larger than' "$work/c_batch.log")" -eq 1 \
    -a ! -e "$work/c_batch"
run_mpi "$work/g_batch.log" -n 2 "$bin" "${small[@]}" --batch 5000 --out "$work/g_batch"
check "grid, --batch above the training set under mpirun: exit 2, no folder" \
    test $? -eq 2 -a ! -e "$work/g_batch"

# SIGTERM to a worker alone (not through mpirun, which would stop every rank) once a row is on
# disk: it abandons its run, and the job must not end as if every run had finished.
"${mpirun[@]}" -n 3 "$bin" "${long_curves[@]}" --out "$work/c_term" > "$work/c_term.log" 2>&1 &
job=$!
rank1=$(rank_pid $job 1)
while kill -0 $job 2> /dev/null &&
    [ "$(tail -n +3 "$work/c_term/curves.csv" 2> /dev/null | wc -l)" -lt 2 ]; do
    sleep 0.01
done
kill -TERM "$rank1"
wait $job
check "curves, SIGTERM to a worker alone: the job exits non-zero" test $? -ne 0
check "curves, SIGTERM to a worker alone: rank 0 names the rank and the signal" \
    shown "$work/c_term.log" grep -q "rank 1: stopped by signal 15" "$work/c_term.log"

# SIGKILL of rank 1 once a checkpoint and a row are on disk, in a job of 3 ranks, then again
# in the resumed job of 2 ranks once it has added rows; a single process finishes the curves.
"$bin" "${long_curves[@]}" --out "$work/c_long_single"
on_disk() { tail -n +3 "$work/c_killed/curves.csv" 2> /dev/null | wc -l; }
kill_worker() { # kill_worker RANKS LOG: kill -9 of rank 1 once curves.csv grew past its size
    local before
    before=$(on_disk)
    "${mpirun[@]}" -n "$1" "$bin" "${long_curves[@]}" --out "$work/c_killed" > "$2" 2>&1 &
    local job=$!
    local rank1
    rank1=$(rank_pid $job 1)
    while kill -0 $job 2> /dev/null &&
        { [ "$(on_disk)" -le "$before" ] || ! ls "$work"/c_killed/checkpoints/*.ckpt > /dev/null 2>&1; }; do
        sleep 0.01
    done
    kill -9 "$rank1"
    wait $job
}
kill_worker 3 "$work/c_killed1.log"
check "curves, killing a worker rank fails the job" test $? -ne 0
first=$(on_disk)
check "curves, the job ended mid-run ($first of 32 rows on disk)" test "$first" -lt 32
check "curves, rank 0 says it was stopped and how to resume" grep -q \
    "interrupted by signal.*mpirun ends the whole job when a rank dies" "$work/c_killed1.log"
check "curves, mpirun names the killed rank" shown "$work/c_killed1.log" \
    grep -q "rank 1 .*exited on signal 9" "$work/c_killed1.log"
kill_worker 2 "$work/c_killed2.log"
check "curves, killing the resumed job's worker fails it" test $? -ne 0
second=$(on_disk)
check "curves, the resumed job added rows and ended mid-run ($first, then $second of 32)" \
    test "$second" -gt "$first" -a "$second" -lt 32
check "curves.csv ends with a whole line" \
    test "$(tail -c 1 "$work/c_killed/curves.csv" | od -An -c)" = '  \n'
check "curves, no row twice after the kills" test -z "$(curve_keys "$work/c_killed" | uniq -d)"
"$bin" "${long_curves[@]}" --threads 2 --out "$work/c_killed" 2> "$work/c_resume.log"
check "curves, resumed by one process without mpirun: exit 0" shown "$work/c_resume.log" \
    test $? -eq 0
check "curves, resumed: no row missing or twice" cmp -s <(curve_keys "$work/c_killed") \
    <(curve_keys "$work/c_long_single")
check "curves, resumed: equals the uninterrupted single-process curves" \
    same_curves "$work/c_killed" "$work/c_long_single"
check_summary
