#!/usr/bin/env bash
# End-to-end tests of `bntrain grid --shard K/N` and `--merge` (a Slurm job array without
# MPI) on the bundled MNIST sample: shards in sequence and at once then merged give the
# single-process grid's files byte for byte; kill -9 of a shard and its resume; a missing
# shard, mixed configurations, shards of two splits and runs recorded twice are reported;
# bad --shard values and --shard auto's Slurm variables; the locks.
set -u
source "$(dirname "$0")/check.sh" test_shards

# The small grid of test_grid: 4 gammas x 4 learning rates x 2 restarts.
grid=(grid --dataset mnist-sample --gamma 0.5:2:0.5 --log10-lr -2,-1.5,-1,0
      --restarts 2 --epochs 1 --train-subset 1000 --batch 50 --hidden 64,64 --quiet)
n_runs=32

# unset_slurm: the tests give --shard auto its environment explicitly.
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX

"$bin" "${grid[@]}" --threads 2 --out "$work/single"
check "the single-process grid exits 0" test $? -eq 0

# Runs a shard: shard DIR K/N [more options].
shard() {
    local dir=$1 kn=$2
    shift 2
    "$bin" "${grid[@]}" --threads 1 --shard "$kn" --out "$dir" "$@"
}
merge() {
    local dir=$1
    shift
    "$bin" "${grid[@]}" --merge --out "$dir" "$@"
}

# Shards 1..3 of 3 one after another, then merged.
for k in 1 2 3; do
    shard "$work/seq" $k/3
    check "shard $k/3 exits 0" test $? -eq 0
done
check "each shard writes its own run log and config.json, nothing more" \
    test "$(cd "$work/seq" && ls)" = "$(printf 'config.json\nruns.1-of-3.csv\nruns.2-of-3.csv\nruns.3-of-3.csv')"
check "the shards split the grid 11 + 11 + 10" \
    test "$(for k in 1 2 3; do data_lines "$work/seq/runs.$k-of-3.csv"; done | tr '\n' ' ')" = "11 11 10 "
identity=$(head -1 "$work/single/runs.csv")
check "a shard's log carries the grid's identity line" \
    test "$(head -1 "$work/seq/runs.2-of-3.csv")" = "$identity"
# Balanced: the runner starts long (stable) runs first; every shard gets some of both kinds.
for k in 1 2 3; do
    check "shard $k/3 has runs that exploded and runs that did not" \
        test "$(tail -n +3 "$work/seq/runs.$k-of-3.csv" | cut -d, -f6 | sort -u | tr -d '\n')" = "01"
done
check "the shards' runs are the single grid's runs" \
    cmp -s <(sorted_runs "$work/single/runs.csv") <(sorted_runs "$work/seq"/runs.*-of-3.csv)
"$bin" plot "$work/seq" > /dev/null 2> "$work/plot.err"
check "plot before the merge: exit 1" test $? -eq 1
check "... saying to merge" grep -q "no cells.csv: join them with the grid's command and --merge" \
    "$work/plot.err"
merge "$work/seq" 2> "$work/seq-merge.err"
check "merge exits 0" test $? -eq 0
check "merged outputs are byte-identical to the single grid's" same_outputs "$work/single" "$work/seq"
check "merge leaves the shard logs as they were" test ! -e "$work/seq/runs.csv"
merge "$work/seq" 2> /dev/null
check "merging again gives the same files" same_outputs "$work/single" "$work/seq"

# The whole grid (no --shard) on a sharded folder counts the shards' runs as done.
cp -r "$work/seq" "$work/whole"
rm "$work/whole"/cells.csv "$work/whole"/heatmap.*
"$bin" "${grid[@]}" --threads 1 --out "$work/whole" 2> "$work/whole.err"
check "the whole grid over finished shards exits 0" test $? -eq 0
check "... trains nothing" test "$(data_lines "$work/whole/runs.csv")" -eq 0
check "... and writes the single grid's outputs" same_outputs "$work/single" "$work/whole"

# Two shards at once on one folder: exactly one creates config.json, both run.
shard "$work/conc" 1/2 &
pid1=$!
shard "$work/conc" 2/2 &
pid2=$!
wait $pid1
status1=$?
wait $pid2
status2=$?
check "two concurrent shards both exit 0" test $status1 -eq 0 -a $status2 -eq 0
check "no temporary file left behind" test -z "$(find "$work/conc" -name '*.tmp.*')"
merge "$work/conc"
check "concurrent shards merged: exit 0" test $? -eq 0
check "concurrent shards merged equal the single grid" same_outputs "$work/single" "$work/conc"
check "concurrent shards' runs equal the single grid's" \
    cmp -s <(sorted_runs "$work/single/runs.csv") <(sorted_runs "$work/conc"/runs.*-of-2.csv)

