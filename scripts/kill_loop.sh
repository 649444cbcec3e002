#!/usr/bin/env bash
# Kill loop: scripts/kill_loop.sh KILLS [SEED] runs one small grid (the bundled MNIST sample, 36
# runs of one epoch, 2 threads), kills it with SIGKILL at a random moment, resumes it, KILLS
# times, then lets it finish and compares it with an uninterrupted run of the same grid. The
# delays come from bash's RANDOM seeded with SEED (default 1), so a failure can be replayed.
# Prints `runs: T total, L lost, D duplicated; files identical: yes|no` and exits 1 on any loss,
# duplicate or difference (2 on a usage error). BNTRAIN_BINARY names the binary (default
# build/bntrain), BNTRAIN_DATA the data root (default data/).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
kills=${1:-}
seed=${2:-1}
if ! [[ "$kills" =~ ^[0-9]+$ && "$seed" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/kill_loop.sh KILLS [SEED]" >&2
    exit 2
fi
bin=${BNTRAIN_BINARY:-$root/build/bntrain}
export BNTRAIN_DATA=${BNTRAIN_DATA:-$root/data}
work=$(mktemp -d /tmp/bntrain-kill-loop.XXXXXX)
trap 'rm -rf "$work"' EXIT

grid=(grid --dataset mnist-sample --gamma 0.5,1,1.5,2 --log10-lr -2,-1,0 --restarts 3 --epochs 1
      --train-subset 2000 --batch 50 --hidden 256,256 --threads 2 --quiet)
total=36

milliseconds() { echo $(($(date +%s%N) / 1000000)); }

start=$(milliseconds)
if ! "$bin" "${grid[@]}" --out "$work/reference"; then
    echo "kill_loop: the uninterrupted grid failed" >&2
    exit 1
fi
reference_ms=$(($(milliseconds) - start))
# A no-op rerun takes the start-up alone (data, theory, figures): the rest was training.
start=$(milliseconds)
"$bin" "${grid[@]}" --out "$work/reference"
startup_ms=$(($(milliseconds) - start))
run_ms=$(((reference_ms - startup_ms) * 2 / total + 1)) # two runs at a time

# Where each kill falls is drawn at random: the resumed grid is first let run until 0 or 1
# more run is on disk (so that the kills spread over the whole grid whatever the machine's
# speed, and some fall on start-up), then killed after a further delay drawn uniformly from
# [0, the time of a run): on training, on an append, on a rewrite of cells.csv or the
# heatmap. Once the grid is complete, later kills hit no-op reruns, which rewrite every file
# but runs.csv and must leave them identical too.
RANDOM=$seed
# complete records: wc counts newlines, so a torn last line is not one
records() { echo $(($(cat "$work/killed/runs.csv" 2> /dev/null | wc -l) - 2)); }
hits=0
for ((k = 1; k <= kills; k++)); do
    want=$(($(records) + RANDOM % 2))
    [ "$want" -gt $total ] && want=$total
    "$bin" "${grid[@]}" --out "$work/killed" 2>> "$work/killed.log" &
    pid=$!
    while [ "$(records)" -lt "$want" ] && kill -0 "$pid" 2> /dev/null; do sleep 0.01; done
    delay_ms=$(((RANDOM * 32768 + RANDOM) % run_ms))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    [ $? -eq 137 ] && hits=$((hits + 1))
done
on_disk=$(records)
finished=yes
if ! "$bin" "${grid[@]}" --out "$work/killed" 2>> "$work/killed.log"; then
    finished=no
    echo "kill_loop: the resumed grid failed (seed $seed):" >&2
    tail -n 5 "$work/killed.log" >&2
fi

# Runs by key (x, log10_lr, restart), and runs.csv sorted without the seconds column.
keys() { tail -n +3 "$1/runs.csv" | cut -d, -f1,2,4 | sort; }
results() { tail -n +3 "$1/runs.csv" | cut -d, -f1-10 | sort; }
total=$(keys "$work/reference" | wc -l)
lost=$(comm -23 <(keys "$work/reference" | sort -u) <(keys "$work/killed" | sort -u) | wc -l)
duplicated=$(($(keys "$work/killed" | wc -l) - $(keys "$work/killed" | sort -u | wc -l)))
identical=yes
cmp -s <(results "$work/reference") <(results "$work/killed") || identical=no
for f in config.json cells.csv theory.csv heatmap.png heatmap.svg; do
    cmp -s "$work/reference/$f" "$work/killed/$f" || identical=no
done
echo "kill_loop: $kills kills (seed $seed), $hits of them on a running grid; $on_disk runs on" \
    "disk after the last kill"
echo "runs: $total total, $lost lost, $duplicated duplicated; files identical: $identical"
[ "$finished" = yes ] && [ "$lost" -eq 0 ] && [ "$duplicated" -eq 0 ] && [ "$identical" = yes ]
