#!/usr/bin/env bash
# The kill loop (scripts/kill_loop.sh): 20 SIGKILLs at random (seeded) moments of a small grid,
# each followed by a resume, then the grid finished: no run lost, none duplicated, and every
# output file identical to an uninterrupted run's (runs.csv without its seconds column).
set -u
source "$(dirname "$0")/check.sh" test_kill_loop
export BNTRAIN_BINARY=$bin
out=$(bash "$src/scripts/kill_loop.sh" 20 "${BNTRAIN_KILL_SEED:-1}")
status=$?
echo "$out"
check "kill loop exits 0" test $status -eq 0
check "kill loop: nothing lost or duplicated, files identical" \
    grep -qE '^runs: [0-9]+ total, 0 lost, 0 duplicated; files identical: yes$' <<< "$out"
check_summary
