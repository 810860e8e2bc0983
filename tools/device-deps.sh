#!/usr/bin/env bash
# Puts the Debian packages ponder builds with into .deps/ (git-ignored), for a GPU machine that has
# the CUDA toolkit, CMake and a C++ compiler but cannot install packages itself: carry .deps along
# and tools/device-check.sh unpacks them into a private prefix. Run on Debian 12 (the versions
# ponder is tested with); the libraries also load on newer glibc systems.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps
cd .deps
# oneDNN (and the OpenCL loader libdnnl.so links, with the headers its CMake config requires),
# JSON, CLI11, GoogleTest, zlib headers.
apt-get download libdnnl2 libdnnl-dev ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers \
  nlohmann-json3-dev libcli11-dev libgtest-dev googletest zlib1g-dev
ls -l
