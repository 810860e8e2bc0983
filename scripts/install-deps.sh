#!/usr/bin/env bash
# Installs what ponder needs to build and test, from Debian 12's packages only. Safe to re-run:
# it installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libdnnl-dev          # oneDNN: GEMMs on the CPU
  ocl-icd-opencl-dev   # only recommended by libdnnl-dev, but its CMake config requires OpenCL
  nlohmann-json3-dev   # JSON configs and safetensors headers
  libcli11-dev         # command-line parsing
  zlib1g-dev           # CRC-32 checksums of checkpoints
  libopenmpi-dev openmpi-bin   # data-parallel training: mpirun -np N ponder train …
  libgtest-dev
  python3-numpy python3-torch  # the PyTorch reference (tools/reference), for parity tests only
  libopenblas0-pthread         # a fast BLAS for that reference (Debian's default is netlib)
  python3-yaml                 # all_config.yaml for tools/convert_checkpoint.py
)
if [ "${PONDER_SKIP_TORCH:-0}" = 1 ]; then
  packages=("${packages[@]/python3-torch}")
fi

missing=()
for p in "${packages[@]}"; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
