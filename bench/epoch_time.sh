#!/usr/bin/env bash
# Time per epoch of a deep network on CIFAR-10, and what it makes of the paper's full Fig. 4.
#
#   bash bench/epoch_time.sh [BINARY] [DATA_DIR] [ARCH ...]
#
# A full-width epoch takes a quarter of an hour, so it is not timed whole: two `bntrain train`
# runs of 10 and 20 steps of 128 images (on one thread, as each of the runs that `bntrain
# curves` spreads over the cores) give the seconds of a training step from their difference,
# and the rest of the shorter run is the evaluation of the 10000 test images. An epoch is then
# 390 steps plus that evaluation. Loading the data and building the model happen before the
# clock `train` reports starts, so they cancel. The machine should be otherwise idle.
set -eu
binary=${1:-build/bntrain}
data_dir=${2:-${BNTRAIN_DATA:-../shared/data}}
shift 2 2> /dev/null || shift $#
archs=${*:-vgg16 preact-resnet18}
[ -x "$binary" ] || { echo "epoch_time: no bntrain binary at $binary (build first)" >&2; exit 2; }
work=$(mktemp -d /tmp/bntrain-epoch-time.XXXXXX)
trap 'rm -rf "$work"' EXIT

# seconds and peak RSS (KiB) of one epoch on the first N images: "SECONDS RSS"
train_seconds() { # ARCH N
    /usr/bin/time -f "%M" -o "$work/rss" "$binary" train --dataset cifar10 \
        --data-dir "$data_dir" --arch "$1" --gamma 1 --lr 0.1 --momentum 0.9 \
        --weight-decay 5e-4 --loss ce --train-subset "$2" --epochs 1 --threads 1 \
        --json > "$work/out"
    echo "$(grep -o '"seconds": *[0-9.]*' "$work/out" | tail -1 | grep -o '[0-9.]*$')" \
        "$(tail -1 "$work/rss")"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
printf '%-16s %10s %10s %12s %12s %10s %14s\n' arch s/step images/s eval_s epoch_s peak_MiB \
    "fig4_h_here"
for arch in $archs; do
    read -r short rss_short <<< "$(train_seconds "$arch" 1280)"
    read -r long rss_long <<< "$(train_seconds "$arch" 2560)"
    awk -v a="$arch" -v s="$short" -v l="$long" -v r="$rss_long" -v cores="$(nproc)" 'BEGIN {
        step = (l - s) / 10; eval_s = s - 10 * step; epoch = 390 * step + eval_s
        # Fig. 4: 2 gammas x 5 trainings x 100 epochs, one run per core at a time
        hours = 2 * 5 * 100 * epoch / (cores < 10 ? cores : 10) / 3600
        printf "%-16s %10.3f %10.1f %12.1f %12.0f %10.0f %14.0f\n", a, step, 128 / step,
               eval_s, epoch, r / 1024, hours }'
done
