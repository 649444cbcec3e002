#!/usr/bin/env bash
# A grid on a file system that fills up: a tmpfs of 2 MiB, mounted by the test and filled by a
# filler file so that only part of the grid fits. The grid must stop with exit 1 and one line
# naming the file it could not write, keep every record written before in runs.csv intact (and
# nothing torn), leave no cells.csv or heatmap that disagrees with runs.csv, and, once the
# filler is gone, resume to exactly the results of an uninterrupted run. The same from a disk
# full from the start (runs.csv or config.json cannot be written). Mounting needs root (or
# CAP_SYS_ADMIN): elsewhere the test says so and is skipped (exit 77). Last, `bntrain curves`
# whose checkpoint writes fill the disk.
set -u
source "$(dirname "$0")/check.sh" test_full_disk

disk="$work/disk"
mkdir "$disk"
if ! mount -t tmpfs -o size=2m,mode=0755 tmpfs "$disk" 2> "$work/mount.err"; then
    echo "test_full_disk: SKIPPED: cannot mount a tmpfs to fill ($(head -1 "$work/mount.err")):" \
        "needs root or CAP_SYS_ADMIN; no full-disk check ran" >&2
    exit 77
fi
# Unmounted on every way out; a signal first becomes an exit so that the EXIT trap runs.
trap 'umount "$disk" 2> /dev/null || umount -l "$disk"; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 4 x 4 cells x 20 restarts: a runs.csv of 6 pages (24 KB), on a net small enough that the
# 320 runs take a second or two.
grid=(grid --dataset mnist-sample --gamma 0.5:2:0.5 --log10-lr -2,-1.5,-1,0 --restarts 20
      --epochs 1 --train-subset 200 --batch 50 --hidden 16 --threads 2 --quiet)
n_runs=320
page=4096

records() { tail -n +3 "$1/runs.csv" | grep -c .; }
# runs.csv without the seconds column, sorted: what must not depend on interruptions.
results() { tail -n +3 "$1/runs.csv" | cut -d, -f1-10 | sort; }
pages() { echo $((($(stat -c %s "$1") + page - 1) / page)); }
free_kib() { df --output=avail -k "$disk" | tail -1 | tr -d ' '; }
# Leaves n pages free on the disk (a filler file takes the rest).
fill_leaving() {
    rm -f "$disk/filler"
    local bytes=$((($(free_kib) - $1 * page / 1024) * 1024))
    [ "$bytes" -le 0 ] || fallocate -l "$bytes" "$disk/filler"
}
# Every line of runs.csv, but for the seconds, is one of the uninterrupted run's lines.
records_intact() {
    local extra
    extra=$(comm -23 <(results "$1") <(results "$work/ref"))
    [ -z "$extra" ] || { echo "records not in the uninterrupted run: $extra" >&2; return 1; }
}
# A cells.csv or heatmap left beside runs.csv must describe it: cells.csv's restarts_done add up
# to its records, and the heatmap is the one `bntrain plot` draws from it.
outputs_current() {
    local dir=$1 copy="$work/current-check"
    if [ -e "$dir/cells.csv" ]; then
        local done
        done=$(tail -n +3 "$dir/cells.csv" | awk -F, '{s += $5} END {print s + 0}')
        [ "$done" -eq "$(records "$dir")" ] ||
            { echo "cells.csv counts $done runs, runs.csv holds $(records "$dir")" >&2; return 1; }
    fi
    [ -e "$dir/heatmap.png" ] || [ -e "$dir/heatmap.svg" ] || return 0
    [ -e "$dir/cells.csv" ] || { echo "a heatmap without cells.csv" >&2; return 1; }
    rm -rf "$copy" && cp -r "$dir" "$copy" && rm -f "$copy/filler" &&
        "$bin" plot "$copy" > /dev/null && cmp -s "$dir/heatmap.png" "$copy/heatmap.png" &&
        cmp -s "$dir/heatmap.svg" "$copy/heatmap.svg"
}
no_temp_files() { ! ls "$1" | grep -q '\.tmp\.'; }

