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

# Prints the closing line and returns the verdict: use as the script's last command.
check_summary() {
    echo "$check_name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
