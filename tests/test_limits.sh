#!/usr/bin/env bash
# Resource limits are checked before any work, never discovered by a crash: --threads far
# above the cores is capped with a note, a memory limit too small is refused with the numbers
# (exit 1, nothing written), allocation failures at any tighter or looser limit give exit 0 or
# 1 and a message (never 134 or 139), and threads the system will not start are fewer threads,
# not the end of the process.
set -u
source "$(dirname "$0")/check.sh" test_limits
chmod 755 "$work"

contains() { grep -q -- "$2" "$1"; }

train=(train --dataset mnist-sample --epochs 1 --train-subset 256 --batch 64)
grid=(grid --dataset mnist-sample --gamma 0.5,1 --log10-lr -1 --restarts 1 --epochs 1
      --train-subset 256 --batch 64 --quiet)
cores=$(nproc)

# --threads 100000: a stack overflow in libgomp (exit 139) before the cap. train's cap, its note
# and its run: tests/test_bad_input.sh.
"$bin" "${grid[@]}" --threads 100000 --out "$work/grid" 2> "$work/grid.err"
check "grid --threads 100000 exits 0" test $? -eq 0
# 2 runs: never more threads than the runs left or the cores, whichever is larger
useful=$((cores > 2 ? cores : 2))
check "grid --threads 100000 is capped with a note" \
    contains "$work/grid.err" "note: --threads 100000 capped at $useful "
# runs.csv: the identity line, the header, then one line per run
check "grid --threads 100000 runs its 2 runs" test "$(tail -n +3 "$work/grid/runs.csv" | grep -c .)" -eq 2

# figures runs grids too: the same cap, before its data is read (here: a folder without data)
"$bin" figures --quick --threads 100000 --data-dir "$work/no-data" --out "$work/figures" \
    2> "$work/figures.err"
check "figures --threads 100000 exits 1 on missing data, not a crash" test $? -eq 1
check "figures --threads 100000 is capped with a note" \
    contains "$work/figures.err" "figures: note: --threads 100000 capped at $((4 * cores)) "

# A measurement's own workspace counts too, before the data is read (none is here): probe's
# network of --samples and its Fisher (--lambda), train --track-lambda's Fisher. A VGG16 on
# 50000 samples needs hundreds of GB, more than any CI machine has free.
"$bin" probe --dataset cifar10 --data-dir "$work/no-data" --arch vgg16 --samples 50000 --lambda \
    --out "$work/probe-huge" 2> "$work/probe-huge.err"
check "probe of 50000 VGG16 samples is refused before reading data (exit 1)" test $? -eq 1
check "... naming the measurement and --samples" \
    grep -Eq 'not enough memory: needs .*measurement [0-9.]+ MiB.*a smaller --samples' \
    "$work/probe-huge.err"
check "... and writes nothing" test ! -e "$work/probe-huge"
"$bin" train --dataset cifar10 --data-dir "$work/no-data" --arch vgg16 --loss mse \
    --track-lambda 1 --lambda-samples 50000 2> "$work/track-huge.err"
check "train --track-lambda on 50000 VGG16 samples is refused before reading data (exit 1)" \
    test $? -eq 1
check "... naming the measurement and --lambda-samples" \
    grep -Eq 'measurement [0-9.]+ MiB.*a smaller --lambda-samples' "$work/track-huge.err"

# ulimit -v cannot be combined with AddressSanitizer, which reserves terabytes of address space.
case "${BNTRAIN_C_FLAGS:-}" in
*sanitize=address*) echo "test_limits: skipping the ulimit -v checks under AddressSanitizer" ;;
*)
    # 40 MB: the sample alone needs 18.7 MiB while loading, a trainer 38 MiB, a thread's stack 8.
    (ulimit -v 40000 && exec "$bin" "${train[@]}") > /dev/null 2> "$work/small.err"
    check "train under ulimit -v 40000 exits 1" test $? -eq 1
    check "train under ulimit -v 40000 names the memory needed and available" \
        grep -Eq 'not enough memory: needs [0-9.]+ MiB .* leaves [0-9.]+ MiB available' "$work/small.err"
    check "... and the limit" contains "$work/small.err" "ulimit -v"
    (ulimit -v 40000 && exec "$bin" "${grid[@]}" --out "$work/small") 2> "$work/small-grid.err"
    check "grid under ulimit -v 40000 exits 1" test $? -eq 1
    check "grid under ulimit -v 40000 names the memory needed and available" \
        grep -Eq 'not enough memory: needs [0-9.]+ MiB .* leaves [0-9.]+ MiB available' \
        "$work/small-grid.err"
    check "grid under ulimit -v 40000 wrote nothing" test ! -e "$work/small"

    # Between refused and enough, allocations fail at every point in turn: always 0 or 1 with a
    # message, never a crash (134, 139) or a hang.
    for kib in 50000 60000 70000 80000 90000 100000 120000 140000; do
        for threads in 1 2 8; do
            (ulimit -v $kib && exec timeout 120 "$bin" "${train[@]}" --threads $threads) \
                > /dev/null 2> "$work/sweep.err"
            status=$?
            check "train under ulimit -v $kib with $threads threads: exit $status" \
                test $status -eq 0 -o \( $status -eq 1 -a -s "$work/sweep.err" \)
        done
        (ulimit -v $kib && exec timeout 120 "$bin" "${grid[@]}" --threads 2 --force \
            --out "$work/sweep") 2> "$work/sweep.err"
        status=$?
        check "grid under ulimit -v $kib: exit $status" \
            test $status -eq 0 -o \( $status -eq 1 -a -s "$work/sweep.err" \)
    done
    ;;
esac

# Threads the system will not start: RLIMIT_NPROC does not bind root, so run as nobody with
# room for 3 tasks (the process and 2 threads). libgomp ended the process (exit 1, "Thread
# creation failed") before the check lowered the count.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null && command -v prlimit > /dev/null &&
    setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$bin" 2> /dev/null; then
    # (LeakSanitizer needs a thread of its own at exit: none is left under this limit)
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        prlimit --nproc=3 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$bin" "${train[@]}" --threads 8 > /dev/null 2> "$work/nproc.err"
    status=$?
    check "train with room for 3 tasks and --threads 8 exits 0 (exit $status)" test $status -eq 0
    # 3 at most: other tasks of user nobody on the machine (a daemon, another test) take from
    # the same limit, so the count may be lower, never higher (CI saw a lower count once)
    check "... with a note that at most 3 of 8 threads could be started" \
        contains "$work/nproc.err" "only [1-3] of 8 threads could be started"
    contains "$work/nproc.err" "only [1-3] of 8" || sed 's/^/    stderr: /' "$work/nproc.err"
else
    echo "test_limits: skipping the thread-limit check (needs root, setpriv, prlimit, and a"
    echo "binary user nobody can run: RLIMIT_NPROC does not bind root itself)"
fi

check_summary