# kill -9 of a shard part-way, then the same command again: it resumes, and the merge is the
# single grid. The shard has 11 runs of a few ms each; a tight poll kills it after the first.
killed_at=$n_runs
for attempt in 1 2 3 4 5; do
    rm -rf "$work/kill"
    cp -r "$work/seq" "$work/kill"
    rm "$work/kill/runs.2-of-3.csv" "$work/kill"/cells.csv "$work/kill"/heatmap.* \
       "$work/kill/theory.csv"
    # "$bin" itself in the background, not the shard function: $! must be the process killed
    "$bin" "${grid[@]}" --threads 1 --shard 2/3 --out "$work/kill" &
    pid=$!
    for _ in $(seq 1 2000); do
        [ -f "$work/kill/runs.2-of-3.csv" ] &&
            [ "$(data_lines "$work/kill/runs.2-of-3.csv")" -ge 1 ] && break
        sleep 0.005
    done
    kill -9 $pid 2> /dev/null
    wait $pid 2> /dev/null
    killed_at=$(data_lines "$work/kill/runs.2-of-3.csv")
    [ "$killed_at" -lt 11 ] && break
done
check "the kill happened part-way ($killed_at of 11 runs)" test "$killed_at" -lt 11
merge "$work/kill" 2> "$work/kill-merge.err"
check "merge after the kill: exit 1 (runs missing)" test $? -eq 1
check "... naming the shard whose runs are missing" \
    grep -q "of 32 runs are missing (shard 2/3: $((11 - killed_at)))" "$work/kill-merge.err"
shard "$work/kill" 2/3
check "the killed shard resumes: exit 0" test $? -eq 0
check "... with every run of its slice once" test "$(data_lines "$work/kill/runs.2-of-3.csv")" -eq 11
merge "$work/kill"
check "merge after kill and resume: exit 0" test $? -eq 0
check "merge after kill and resume equals the single grid" same_outputs "$work/single" "$work/kill"

# A missing shard: reported with its runs, exit 1, nothing written; --partial draws anyway.
mkdir "$work/miss"
cp "$work/seq/config.json" "$work/seq/runs.1-of-3.csv" "$work/seq/runs.3-of-3.csv" "$work/miss"
merge "$work/miss" 2> "$work/miss.err"
check "missing shard: exit 1" test $? -eq 1
check "missing shard: says which and how many" \
    grep -q "11 of 32 runs are missing (shard 2/3: 11)" "$work/miss.err"
check "missing shard: nothing written" test ! -e "$work/miss/cells.csv" -a ! -e "$work/miss/heatmap.png"
merge "$work/miss" --partial 2> "$work/partial.err"
check "missing shard with --partial: exit 0" test $? -eq 0
check "... warns of the missing runs" grep -q "drawn with 11 of 32 runs missing" "$work/partial.err"
check "... and draws" test -s "$work/miss/cells.csv" -a -s "$work/miss/heatmap.png"
check "... cells.csv counts 21 runs" \
    test "$(tail -n +3 "$work/miss/cells.csv" | awk -F, '{n += $5} END {print n}')" -eq 21

# A shard of another configuration is refused before it writes (config.json differs).
cp -r "$work/miss" "$work/mixed"
"$bin" "${grid[@]}" --epochs 2 --shard 2/3 --out "$work/mixed" 2> "$work/mixed.err"
check "a shard of another configuration: exit 2" test $? -eq 2
check "... naming the difference" grep -q "epochs 1 (now 2)" "$work/mixed.err"
check "... writing nothing" test ! -e "$work/mixed/runs.2-of-3.csv"
# A shard log of another grid put into the folder: merge refuses, naming it.
"$bin" "${grid[@]}" --epochs 2 --shard 2/3 --out "$work/other"
cp "$work/other/runs.2-of-3.csv" "$work/mixed/"
merge "$work/mixed" 2> "$work/mixed-merge.err"
check "a shard log of another configuration: merge exit 1" test $? -eq 1
check "... naming the file" grep -q "runs.2-of-3.csv belongs to configuration" "$work/mixed-merge.err"
# Shards of two splits (N = 3 and N = 2) in one folder: refused, naming both.
cp -r "$work/seq" "$work/splits"
cp "$work/conc/runs.1-of-2.csv" "$work/splits/"
merge "$work/splits" 2> "$work/splits.err"
check "shards of two splits: merge exit 1" test $? -eq 1
check "... naming a file of each" grep -q "runs.1-of-2.csv (2 shards) and runs.1-of-3.csv (3 shards)" \
    "$work/splits.err"

shard "$work/seq" 1/2 2> "$work/split.err"
check "a shard of another split than the folder's: exit 2" test $? -eq 2
check "... saying so" grep -q "a shard of a split into 3, not 2" "$work/split.err"
check "... writing no log" test ! -e "$work/seq/runs.1-of-2.csv"

