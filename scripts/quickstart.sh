#!/usr/bin/env bash
# The README's first command: installs the dependencies (Debian 12), builds bntrain, and runs
# the main job on the bundled MNIST sample: a small (gamma, eta) grid that writes a heatmap.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)"
./build/bntrain grid --dataset mnist-sample --data-dir data --gamma 0.1:4.1:0.5 \
    --log10-lr -3:0.5:0.5 --restarts 2 --epochs 2 --out grid-quickstart
echo "quickstart: open grid-quickstart/heatmap.png (or heatmap.svg)"
