#!/usr/bin/env bash
# End-to-end tests of `bntrain curves` on the bundled MNIST sample (a cnn with augmentation:
# every state a checkpoint must hold): curves.csv and the figure, kill -9 at random moments
# and resume (bitwise the uninterrupted curves), checkpoints refused when corrupt, cut short,
# of another run or of another configuration, a configuration mismatch, bad options.
set -u
source "$(dirname "$0")/check.sh" test_curves

curves=(curves --dataset mnist-sample --arch cnn --hidden 16,32 --augment on --gamma 0.5,1
        --restarts 2 --epochs 4 --batch 25 --lr 0.05 --loss ce --quiet)
n_rows=16 # 2 gammas x 2 restarts x 4 epochs

# curves.csv without its seconds column, in file order sorted: what a resume must not change.
records() { tail -n +3 "$1/curves.csv" | cut -d, -f1-10 | sort; }

"$bin" "${curves[@]}" --threads 2 --out "$work/ref"
check "curves exits 0" test $? -eq 0
for f in config.json curves.csv curves.png curves.svg; do
    check "curves writes $f" test -s "$work/ref/$f"
done
check "curves.csv starts with its identity line" \
    grep -q '^# bntrain curves config [0-9a-f]\{16\}$' <(head -1 "$work/ref/curves.csv")
check "curves.csv has a line per run and epoch" test "$(records "$work/ref" | wc -l)" -eq $n_rows
check "config.json reports the parameter count (PyTorch's count of this cnn)" \
    grep -q '"parameters": 16426$' "$work/ref/config.json"
check "a checkpoint per run" test "$(ls "$work/ref/checkpoints" | wc -l)" -eq 4
check "the runs learn (test accuracy above 70 % at epoch 4)" \
    awk -F, 'NR > 2 && $4 == 4 && $9 < 0.7 { bad = 1 } END { exit bad }' "$work/ref/curves.csv"

# The same curves on one thread, and a rerun of a finished folder trains nothing.
"$bin" "${curves[@]}" --threads 1 --out "$work/t1"
check "the same curves on 1 and 2 threads" cmp -s <(records "$work/ref") <(records "$work/t1")
cp "$work/t1/curves.csv" "$work/before.csv"
"$bin" "${curves[@]}" --threads 1 --out "$work/t1"
check "a finished folder: rerun exits 0" test $? -eq 0
check "a finished folder: curves.csv untouched" cmp -s "$work/t1/curves.csv" "$work/before.csv"

# Up to 20 kill -9 of a one-thread run, each just after it has put one more line on disk (and a
# random 0 to 40 ms later), so that every kill lands mid-run whatever the machine's speed, then
# a resume to the end on two threads: bitwise the uninterrupted curves, no line lost or twice.
lines_on_disk() { tail -n +3 "$work/killed/curves.csv" 2> /dev/null | wc -l; }
running() { [ "$(ps -o stat= -p "$1" 2> /dev/null | cut -c1)" != Z ] && kill -0 "$1" 2> /dev/null; }
kills=0
for attempt in $(seq 1 20); do
    before=$(lines_on_disk)
    [ "$before" -ge $n_rows ] && break
    "$bin" "${curves[@]}" --threads 1 --out "$work/killed" 2> /dev/null &
    pid=$!
    while running $pid && [ "$(lines_on_disk)" -le "$before" ]; do sleep 0.005; done
    sleep "0.0$(( RANDOM % 5 ))"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    [ $? -eq 137 ] && kills=$((kills + 1)) # killed, not finished before the kill
done
"$bin" "${curves[@]}" --threads 2 --out "$work/killed"
check "resumed after $kills kills: exits 0" test $? -eq 0
check "at least 10 kills landed mid-run ($kills)" test $kills -ge 10
check "resumed after $kills kills: the uninterrupted curves, bitwise" \
    cmp -s <(records "$work/ref") <(records "$work/killed")
check "resumed: no line twice" test "$(tail -n +3 "$work/killed/curves.csv" | wc -l)" -eq $n_rows
echo "test_curves: $kills kills, $(records "$work/killed" | wc -l) of $n_rows lines, 0 lost"

# An unfinished run whose checkpoint is damaged: refused, naming the file; never loaded.
unfinished() { # unfinished DIR: run gamma 1, restart 1 loses its last epoch's line
    cp -r "$work/ref" "$1"
    grep -v '^1,1,[0-9]*,4,' "$work/ref/curves.csv" > "$1/curves.csv"
}
ckpt=checkpoints/gamma1_restart1.ckpt
unfinished "$work/flip"
size=$(stat -c %s "$work/flip/$ckpt")
printf '\x55' | dd of="$work/flip/$ckpt" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$bin" "${curves[@]}" --out "$work/flip" 2> "$work/flip.err"
check "flipped byte: exit 1" test $? -eq 1
check "flipped byte: names the file and the checksum" \
    grep -q "gamma1_restart1.ckpt: checkpoint refused: cut short or corrupt" "$work/flip.err"
unfinished "$work/cut"
truncate -s 100 "$work/cut/$ckpt"
"$bin" "${curves[@]}" --out "$work/cut" 2> "$work/cut.err"
check "cut checkpoint: exit 1" test $? -eq 1
check "cut checkpoint: refused" grep -q "gamma1_restart1.ckpt: checkpoint refused" "$work/cut.err"
unfinished "$work/swap"
cp "$work/swap/checkpoints/gamma1_restart0.ckpt" "$work/swap/$ckpt"
"$bin" "${curves[@]}" --out "$work/swap" 2> "$work/swap.err"
check "another run's checkpoint: exit 1" test $? -eq 1
check "another run's checkpoint: says so" grep -q "another run" "$work/swap.err"
# An intact checkpoint one epoch ahead of its lines: refused, nothing invented.
unfinished "$work/ahead"
"$bin" "${curves[@]}" --out "$work/ahead" 2> "$work/ahead.err"
check "checkpoint ahead of curves.csv: exit 1" test $? -eq 1
check "checkpoint ahead of curves.csv: says what to do" \
    grep -q "lacks some of them: delete the checkpoint" "$work/ahead.err"
rm "$work/ahead/$ckpt"
"$bin" "${curves[@]}" --out "$work/ahead"
check "checkpoint deleted: the run is trained again, to the same curves" \
    cmp -s <(records "$work/ref") <(records "$work/ahead")

# Another configuration in the folder: a usage error, the folder left alone.
cp "$work/ref/curves.csv" "$work/before.csv"
"$bin" "${curves[@]}" --epochs 5 --out "$work/ref" 2> "$work/mismatch.err"
check "another configuration: exit 2" test $? -eq 2
check "another configuration: names the key" grep -q "epochs 4 (now 5)" "$work/mismatch.err"
check "another configuration: curves.csv untouched" cmp -s "$work/ref/curves.csv" "$work/before.csv"

# Bad options: usage errors before anything is written.
for bad in "--gamma 0,1" "--gamma 1,2,3,4,5,6,7,8,9" "--restarts 0" "--arch vgg"; do
    "$bin" "${curves[@]}" $bad --out "$work/bad" 2> "$work/bad.err"
    check "curves $bad: exit 2" test $? -eq 2
    check "curves $bad: one line" test "$(wc -l < "$work/bad.err")" -eq 1
done
check "bad options: no folder made" test ! -e "$work/bad"

check_summary
