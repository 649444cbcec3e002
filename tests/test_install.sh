#!/usr/bin/env bash
# `cmake --install` puts libbntrain.a and the public headers under a prefix, and a program that
# includes only those headers (tests/embed/embed.c) builds against them and trains a network.
set -u
src=${BNTRAIN_SOURCE_DIR:?set by ctest}
build=${BNTRAIN_BUILD_DIR:?set by ctest}
work=$(mktemp -d /tmp/bntrain-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "test_install: FAILED: $*" >&2; }

if cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" 2>&1; then ok
else fail "cmake --install"; cat "$work/install.log" >&2; fi
[ -f "$work/prefix/lib/libbntrain.a" ] && ok || fail "no lib/libbntrain.a"
[ -x "$work/prefix/bin/bntrain" ] && ok || fail "no bin/bntrain"
[ -f "$work/prefix/include/bntrain/train.h" ] && ok || fail "no include/bntrain/train.h"

# Only the public headers: the private ones (src/*/*.h) are not installed.
private=$(cd "$src/src" && ls */*.h | xargs -n 1 basename | while read -r h; do
    [ -e "$work/prefix/include/bntrain/$h" ] && [ ! -e "$src/include/bntrain/$h" ] && echo "$h"; done)
[ -z "$private" ] && ok || fail "private headers installed: $private"

# BNTRAIN_C_FLAGS carries the sanitizer flags of a sanitizer build (the library needs them).
# shellcheck disable=SC2086
if cc -std=c11 ${BNTRAIN_C_FLAGS:-} -I"$work/prefix/include" "$src/tests/embed/embed.c" \
      -L"$work/prefix/lib" -lbntrain -fopenmp -lpng -lz -lm -o "$work/embed" 2> "$work/cc.log"
then ok; else fail "embed.c does not build against the installed headers"; cat "$work/cc.log" >&2; fi
if [ -x "$work/embed" ] && "$work/embed" "$src/data" > "$work/embed.out" 2>&1; then ok
    cat "$work/embed.out"
else fail "embed did not train"; cat "$work/embed.out" >&2 2>/dev/null; fi

echo "test_install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
