#!/usr/bin/env bash
# bntrain probe on the bundled MNIST sample and the shared MNIST: probe.csv well-formed (header,
# four fields, layers 1..L or all, numbers), the same bytes on 1 and 2 threads, a depth-50
# BN-ReLU fc net, the bad options (exit 2, a message naming the option), and `bntrain plot` on
# probe folders. Without the shared MNIST the checks on it are SKIPPED (exit 77).
set -u
shared_default=${BNTRAIN_SHARED_DATA:-${BNTRAIN_SHARED_DATA_DEFAULT:-}}
source "$(dirname "$0")/check.sh" test_probe_cli
shared=${shared_default:-$src/../shared/data}

# probe.csv: the header, then layer,quantity,value,spread with layer all or 1..$2, a number as
# value and an empty or numeric spread.
csv_ok() { # csv_ok FILE N_LAYERS
    awk -F, -v layers="$2" '
        NR == 1 { if ($0 != "layer,quantity,value,spread") bad = 1; next }
        NF != 4 { bad = 1 }
        $1 != "all" && !($1 ~ /^[0-9]+$/ && $1 >= 1 && $1 <= layers) { bad = 1 }
        $2 !~ /^[a-z_0-9]+$/ { bad = 1 }
        $3 !~ /^-?[0-9.e+-]+$|^-?inf$|^nan$/ { bad = 1 }
        $4 != "" && $4 !~ /^-?[0-9.e+-]+$/ { bad = 1 }
        { seen[$1] = 1 }
        END { for (l = 1; l <= layers; l++) if (!(l in seen)) bad = 1; exit bad || !("all" in seen) }
    ' "$1"
}
has_row() { grep -q "^$2,$3," "$1"; } # has_row FILE LAYER QUANTITY

run=(probe --dataset mnist-sample --hidden 20,20,20 --samples 100)
"$bin" "${run[@]}" --out "$work/bn" > "$work/bn.out" 2> "$work/bn.err"
check "probe exits 0" [ $? -eq 0 ]
check "probe.csv well-formed" csv_ok "$work/bn/probe.csv" 4
for q in channel_mean_abs channel_var grad_norm grad_to_weight input_cov_lambda_max \
         input_cov_lambda_min input_cov_cond outgrad_cov_cond fisher_block_cond; do
    check "row 1,$q" has_row "$work/bn/probe.csv" 1 "$q"
done
check "per-class output gradient at the output layer" has_row "$work/bn/probe.csv" 4 dlogit_class_9
check "whole-network rows" has_row "$work/bn/probe.csv" all grad_norm
check "config.json says batchnorm" grep -q '"batchnorm": true' "$work/bn/config.json"
check "eigenvalues.csv" grep -q '^1,input,1,' "$work/bn/eigenvalues.csv"
check "table on stdout" grep -q '^    4 ' "$work/bn.out"
"$bin" "${run[@]}" --no-bn --out "$work/plain" > /dev/null 2>&1
check "probe --no-bn exits 0" [ $? -eq 0 ]
check "vanilla probe.csv well-formed" csv_ok "$work/plain/probe.csv" 4

# The same bytes on 1 and 2 threads: a cnn after 3 training steps, with the Fisher's lambda_max.
cnn=(probe --dataset mnist-sample --arch cnn --samples 64 --steps 3 --batch 32 --lambda)
"$bin" "${cnn[@]}" --threads 1 --out "$work/t1" > /dev/null 2>&1
s1=$?
"$bin" "${cnn[@]}" --threads 2 --out "$work/t2" > /dev/null 2>&1
check "cnn probe exits 0 on 1 and 2 threads" [ $s1 -eq 0 -a $? -eq 0 ]
check "cnn probe.csv well-formed" csv_ok "$work/t1/probe.csv" 4
check "probe.csv bitwise the same on 1 and 2 threads" cmp -s "$work/t1/probe.csv" "$work/t2/probe.csv"
check "eigenvalues.csv the same on 1 and 2 threads" \
    cmp -s "$work/t1/eigenvalues.csv" "$work/t2/eigenvalues.csv"
