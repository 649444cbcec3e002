#!/usr/bin/env bash
# The command line: help and version, usage errors (exit 2, one line), --json output,
# explosions as results, reproducible output. (Bad data files and the other bad inputs of
# README's table, message and all: tests/test_bad_input.sh.)
set -u
source "$(dirname "$0")/check.sh" test_cli

status_of() { "$@" > "$work/out" 2> "$work/err"; echo $?; }

check "--help exits 0" test "$(status_of "$bin" --help)" -eq 0
check "--help lists the commands" grep -q "grid" "$work/out"
check "--version exits 0" test "$(status_of "$bin" --version)" -eq 0
check "--version prints the version" grep -Eq "^bntrain [0-9]+\.[0-9]+\.[0-9]+$" "$work/out"
for cmd in train grid theory plot figures; do
    check "help $cmd exits 0" test "$(status_of "$bin" help "$cmd")" -eq 0
    check "help $cmd prints usage to stdout" grep -q "usage: bntrain $cmd" "$work/out"
    check "$cmd --help exits 0" test "$(status_of "$bin" "$cmd" --help)" -eq 0
done
check "no command exits 2" test "$(status_of "$bin")" -eq 2
check "unknown command exits 2" test "$(status_of "$bin" frobnicate)" -eq 2
check "unknown command is named" grep -q "frobnicate" "$work/err"
check "help for an unknown command exits 2" test "$(status_of "$bin" help frobnicate)" -eq 2

t=(train --dataset mnist-sample --train-subset 256 --batch 32 --epochs 1 --hidden 32)
# (an unknown option, --lr abc and bad data files: tests/test_bad_input.sh, message and all)
usage_cases=("--lr 0" "--lr -1" "--gamma x" "--gamma 1e400" "--dataset nope"
             "--arch rnn" "--loss hinge" "--batch 0" "--epochs -2" "--momentum 1"
             "--hidden 10,0" "--arch cnn --kernel 40" "--batch 100000"
             "--augment maybe" "--lr-schedule step:5,2" "--lr-schedule exp")
for c in "${usage_cases[@]}"; do
    # shellcheck disable=SC2086
    check "train $c exits 2" test "$(status_of "$bin" "${t[@]}" $c)" -eq 2
    check "train $c: one line on stderr" test "$(wc -l < "$work/err")" -eq 1
done
check "train without --dataset exits 2" test "$(status_of "$bin" train --lr 0.1)" -eq 2

check "train exits 0" test "$(status_of "$bin" "${t[@]}" --gamma 0.5 --lr 0.05 --json)" -eq 0
check "--json prints one object per epoch" \
    python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$work/out"
check "--json has the fields" grep -q '"epoch": 1, "train_loss": .*"test_loss": .*"test_acc": .*"seconds"' "$work/out"
sed 's/"seconds.*//' "$work/out" > "$work/first"
"$bin" "${t[@]}" --gamma 0.5 --lr 0.05 --json | sed 's/"seconds.*//' > "$work/second"
check "same seed and options: identical output" cmp -s "$work/first" "$work/second"
"$bin" "${t[@]}" --gamma 0.5 --lr 0.05 --json --seed 2 | sed 's/"seconds.*//' > "$work/third"
check "another seed: other output" test -n "$(cmp "$work/first" "$work/third")"
check "--json reports the rate, augmentation and schedule" \
    grep -q '"lr": 0.05, "augment": false, "lr_schedule": "constant", ' "$work/first"
"$bin" "${t[@]}" --epochs 2 --lr 0.05 --lr-schedule step:1 --augment on --json > "$work/step"
check "--lr-schedule step:1: the second epoch at a tenth of the rate" \
    grep -q '"epoch": 2, .*"lr": 0.005, "augment": true, "lr_schedule": "step:1"' "$work/step"

check "an explosion exits 0" test "$(status_of "$bin" "${t[@]}" --gamma 4 --lr 10)" -eq 0
check "an explosion says when" grep -Eq "exploded at epoch 1, step [0-9]+" "$work/out"
check "an explosion in json" \
    test "$(status_of "$bin" "${t[@]}" --gamma 4 --lr 10 --json)" -eq 0
check "json explosion record" grep -q '"exploded": true' "$work/out"

check "figures: a bad option exits 2" test "$(status_of "$bin" figures --bogus)" -eq 2
check "figures: --threads 0 exits 2" test "$(status_of "$bin" figures --threads 0)" -eq 2

check_summary
