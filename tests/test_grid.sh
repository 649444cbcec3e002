#!/usr/bin/env bash
# End-to-end tests of `bntrain grid` on the bundled MNIST sample: results, thread-count
# independence, SIGKILL + resume (every output file identical), configuration mismatch, the
# identity line of runs.csv, cells.csv and theory.csv, torn last line, bad ranges and lists, a
# file-size limit, the log's command line. (Damaged folders: tests/test_bad_input.sh.)
set -u
source "$(dirname "$0")/check.sh" test_grid

# A small grid: 4 gammas x 4 learning rates x 2 restarts, 1 epoch on 1000 images.
grid=(grid --dataset mnist-sample --gamma 0.5:2:0.5 --log10-lr -2,-1.5,-1,0
      --restarts 2 --epochs 1 --train-subset 1000 --batch 50 --hidden 64,64 --quiet)
n_runs=32

# Sorted runs.csv without the seconds column (data_lines, same_outputs: tests/check.sh).
results() { sorted_runs "$1/runs.csv"; }

"$bin" "${grid[@]}" --threads 1 --out "$work/t1"
check "grid exits 0" test $? -eq 0
check "config.json reports the parameter count (784-64-64-10 with BN)" \
    grep -q '"parameters": 55306,$' "$work/t1/config.json"
for f in config.json runs.csv cells.csv theory.csv; do
    check "grid writes $f" test -s "$work/t1/$f"
done
check "runs.csv has every run" test "$(data_lines "$work/t1/runs.csv")" -eq $n_runs
check "cells.csv has every cell" test "$(data_lines "$work/t1/cells.csv")" -eq 16
identity=$(head -1 "$work/t1/runs.csv")
check "runs.csv begins with the configuration's identity" \
    grep -qE '^# bntrain grid config [0-9a-f]{16}$' <<< "$identity"
check "cells.csv carries the same identity" test "$(head -1 "$work/t1/cells.csv")" = "$identity"
check "theory.csv carries the same identity" test "$(head -1 "$work/t1/theory.csv")" = "$identity"
check "runs.csv header" test "$(sed -n 2p "$work/t1/runs.csv")" = \
    "gamma,log10_lr,lr,restart,seed,exploded,exploded_at,train_loss,test_loss,test_acc,seconds"
check "every cell has both restarts" \
    test "$(tail -n +3 "$work/t1/cells.csv" | cut -d, -f5 | sort -u)" = "2"
# The small-lr, small-gamma corner learns; the largest lr at gamma 2 explodes (mse loss).
check "a small-gamma cell learned (accuracy > 0.35, chance is 0.1)" \
    awk -F, '$1==0.5 && $7==0 && $10>0.35 {found=1} END {exit !found}' "$work/t1/cells.csv"
check "a high-lr cell exploded" \
    awk -F, '$1==2 && $2==0 && $7==1 {found=1} END {exit !found}' "$work/t1/cells.csv"
check "exploded runs record when" \
    awk -F, 'NR>1 && $6==1 && $7 !~ /^[0-9]+:[0-9]+$/ {bad=1} END {exit bad}' "$work/t1/runs.csv"
# Common random numbers: within one restart every cell has the same seed.
check "seed per restart" test "$(tail -n +3 "$work/t1/runs.csv" | cut -d, -f4,5 | sort -u | wc -l)" -eq 2

"$bin" "${grid[@]}" --threads 2 --out "$work/t2"
check "1 and 2 threads give identical runs.csv" cmp -s <(results "$work/t1") <(results "$work/t2")
check "1 and 2 threads give identical output files" same_outputs "$work/t1" "$work/t2"

# Resume with nothing to do leaves the results alone.
cp "$work/t1/runs.csv" "$work/before.csv"
cp -r "$work/t1" "$work/t1-before"
"$bin" "${grid[@]}" --threads 2 --out "$work/t1"
check "resume of a finished grid exits 0" test $? -eq 0
check "resume of a finished grid adds nothing" cmp -s "$work/before.csv" "$work/t1/runs.csv"
check "a no-op rerun rewrites every file identically" same_outputs "$work/t1-before" "$work/t1"