# --lambda: lambda_max > 0, eta_bar = 2(1 + 0.9)/lambda_max, and the cnn's bound beside it
lambda_ok() { # lambda_ok FILE
    awk -F, '$1 == "all" { v[$2] = $3 }
        END { l = v["lambda_max"]; e = v["eta_bar_measured"]
              exit !(l > 0 && e > 0 && (e * l - 3.8) ^ 2 < 1e-12 && v["lambda_bound"] > 0 &&
                     v["eta_bar_bound"] > 0 && v["lambda_iterations"] >= 1) }' "$1"
}
check "--lambda rows: lambda_max, eta_bar = 2(1+mu)/lambda_max, the bound" lambda_ok "$work/t1/probe.csv"
"$bin" "${run[@]}" --lambda --lambda-bn-mode batch --out "$work/lb" > "$work/lb.out" 2>&1
check "--lambda-bn-mode batch exits 0 with the line on stdout" grep -q "^lambda_max .*theory" "$work/lb.out"

# --eig-max-dim: the 784-dimensional input factor of layer 1 skipped, with a note.
"$bin" "${run[@]}" --eig-max-dim 100 --out "$work/cap" > /dev/null 2> "$work/cap.err"
check "--eig-max-dim skips layer 1's input factor" \
    bash -c "! grep -q '^1,input_cov_lambda_max,' '$work/cap/probe.csv' &&
             grep -q '^1,input_cov_dim,784,' '$work/cap/probe.csv' &&
             grep -q 'layer 1: input covariance of dimension 784 skipped' '$work/cap.err'"

# A BN-ReLU fc net of depth 50 (51 weight layers).
deep=$(printf '16,%.0s' $(seq 49))16
"$bin" probe --dataset mnist-sample --hidden "$deep" --samples 64 --out "$work/deep" > /dev/null 2>&1
check "depth-50 probe exits 0" [ $? -eq 0 ]
check "depth-50 probe.csv has 51 layers" csv_ok "$work/deep/probe.csv" 51

# Bad options: exit 2 and one line naming the option.
bad() { # bad OPTION ARGS...
    local option=$1
    shift
    "$bin" probe --dataset mnist-sample --out "$work/bad" "$@" > /dev/null 2> "$work/bad.err"
    local status=$?
    [ $status -eq 2 ] && grep -q -- "$option" "$work/bad.err" ||
        { echo "  $*: exit $status: $(cat "$work/bad.err")" >&2; return 1; }
}
check "empty --hidden" bad --hidden --hidden ''
check "depth 0 --hidden 0" bad --hidden --hidden 0
check "--samples 0" bad --samples --samples 0
check "--samples above the dataset" bad --samples --samples 4001
check "unknown --arch" bad --arch --arch resnet7
check "unknown --lambda-bn-mode" bad --lambda-bn-mode --lambda --lambda-bn-mode train
check "--steps x batch above the dataset" bad --steps --steps 1000
check "--out missing" bash -c "'$bin' probe --dataset mnist-sample 2>&1 >/dev/null | grep -q -- --out"

# bntrain plot on probe folders: BN and vanilla in one figure, in the first folder.
"$bin" plot "$work/bn" "$work/plain" > "$work/plot.out" 2>&1
check "plot of probe folders exits 0" [ $? -eq 0 ]
check "plot writes a PNG" bash -c "head -c 8 '$work/bn/probe.png' | od -An -tx1 | grep -q '89 50 4e 47'"
check "plot writes an SVG with both folders" \
    bash -c "grep -q 'BN: bn' '$work/bn/probe.svg' && grep -q 'vanilla: plain' '$work/bn/probe.svg'"
"$bin" plot "$work/bn" "$work" > /dev/null 2> "$work/plot.err"
check "plot refuses a folder without probe.csv or cells.csv (exit 2)" \
    bash -c "[ $? -eq 2 ] && grep -q 'neither a probe folder' '$work/plot.err'"

