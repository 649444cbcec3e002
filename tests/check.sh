# The shell tests' helpers, sourced by tests/test_*.sh (the twin of check.h): the paths ctest
# sets, a scratch folder removed on exit, check() counting each check, and check_summary,
# whose exit status is the verdict.
#   source "$(dirname "$0")/check.sh" NAME   (NAME: the test, for messages and the folder)
check_name=$1
bin=${BNTRAIN_BINARY:?set by ctest}
src=${BNTRAIN_SOURCE_DIR:?set by ctest}
export BNTRAIN_DATA="$src/data"
work=$(mktemp -d "/tmp/bntrain-$check_name.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}

# Grid folders. Run logs (runs.csv, runs.K-of-N.csv) begin with the identity line and the CSV
# header. data_lines FILE: its records. sorted_runs FILE...: the records of the logs together
# without the seconds column, sorted: what must not depend on threads, order or shards.
# same_outputs DIR1 DIR2: every output file but the run logs, byte for byte.
data_lines() { tail -n +3 "$1" | grep -c .; }
sorted_runs() { tail -q -n +3 "$@" | cut -d, -f1-10 | sort; }
same_outputs() {
    local f
    for f in config.json cells.csv theory.csv heatmap.png heatmap.svg; do
        cmp -s "$1/$f" "$2/$f" || { echo "differs: $f" >&2; return 1; }
    done
}

# Prints the closing line and returns the verdict: use as the script's last command.
check_summary() {
    echo "$check_name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