# Kill -9 part-way, then resume: nothing lost, nothing duplicated, same results.
# One thread and a tight poll: the whole grid takes only seconds, the kill must come early.
"$bin" "${grid[@]}" --threads 1 --out "$work/k" &
pid=$!
for _ in $(seq 1 2000); do
    [ -f "$work/k/runs.csv" ] && [ "$(data_lines "$work/k/runs.csv")" -ge 2 ] && break
    sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
killed_at=$(data_lines "$work/k/runs.csv")
check "the kill happened part-way ($killed_at runs)" test "$killed_at" -lt $n_runs
"$bin" "${grid[@]}" --threads 2 --out "$work/k"
check "resume after SIGKILL exits 0" test $? -eq 0
check "no run lost or duplicated after SIGKILL" test "$(data_lines "$work/k/runs.csv")" -eq $n_runs
check "resumed results equal the uninterrupted ones" cmp -s <(results "$work/t1") <(results "$work/k")
check "resumed output files are identical to the uninterrupted ones" same_outputs "$work/t1" "$work/k"

# A torn last line (a kill mid-write) is dropped, never parsed, and the run is redone.
cp -r "$work/t1" "$work/torn"
head -n -1 "$work/torn/runs.csv" > "$work/torn/cut.csv"
printf '0.5,-2,0.01,1,12' >> "$work/torn/cut.csv"
mv "$work/torn/cut.csv" "$work/torn/runs.csv"
"$bin" "${grid[@]}" --threads 1 --out "$work/torn" 2> "$work/torn.err"
check "torn line: exit 0" test $? -eq 0
check "torn line: dropped and run redone" cmp -s <(results "$work/t1") <(results "$work/torn")

# SIGTERM: runs in flight are abandoned, the message says how to resume.
"$bin" "${grid[@]}" --threads 1 --out "$work/term" --force 2> "$work/term.err" &
pid=$!
for _ in $(seq 1 2000); do
    [ -f "$work/term/runs.csv" ] && [ "$(data_lines "$work/term/runs.csv")" -ge 2 ] && break
    sleep 0.01
done
kill -TERM $pid
wait $pid
status=$?
if [ "$(data_lines "$work/term/runs.csv")" -lt $n_runs ]; then
    check "SIGTERM exit status 143" test $status -eq 143
    check "SIGTERM says how to resume" grep -q "run the same command again" "$work/term.err"
fi
"$bin" "${grid[@]}" --threads 2 --out "$work/term"
check "resume after SIGTERM completes" cmp -s <(results "$work/t1") <(results "$work/term")

# A different configuration pointed at the same folder is refused and says what differs.
"$bin" "${grid[@]}" --epochs 2 --out "$work/t1" 2> "$work/mismatch.err"
check "mismatched config: exit 2" test $? -eq 2
check "mismatched config: names the difference" grep -q "epochs 1 (now 2)" "$work/mismatch.err"
check "mismatched config: results untouched" cmp -s "$work/before.csv" "$work/t1/runs.csv"
"$bin" "${grid[@]}" --epochs 2 --restarts 1 --gamma 0.5 --log10-lr -2 --out "$work/t1" --force
check "--force starts afresh" test "$(data_lines "$work/t1/runs.csv")" -eq 1

# A grid from before --augment and --lr-schedule (its config.json without those keys) is the
# same grid: resumed with nothing to do. Augmenting it, or scheduling its rate, is another.
cp -r "$work/t1-before" "$work/pre-augment"
grep -q '"augment": false' "$work/pre-augment/config.json" &&
    grep -q '"lr_schedule": "constant"' "$work/pre-augment/config.json"
check "config.json says augment false and lr_schedule constant" test $? -eq 0
sed -i '/"augment"/d; /"lr_schedule"/d' "$work/pre-augment/config.json"
"$bin" "${grid[@]}" --out "$work/pre-augment" 2> "$work/pre-augment.err"
check "a grid from before augment and lr_schedule resumes" test $? -eq 0
check "... keeping its runs and identity" cmp -s "$work/before.csv" "$work/pre-augment/runs.csv"
"$bin" "${grid[@]}" --augment on --lr-schedule step:1 --out "$work/pre-augment" \
    2> "$work/augment.err"
check "augmenting a finished grid: exit 2" test $? -eq 2
check "augmenting a finished grid: names both differences" \
    grep -q 'augment false (now true); lr_schedule "constant" (now "step:1")' "$work/augment.err"

