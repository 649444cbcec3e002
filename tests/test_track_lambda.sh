#!/usr/bin/env bash
# bntrain train --track-lambda: bad values exit 2 with one line naming the option; the records
# carry lambda_max and eta_bar_measured = 2 (1 + momentum) / lambda_max, positive, at the steps
# asked for, and the same bits with 1 and 2 threads (the Fisher's passes are deterministic).
set -u
source "$(dirname "$0")/check.sh" test_track_lambda

run=(train --dataset mnist-sample --train-subset 256 --batch 32 --epochs 1 --hidden 32,32
     --json)

expect_usage() { # expect_usage WORD ARGS...: exit 2, one line on stderr mentioning WORD
    local word=$1
    shift
    "$bin" "$@" > /dev/null 2> "$work/err"
    local status=$?
    [ "$status" -eq 2 ] && [ "$(wc -l < "$work/err")" -eq 1 ] && grep -q -- "$word" "$work/err"
}

check "--track-lambda 0 is refused" expect_usage track-lambda "${run[@]}" --track-lambda 0
check "--track-lambda x is refused" expect_usage track-lambda "${run[@]}" --track-lambda x
check "--lambda-samples 0 is refused" expect_usage lambda-samples "${run[@]}" --track-lambda 4 \
    --lambda-samples 0
check "--lambda-samples above the training set is refused" expect_usage lambda-samples \
    "${run[@]}" --track-lambda 4 --lambda-samples 257
check "--lambda-samples without --track-lambda is refused" expect_usage lambda-samples \
    "${run[@]}" --lambda-samples 10
check "--track-lambda with cross-entropy is refused" expect_usage mse "${run[@]}" \
    --track-lambda 4 --loss ce

for threads in 1 2; do
    "$bin" "${run[@]}" --track-lambda 3 --lambda-samples 100 --threads $threads \
        > "$work/out$threads" 2> "$work/err$threads"
    check "a tracked run with $threads threads succeeds" test $? -eq 0
done

# The measurements: step, lambda_max, eta_bar_measured, per record (8 steps: 3 and 6).
records() {
    python3 - "$1" << 'PY'
import json, sys
momentum = 0.9
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "step" in r:
        lam, eta = r["lambda_max"], r["eta_bar_measured"]
        ok = lam > 0 and abs(eta - 2 * (1 + momentum) / lam) <= 1e-6 * eta
        print(r["step"], repr(lam), repr(eta), "ok" if ok else "BAD")
    elif "epoch" in r and "test_loss" in r:
        print("epoch", repr(r["lambda_max"]), repr(r["eta_bar_measured"]))
PY
}
records "$work/out1" > "$work/records1"
records "$work/out2" > "$work/records2"
check "measured at steps 3 and 6" test "$(cut -d' ' -f1 "$work/records1" | tr '\n' ' ')" = \
    "3 6 epoch "
check "lambda_max positive and eta_bar_measured = 2 (1 + mu) / lambda_max" \
    test "$(grep -c ' ok$' "$work/records1")" -eq 2
check "the epoch record repeats the last measurement" \
    test "$(sed -n 2p "$work/records1" | cut -d' ' -f2-3)" = \
    "$(sed -n 3p "$work/records1" | cut -d' ' -f2-3)"
check "the same lambda_max with 1 and 2 threads" cmp -s "$work/records1" "$work/records2"

check_summary