# A run recorded in two shard logs: the same results are counted once, with a note; other
# results are refused, naming both files and lines.
cp -r "$work/seq" "$work/dup"
sed -n 3p "$work/dup/runs.1-of-3.csv" >> "$work/dup/runs.2-of-3.csv"
merge "$work/dup" 2> "$work/dup.err"
check "a duplicate with the same results: exit 0" test $? -eq 0
check "... noted, naming both places" \
    grep -q "1 run recorded twice .* in runs.1-of-3.csv line 3 and in runs.2-of-3.csv line 14" \
    "$work/dup.err"
check "... counted once" same_outputs "$work/single" "$work/dup"
head -n -1 "$work/dup/runs.2-of-3.csv" > "$work/dup/cut"
sed -n 3p "$work/dup/runs.1-of-3.csv" | awk -F, -v OFS=, '{$9 = $9 + 1; print}' >> "$work/dup/cut"
mv "$work/dup/cut" "$work/dup/runs.2-of-3.csv"
merge "$work/dup" 2> "$work/conflict.err"
check "a duplicate with other results: exit 1" test $? -eq 1
check "... naming both files and lines" \
    grep -q "in runs.1-of-3.csv line 3 and in runs.2-of-3.csv line 14 with different results" \
    "$work/conflict.err"

# Bad --shard values and option mixes are usage errors before the folder is touched.
for bad in "--shard 0/3" "--shard 4/3" "--shard 1/0" "--shard abc" "--shard 1/10001" \
           "--shard 01/3" "--shard 1/3/3" "--shard -1/3" "--shard /3" "--shard auto" \
           "--shard 1/3 --merge" "--shard 1/3 --force" "--partial"; do
    # shellcheck disable=SC2086
    "$bin" "${grid[@]}" $bad --out "$work/bad" 2> "$work/bad.err"
    check "'$bad' exits 2" test $? -eq 2
    check "'$bad' says why on one line" test "$(wc -l < "$work/bad.err")" -eq 1
done
check "bad shard options wrote nothing" test ! -e "$work/bad"
"$bin" "${grid[@]}" --shard auto --out "$work/bad" 2> "$work/auto.err"
check "--shard auto outside Slurm names the variable" grep -q "SLURM_ARRAY_TASK_ID is not set" \
    "$work/auto.err"
SLURM_ARRAY_TASK_ID=1 "$bin" "${grid[@]}" --shard auto --out "$work/bad" 2> "$work/auto.err"
check "--shard auto without the count: exit 2" test $? -eq 2
check "... naming SLURM_ARRAY_TASK_COUNT" grep -q "SLURM_ARRAY_TASK_COUNT is not set" "$work/auto.err"
SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=4 \
    "$bin" "${grid[@]}" --shard auto --out "$work/bad" 2> "$work/auto.err"
check "--shard auto with non-contiguous ids: exit 2" test $? -eq 2
check "... saying so" grep -q "must be contiguous" "$work/auto.err"
check "bad --shard auto wrote nothing" test ! -e "$work/bad"

# --shard auto: task ids 0..N-1 and 1..N both give shards 1..N.
SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 \
    "$bin" "${grid[@]}" --threads 1 --shard auto --out "$work/auto"
check "--shard auto, task 0 of 0-2: exit 0" test $? -eq 0
SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 \
    "$bin" "${grid[@]}" --threads 1 --shard auto --out "$work/auto"
check "--shard auto, task 3 of 1-3: exit 0" test $? -eq 0
check "task 0 of 0-2 ran shard 1/3" \
    cmp -s <(sorted_runs "$work/auto/runs.1-of-3.csv") <(sorted_runs "$work/seq/runs.1-of-3.csv")
check "task 3 of 1-3 ran shard 3/3" \
    cmp -s <(sorted_runs "$work/auto/runs.3-of-3.csv") <(sorted_runs "$work/seq/runs.3-of-3.csv")

# Locks: the same shard twice at once is refused, other shards are not; a merge waits for
# every shard to end. This shell holds the locks on fd 9 (flock(1)) as a running shard would.
mkdir "$work/lock"
cp "$work/seq/config.json" "$work/lock/"
exec 9> "$work/lock/.lock.2-of-3"
flock -n 9
check "the test holds shard 2/3's lock" test $? -eq 0
shard "$work/lock" 2/3 2> "$work/lock.err"
check "the same shard twice at once: exit 1" test $? -eq 1
check "... saying it is running" grep -q "shard 2/3 is already running" "$work/lock.err"
shard "$work/lock" 1/3
check "another shard runs meanwhile" test $? -eq 0
exec 9> "$work/lock/.lock"
flock -s -n 9
check "the test holds the folder's lock as a shard does" test $? -eq 0
merge "$work/lock" 2> "$work/lock-merge.err"
check "merge while a shard runs: exit 1" test $? -eq 1
check "... saying so" grep -q "shards of this grid are still running" "$work/lock-merge.err"
exec 9>&-

check_summary