# A runs.csv without a record (a kill after it was created, before config.json was written)
# holds nothing to mix up: the grid goes ahead.
mkdir "$work/header-only"
head -2 "$work/t1-before/runs.csv" > "$work/header-only/runs.csv"
"$bin" "${grid[@]}" --gamma 0.5 --log10-lr -2 --restarts 1 --out "$work/header-only"
check "runs.csv with its header alone and no config.json: the grid runs" test $? -eq 0

# A runs.csv without its config.json, of another configuration, without the identity line,
# or with a run twice: tests/test_bad_input.sh (each refused, its message, the folder untouched).

# A final output that cannot be written (a file-size limit, SIGXFSZ ignored so that the
# write fails instead of the process dying) is exit 1 naming the file.
(
    trap '' XFSZ
    ulimit -f 14 # KiB: theory.csv (12.6 KB) fits, heatmap.svg (15.5 KB) does not
    "$bin" grid --dataset mnist-sample --gamma 0.5,1 --log10-lr -2 --restarts 1 --epochs 1 \
        --train-subset 200 --batch 50 --hidden 16 --quiet --out "$work/full" 2> "$work/full.err"
)
check "unwritable heatmap: exit 1" test $? -eq 1
check "unwritable heatmap: names the file" grep -q "heatmap.svg" "$work/full.err"
check "unwritable heatmap: no stale picture left" test ! -e "$work/full/heatmap.png"

# The log's command line is shell-quoted: pasted back, it gives the same words.
note="it's \"quoted\" \$HOME and spaces"
"$bin" grid --title-note "$note" --dataset mnist-sample --gamma 1 --log10-lr -2 --restarts 1 \
    --epochs 1 --train-subset 200 --batch 50 --hidden 16 --threads 1 \
    --out "$work/one" 2> "$work/one.err"
line=$(grep -m1 '^bntrain [^ ]*: grid ' "$work/one.err")
set --
eval "set -- ${line#*: }" 2> /dev/null
check "the logged command line round-trips through eval" \
    test "${2-}" = "--title-note" -a "${3-}" = "$note"
check "one run: singular in the log" grep -q "1 run done (1 new), 0 exploded" "$work/one.err"
# The note is the user's free text: config.json stays valid JSON and gives it back as typed.
if command -v python3 > /dev/null; then
    check "a quoted title note keeps config.json valid JSON" python3 -c \
        'import json, sys; assert json.load(open(sys.argv[1]))["title_note"] == sys.argv[2]' \
        "$work/one/config.json" "$note"
else
    echo "test_grid: SKIPPED the config.json JSON check: python3 is not installed" >&2
fi

# Bad ranges and options are usage errors (--gamma -1, --gamma 1,1 and --restarts 100000000,
# with their messages: tests/test_bad_input.sh).
for bad in "--gamma 1:2:0" "--gamma 2:1:0.5" "--gamma a:2:0.5" "--log10-lr x" "--gamma 1,,2" \
           "--restarts 0" "--threads -1" "--log10-lr -3:0:-1" "--color-scale rainbow" \
           "--gamma 0" "--sweep-sigma-w2 1,2 --gamma 0"; do
    # shellcheck disable=SC2086
    "$bin" grid --dataset mnist-sample $bad --out "$work/bad" 2> /dev/null
    check "bad option '$bad' exits 2" test $? -eq 2
done
check "bad options wrote nothing" test ! -e "$work/bad"

# A value repeated in a list, or a range whose values repeat once rounded: usage errors that
# name the value, before anything is written.
for bad in "--gamma 0.5,1,0.50" "--log10-lr -2,-1,-2" \
           "--gamma 1:1.0000000002:0.00000000001" "--no-bn --gamma 1 --sweep-sigma-w2 1,2,1"; do
    # shellcheck disable=SC2086
    "$bin" grid --dataset mnist-sample $bad --out "$work/bad" 2> "$work/repeat.err"
    check "repeated value '$bad' exits 2" test $? -eq 2
    check "repeated value '$bad' is named" grep -q "is repeated" "$work/repeat.err"
done
check "repeated values wrote nothing" test ! -e "$work/bad"

check_summary
