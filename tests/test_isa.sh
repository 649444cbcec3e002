#!/usr/bin/env bash
# BNTRAIN_ISA, the instruction-set level of bntrain's kernels for a whole process: a value that
# is not a level and a level the CPU lacks are usage errors (exit 2, one line); every level the
# CPU has gives bitwise the same results (train's epoch records for an fc and two cnns that
# take the AVX-512 convolution paths, curves' checkpoints of every parameter and state, a
# grid's outputs), and a grid folder begun at one level is finished at another. (The bad
# value's exact message is also a row of tests/test_bad_input.sh and README's table.)
set -u
source "$(dirname "$0")/check.sh" test_isa

status_of() { "$@" > "$work/out" 2> "$work/err"; echo $?; }
one_line() { test "$(wc -l < "$work/err")" -eq 1; }
levels=(portable avx2 avx512)
t=(train --dataset mnist-sample --train-subset 256 --batch 32 --epochs 2 --json --threads 2)

for value in sse AVX2 "avx512 " x86-64-v3 native; do
    check "BNTRAIN_ISA='$value': exit 2" \
        test "$(status_of env BNTRAIN_ISA="$value" "$bin" "${t[@]}" --hidden 8)" -eq 2
    check "BNTRAIN_ISA='$value': one line" one_line
    check "BNTRAIN_ISA='$value': names the variable and the levels" \
        grep -qxF "bntrain train: BNTRAIN_ISA='$value': not an instruction-set level (portable, avx2 or avx512)" \
        "$work/err"
    check "BNTRAIN_ISA='$value': grid refuses it too" \
        test "$(status_of env BNTRAIN_ISA="$value" "$bin" grid --dataset mnist-sample --quiet \
            --out "$work/never")" -eq 2
    check "BNTRAIN_ISA='$value': nothing written" test ! -e "$work/never"
done
check "BNTRAIN_ISA empty: the CPU's level" \
    test "$(status_of env BNTRAIN_ISA= "$bin" "${t[@]}" --hidden 8)" -eq 0

# The CPU's own level: train --json's first record names the level in force.
"$bin" "${t[@]}" --hidden 8 > "$work/out"
widest=$(head -n 1 "$work/out" | sed -n 's/.*"isa": "\([a-z0-9]*\)".*/\1/p')
check "train --json names the level in force ('$widest')" \
    bash -c "case '$widest' in portable|avx2|avx512) true ;; *) false ;; esac"
have=()
for level in "${levels[@]}"; do
    have+=("$level")
    [ "$level" = "$widest" ] && break
done
echo "test_isa: this CPU has ${have[*]}"
for level in "${levels[@]:${#have[@]}}"; do
    check "BNTRAIN_ISA=$level, which the CPU lacks: exit 2" \
        test "$(status_of env BNTRAIN_ISA="$level" "$bin" "${t[@]}" --hidden 8)" -eq 2
    check "BNTRAIN_ISA=$level, which the CPU lacks: says so" \
        grep -qxF "bntrain train: BNTRAIN_ISA=$level: this CPU has $widest at most" "$work/err"
done
[ ${#have[@]} -gt 1 ] || echo "test_isa: one level only on this CPU: nothing to compare" >&2

# The runs: an fc; a cnn of stride 2 (AVX-512's vector lowering and direct rows); a cnn of
# stride 1, padding 1 (AVX-512's direct weight gradient); augmentation on in the cnns.
runs=("--hidden 64,32"
      "--arch cnn --hidden 16,32 --augment on --loss ce --lr 0.05"
      "--arch cnn --hidden 16,16 --stride 1 --padding 1 --augment on --loss ce --lr 0.02")
# The epoch records without the seconds and the first record without the level.
records() { sed -e 's/"seconds": [0-9.]*//' -e 's/, "isa": "[a-z0-9]*"//' "$1"; }
curves=(curves --dataset mnist-sample --arch cnn --hidden 16,32 --augment on --gamma 0.5,1
        --restarts 1 --epochs 2 --batch 25 --train-subset 500 --lr 0.05 --loss ce --quiet)
grid=(grid --dataset mnist-sample --gamma 0.5,1 --log10-lr -2,-1 --restarts 2 --epochs 1
      --train-subset 200 --batch 50 --hidden 16 --quiet)
for level in "${have[@]}"; do
    for i in "${!runs[@]}"; do
        # shellcheck disable=SC2086
        BNTRAIN_ISA=$level "$bin" "${t[@]}" ${runs[$i]} > "$work/train-$i-$level.json"
        check "$level: train ${runs[$i]} exits 0" test $? -eq 0
        check "$level: train --json says the level" \
            grep -q "\"isa\": \"$level\"}$" <(head -n 1 "$work/train-$i-$level.json")
    done
    BNTRAIN_ISA=$level "$bin" "${curves[@]}" --out "$work/curves-$level"
    check "$level: curves exits 0" test $? -eq 0
    BNTRAIN_ISA=$level "$bin" "${grid[@]}" --out "$work/grid-$level"
    check "$level: grid exits 0" test $? -eq 0
done
ref=${have[0]}
for level in "${have[@]:1}"; do
    for i in "${!runs[@]}"; do
        check "train ${runs[$i]}: $level gives the bits of $ref" \
            cmp <(records "$work/train-$i-$ref.json") <(records "$work/train-$i-$level.json")
    done
    for f in "$work/curves-$ref"/checkpoints/*; do
        check "curves checkpoint $(basename "$f"): $level gives the bits of $ref" \
            cmp "$f" "$work/curves-$level/checkpoints/$(basename "$f")"
    done
    # (its lines in the order the runs finished them: sorted)
    check "curves.csv: $level gives the records of $ref" \
        cmp <(tail -n +3 "$work/curves-$ref/curves.csv" | cut -d, -f1-10 | sort) \
            <(tail -n +3 "$work/curves-$level/curves.csv" | cut -d, -f1-10 | sort)
    check "grid: $level gives the outputs of $ref" same_outputs "$work/grid-$ref" "$work/grid-$level"
    check "grid runs.csv: $level gives the records of $ref" \
        cmp <(sorted_runs "$work/grid-$ref/runs.csv") <(sorted_runs "$work/grid-$level/runs.csv")
done
# A grid begun at the widest level with its last 3 runs missing, finished at the narrowest:
# the level is no part of the configuration, and the result is the uninterrupted grid's.
if [ ${#have[@]} -gt 1 ]; then
    cp -r "$work/grid-$widest" "$work/resumed"
    head -n -3 "$work/grid-$widest/runs.csv" > "$work/resumed/runs.csv"
    check "grid begun at $widest resumes at $ref" \
        env BNTRAIN_ISA="$ref" "$bin" "${grid[@]}" --out "$work/resumed"
    check "the resumed grid's records are the uninterrupted ones" \
        cmp <(sorted_runs "$work/grid-$widest/runs.csv") <(sorted_runs "$work/resumed/runs.csv")
    check "the resumed grid's outputs are the uninterrupted ones" \
        same_outputs "$work/grid-$widest" "$work/resumed"
fi
check_summary
