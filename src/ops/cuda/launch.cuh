// Launching the CUDA backend's simple kernels: `for_each(stream, n, f)` runs f(i) for every
// i < n on a grid-stride loop, so one lambda replaces a hand-written kernel per elementwise op.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ops/cuda/cuda_ops.h"

namespace ponder::cuda {

template <class F>
__global__ void for_each_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    f(i);
}

template <class F>
void for_each(cudaStream_t stream, int64_t n, F f, const char* name) {
  if (n <= 0) return;
  constexpr int kThreads = 256;
  const int blocks = int(std::min<int64_t>((n + kThreads - 1) / kThreads, 8192));
  for_each_kernel<<<blocks, kThreads, 0, stream>>>(n, f);
  cuda_check_launch(name);
}

inline int blocks_for(int64_t n, int per_block) {
  return int((n + per_block - 1) / per_block);
}

}  // namespace ponder::cuda