"$bin" "${grid[@]}" --out "$work/ref"
check "the uninterrupted grid exits 0" test $? -eq 0
check "the uninterrupted grid has every run" test "$(records "$work/ref")" -eq $n_runs
runs_pages=$(pages "$work/ref/runs.csv")
check "runs.csv spans several pages ($runs_pages)" test "$runs_pages" -ge 4

# What a grid writes before its first run: runs.csv's first page, config.json, theory.csv and
# cells.csv. Room for them and for half of runs.csv's other pages: the appends fill the disk
# part-way (the first heatmap, larger than that room, is not drawn: a warning).
start_pages=$((1 + $(pages "$work/ref/config.json") + $(pages "$work/ref/theory.csv") +
    $(pages "$work/ref/cells.csv")))
fill_leaving $((start_pages + (runs_pages - 1) / 2))
"$bin" "${grid[@]}" --out "$disk/g" 2> "$work/mid.err"
status=$?
error=$(tail -1 "$work/mid.err")
echo "test_full_disk: a disk full part-way says: $error"
check "a disk full part-way: exit 1 (exit $status)" test $status -eq 1
check "a disk full part-way: one line naming runs.csv and the cause ($error)" \
    grep -q "^bntrain grid: $disk/g/runs.csv: cannot append: No space left on device" <<< "$error"
check "a disk full part-way: the line says how to resume" \
    grep -q "run the same command again to resume" <<< "$error"
check "a disk full part-way: the other lines are warnings" \
    test "$(head -n -1 "$work/mid.err" | grep -vc ': warning: ')" -eq 0
kept=$(records "$disk/g")
check "a disk full part-way: some runs were recorded, not all ($kept)" \
    test "$kept" -gt 0 -a "$kept" -lt $n_runs
check "a disk full part-way: runs.csv ends with a complete line" \
    test "$(tail -c 1 "$disk/g/runs.csv" | od -An -c | tr -d ' ')" = '\n'
check "a disk full part-way: every record is intact" records_intact "$disk/g"
check "a disk full part-way: no cells.csv or heatmap that disagrees with runs.csv" \
    outputs_current "$disk/g"
check "a disk full part-way: no temporary file left" no_temp_files "$disk/g"

rm -f "$disk/filler"
"$bin" "${grid[@]}" --out "$disk/g" 2> "$work/resume.err"
check "resumed with space again: exit 0" test $? -eq 0
check "resumed with space again: nothing said about a torn line" \
    test ! -s "$work/resume.err"
check "resumed with space again: the results of an uninterrupted run" \
    cmp -s <(results "$work/ref") <(results "$disk/g")
check "resumed with space again: every file as the uninterrupted run's" \
    same_outputs "$work/ref" "$disk/g"

# A heatmap drawn by an earlier session (stopped by SIGTERM, which draws what is done), then a
# disk that fills while the grid resumes: that picture of fewer runs must not stay as if current.
# 640 runs: 12 pages of runs.csv. Room for rewriting theory.csv (4 pages), not for a new heatmap.
rm -rf "$disk/g"
rm -f "$disk/filler"
"$bin" "${grid[@]}" --restarts 40 --threads 1 --out "$disk/h" &
pid=$!
for _ in $(seq 1 2000); do
    [ -f "$disk/h/runs.csv" ] && [ "$(records "$disk/h")" -ge 2 ] && break
    sleep 0.01
done
kill -TERM $pid
wait $pid
check "an earlier session left a heatmap" test -e "$disk/h/heatmap.png"
fill_leaving 5
"$bin" "${grid[@]}" --restarts 40 --out "$disk/h" 2> "$work/stale.err"
status=$?
error=$(tail -1 "$work/stale.err")
check "a disk filling on resume: exit 1 (exit $status)" test $status -eq 1
check "a disk filling on resume: one line naming the file and the cause ($error)" \
    grep -q "^bntrain grid: $disk/h/[a-z.]*: cannot [a-z]*: No space left on device" <<< "$error"
check "a disk filling on resume: runs.csv ends with a complete line" \
    test "$(tail -c 1 "$disk/h/runs.csv" | od -An -c | tr -d ' ')" = '\n'
check "a disk filling on resume: the earlier heatmap is not left as if current" \
    outputs_current "$disk/h"
rm -rf "$disk/h"

