#!/usr/bin/env bash
# Installs what bntrain needs to build and test on Debian 12 (run as root or with sudo).
set -euo pipefail
# clang, libclang-rt-dev (libFuzzer) and libomp-dev (OpenMP for clang): the fuzz targets only,
# scripts/fuzz.sh; bntrain itself builds with gcc. libopenmpi-dev and openmpi-bin: the optional
# MPI cluster mode (`mpirun -n R bntrain grid`) and its test.
packages=(build-essential cmake pkg-config libopenblas-dev libpng-dev zlib1g-dev python3 curl
          clang libclang-rt-dev libomp-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install_deps: all packages present"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