# lambda_max against gamma: two --lambda probes at gamma 0.5 and 2, with a small grid's boundary
for g in 0.5 2; do
    "$bin" probe --dataset mnist-sample --hidden 20,20 --samples 100 --lambda --gamma $g \
        --out "$work/lambda$g" > /dev/null 2>&1
done
"$bin" grid --dataset mnist-sample --hidden 20,20 --gamma 0.5,2 --log10-lr -2,-1,0,1 \
    --restarts 1 --epochs 1 --train-subset 500 --batch 50 --quiet --out "$work/lgrid" \
    > /dev/null 2>&1
# a grid with a cell not run yet (its last cells.csv row dropped): no boundary can be measured
cp -r "$work/lgrid" "$work/lgrid-partial"
sed -i '$d' "$work/lgrid-partial/cells.csv"
"$bin" plot "$work/lambda2" "$work/lambda0.5" "$work/lgrid-partial" > /dev/null \
    2> "$work/lplot.err"
check "an unfinished grid folder without boundary.csv is refused (exit 2)" \
    bash -c "[ $? -eq 2 ] && grep -q 'no boundary.csv' '$work/lplot.err' && \
        [ ! -e '$work/lgrid-partial/boundary.csv' ]"
# a finished grid (bntrain grid writes no boundary.csv): plot measures it first
"$bin" plot "$work/lambda2" "$work/lambda0.5" "$work/lgrid" > "$work/lplot.out" 2>&1
check "plot measures a finished grid's boundary.csv (identity line, one row per gamma)" \
    bash -c "[ $? -eq 0 ] && grep -q 'wrote .*boundary.csv' '$work/lplot.out' && \
        [ \"\$(head -n 1 '$work/lgrid/boundary.csv')\" = \"\$(head -n 1 '$work/lgrid/cells.csv')\" ] && \
        [ \$(wc -l < '$work/lgrid/boundary.csv') -eq 4 ]"
# boundary.csv as `bntrain figures` writes it: the identity line, then one row per column
{ head -n 1 "$work/lgrid/cells.csv"
  echo "x,log10_lr_emp,log10_eta_bar,distance_decades"
  echo "0.5,0,-0.5,0.5"
  echo "2,-1,-1.5,0.5"; } > "$work/lgrid/boundary.csv"
"$bin" plot "$work/lambda2" "$work/lambda0.5" "$work/lgrid" > "$work/lplot.out" 2>&1
check "plot of 2 --lambda probes and a grid exits 0" [ $? -eq 0 ]
check "... writes lambda.png in the first folder" \
    bash -c "head -c 8 '$work/lambda2/lambda.png' | od -An -tx1 | grep -q '89 50 4e 47'"
check "... whose SVG has the measured, the bound and the grid's boundary" \
    bash -c "grep -q 'measured' '$work/lambda2/lambda.svg' && grep -q 'lower bound' \
        '$work/lambda2/lambda.svg' && grep -q 'boundary' '$work/lambda2/lambda.svg'"
"$bin" plot "$work/lambda2" "$work/lgrid" > /dev/null 2> "$work/lplot.err"
check "a grid beside fewer than 2 --lambda probes is refused (exit 2)" \
    bash -c "[ $? -eq 2 ] && grep -q 'needs 2 or more probe folders' '$work/lplot.err'"

# The shared MNIST: a depth-10 probe, BN and vanilla.
if [ -f "$shared/mnist/train-images-idx3-ubyte.gz" ]; then
    mnist=(probe --dataset mnist --data-dir "$shared" --hidden 64,64,64,64,64,64,64,64,64,64
           --samples 256)
    "$bin" "${mnist[@]}" --out "$work/mnist" > /dev/null 2>&1
    check "MNIST probe exits 0" [ $? -eq 0 ]
    check "MNIST probe.csv well-formed" csv_ok "$work/mnist/probe.csv" 11
    missing=0
else
    echo "test_probe_cli: SKIPPED: the shared MNIST is missing: $shared/mnist" \
        "(\$BNTRAIN_SHARED_DATA): the MNIST checks did not run" >&2
    missing=1
fi
check_summary || exit 1
[ $missing -eq 0 ] || exit 77
