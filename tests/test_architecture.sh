#!/usr/bin/env bash
# The module map in docs/architecture.md against the code's #include lines: the document must be
# what scripts/architecture.py generates from them, the modules' dependencies must have no
# cycle, and public headers must include only public headers. Then the same check on copies
# of the tree with one bad include each, which it must refuse.
set -u
src=${BNTRAIN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if ! command -v python3 > /dev/null; then
    echo "test_architecture: SKIPPED: python3 is not installed (scripts/install_deps.sh installs it)" >&2
    exit 77
fi
work=$(mktemp -d /tmp/bntrain-architecture-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

expect() { # expect STATUS WORDS-IN-STDERR DESCRIPTION -- command...
    local want=$1 words=$2 what=$3
    shift 4
    local status=0
    "$@" > "$work/out" 2> "$work/err" || status=$?
    if [ "$status" -eq "$want" ] && grep -q -- "$words" "$work/err" "$work/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "test_architecture: FAILED: $what (status $status, wanted $want and '$words'):" >&2
        cat "$work/err" >&2
    fi
}

expect 0 "matches the includes" "docs/architecture.md matches the code" -- \
    python3 "$src/scripts/architecture.py" --check

# A copy of what the script reads, in which one line is made wrong.
copy_tree() {
    rm -rf "$work/tree"
    mkdir -p "$work/tree"
    cp -r "$src/src" "$src/include" "$src/docs" "$src/scripts" "$work/tree/"
}
first_source() { ls "$work/tree/src/$1"/*.c | head -n 1; }

copy_tree
sed -i '1i #include "cli/cli.h"' "$(first_source base)"
expect 1 "cycle" "a base file that includes a cli header makes a cycle" -- \
    python3 "$work/tree/scripts/architecture.py" --check

copy_tree
sed -i '1i #include "plot/plot.h"' "$(first_source data)"
expect 1 "differs from the code" "a new dependency (data -> plot) the document does not show" -- \
    python3 "$work/tree/scripts/architecture.py" --check

copy_tree
header=$(ls "$work/tree/include/bntrain"/*.h | head -n 1)
sed -i '/#define/a #include "engine/parallel.h"' "$header"
expect 1 "may include only public headers" "a public header that includes a private one" -- \
    python3 "$work/tree/scripts/architecture.py" --check

echo "test_architecture: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
