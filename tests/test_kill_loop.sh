#!/usr/bin/env bash
# The kill loop (scripts/kill_loop.sh): 20 SIGKILLs at random (seeded) moments of a small grid,
# each followed by a resume, then the grid finished: no run lost, none duplicated, and every
# output file identical to an uninterrupted run's (runs.csv without its seconds column).
set -u
bin=${BNTRAIN_BINARY:?set by ctest}
src=${BNTRAIN_SOURCE_DIR:?set by ctest}
export BNTRAIN_BINARY=$bin BNTRAIN_DATA="$src/data"
out=$(bash "$src/scripts/kill_loop.sh" 20 "${BNTRAIN_KILL_SEED:-1}")
status=$?
echo "$out"
passed=0 failed=0
check() {
    local what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}
check "kill loop exits 0" test $status -eq 0
check "kill loop: nothing lost or duplicated, files identical" \
    grep -qE '^runs: [0-9]+ total, 0 lost, 0 duplicated; files identical: yes$' <<< "$out"
echo "test_kill_loop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