# A disk full from the start: not a byte (runs.csv cannot be begun), then one page (runs.csv
# begins, config.json cannot be written). Either way the folder resumes.
for room in 0 1; do
    rm -rf "$disk/g"
    fill_leaving $room
    "$bin" "${grid[@]}" --out "$disk/g" 2> "$work/start.err"
    status=$?
    error=$(cat "$work/start.err")
    file=$([ $room -eq 0 ] && echo runs.csv || echo config.json)
    check "a disk full from the start ($room pages free): exit 1 (exit $status)" test $status -eq 1
    check "a disk full from the start ($room pages free): one line naming $file ($error)" \
        grep -q "^bntrain grid: $disk/g/$file: cannot write: No space left on device" \
        <<< "$error"
    check "a disk full from the start ($room pages free): one line" \
        test "$(wc -l < "$work/start.err")" -eq 1
    check "a disk full from the start ($room pages free): no temporary file left" \
        no_temp_files "$disk/g"
    rm -f "$disk/filler"
    "$bin" "${grid[@]}" --out "$disk/g"
    check "... then resumed with space: exit 0" test $? -eq 0
    check "... then resumed with space: every file as the uninterrupted run's" \
        same_outputs "$work/ref" "$disk/g"
done

# (The grid folder above goes first: "room again" below must not depend on what it left, and
# with it on the 2 MiB disk a resumed curves run could find too little room, depending on which
# checkpoints its two threads had written when the disk filled: seen once in CI.)
rm -rf "$disk/g"

# Learning curves whose checkpoints fill the disk: each run's checkpoint (190 KB here) is
# written after its epoch's line; with room for the folder's small files and about one
# checkpoint, a checkpoint write fails part-way. Exit 1 naming the checkpoint, every line of
# curves.csv one of the uninterrupted run's, no temporary file; with room again, the resumed
# curves are the uninterrupted ones. "Room again" must hold the four runs' checkpoints and the
# two being replaced at once by the two threads (each written whole beside the old one, then
# renamed): at --hidden 16,32 (367 KB each) that was more than the 2 MiB disk, and the resume
# failed whenever two checkpoint writes overlapped (twice in CI, once here).
curves=(curves --dataset mnist-sample --arch cnn --hidden 8,16 --augment on --gamma 0.5,1
        --restarts 2 --epochs 3 --batch 25 --lr 0.05 --loss ce --threads 2 --quiet)
curve_lines() { tail -n +3 "$1/curves.csv" | cut -d, -f1-10 | sort; }
"$bin" "${curves[@]}" --out "$work/cref"
check "uninterrupted curves: exit 0" test $? -eq 0
ckpt_pages=$(pages "$work/cref/checkpoints/gamma1_restart1.ckpt")
rm -rf "$disk/c"
fill_leaving $((ckpt_pages + 8))
"$bin" "${curves[@]}" --out "$disk/c" 2> "$work/curves.err"
status=$?
error=$(head -1 "$work/curves.err")
check "checkpoints fill the disk: exit 1 (exit $status)" test $status -eq 1
check "checkpoints fill the disk: one line naming the checkpoint ($error)" \
    grep -q "^bntrain curves: $disk/c/checkpoints/gamma[0-9.]*_restart[01].ckpt: .*No space left on device" \
    <<< "$error"
check "checkpoints fill the disk: every line of curves.csv is the uninterrupted run's" \
    test -z "$(comm -23 <(curve_lines "$disk/c") <(curve_lines "$work/cref"))"
check "checkpoints fill the disk: curves.csv ends with a whole line" \
    test "$(tail -c 1 "$disk/c/curves.csv" | od -An -c | tr -d ' ')" = '\n'
check "checkpoints fill the disk: no temporary file left" no_temp_files "$disk/c/checkpoints"
rm -f "$disk/filler"
"$bin" "${curves[@]}" --out "$disk/c"
status=$?
check "... then resumed with space: exit 0 (exit $status)" test $status -eq 0
# what holds the disk, should the resumed run have found it full after all
[ $status -eq 0 ] || { df -k "$disk" >&2; du -ak "$disk" >&2; }
check "... then resumed with space: the uninterrupted curves" \
    cmp -s <(curve_lines "$work/cref") <(curve_lines "$disk/c")
rm -rf "$disk/c"

check_summary
