// RoPE and non-causal softmax attention on the GPU. Attention is fused in the FlashAttention
// manner: one thread owns one query row (or, in the backward, one key row), K/V tiles pass
// through shared memory, the softmax is accumulated online, and the backward recomputes the
// probabilities from the saved log-sum-exp — nothing of size S×S is ever stored. Head
// dimensions up to 128 are handled by kernels compiled for 16, 32, 64 and 128, zero-padded.
// The backward computes dQ, dK and dV in separate passes without atomics: deterministic.
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/launch.cuh"

namespace ponder {

namespace {

constexpr int kRows = 64;  // query (key) rows per block: one per thread
constexpr int kTile = 32;  // key (query) rows per shared-memory tile

void rope_apply(cudaStream_t stream, float* qkv, const float* cos, const float* sin, int64_t B,
                int64_t S, int64_t H, int64_t hd, float sign) {
  const int64_t half = hd / 2, ld = 3 * H * hd;
  cuda::for_each(
      stream, B * S * 2 * H * half,
      [=] __device__(int64_t i) {
        const int64_t j = i % half, h = (i / half) % (2 * H), row = i / (half * 2 * H);
        const int64_t s = row % S;
        float* x = qkv + row * ld + h * hd;
        const float* c = cos + s * hd;
        const float* n = sin + s * hd;
        const float x1 = x[j], x2 = x[j + half];
        x[j] = x1 * c[j] - sign * x2 * n[j];
        x[j + half] = x2 * c[j + half] + sign * x1 * n[j + half];
      },
      "rope");
}

// Loads rows [r0, r0 + n) of one head's slice (row stride ld, hd wide) into tile[kTile][HD],
// zero-padding the columns past hd.
template <int HD>
__device__ void load_tile(float (*tile)[HD], const float* src, int64_t r0, int n, int64_t ld,
                          int hd) {
  for (int t = threadIdx.x; t < kTile * HD; t += blockDim.x) {
    const int r = t / HD, d = t % HD;
    tile[r][d] = r < n && d < hd ? src[(r0 + r) * ld + d] : 0.0f;
  }
}

// The next tile of one head's keys and values, rows [k0, k0 + n) of the qkv slice at `base`,
// between barriers; returns n.
template <int HD>
__device__ int load_kv_tile(float (*Ks)[HD], float (*Vs)[HD], const float* base, int64_t k0,
                            int64_t S, int64_t D, int hd) {
  const int n = int(min(int64_t(kTile), S - k0));
  __syncthreads();
  load_tile<HD>(Ks, base + D, k0, n, 3 * D, hd);
  load_tile<HD>(Vs, base + 2 * D, k0, n, 3 * D, hd);
  __syncthreads();
  return n;
}

template <int HD>
__device__ void load_row(float* x, const float* src, int hd, float s) {
#pragma unroll
  for (int d = 0; d < HD; ++d) x[d] = d < hd ? s * src[d] : 0.0f;
}

// Loops over the compiled HD with a guard, never over the runtime hd: indexing a per-thread
// array with a runtime bound would move it from registers to local memory.
template <int HD>
__device__ void store_row(float* dst, const float* x, int hd, float s) {
#pragma unroll
  for (int d = 0; d < HD; ++d)
    if (d < hd) dst[d] = s * x[d];
}

template <int HD>
__device__ float dot(const float* a, const float* b) {
  float acc = 0.0f;
#pragma unroll
  for (int d = 0; d < HD; ++d) acc += a[d] * b[d];
  return acc;
}

// grid (⌈S/kRows⌉, H, B). qkv [B, S, 3·H·hd]; out [B, S, H·hd]; lse [B, H, S].
template <int HD>
__global__ void __launch_bounds__(kRows) attention_kernel(float* out, float* lse, const float* qkv,
                                                          int64_t S, int H, int hd, float scale) {
  __shared__ float Ks[kTile][HD], Vs[kTile][HD];
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z, i = int64_t(blockIdx.x) * kRows + threadIdx.x, D = int64_t(H) * hd,
                ld = 3 * D;
  const float* base = qkv + b * S * ld + int64_t(h) * hd;
  const bool valid = i < S;
  float q[HD], acc[HD];
  load_row<HD>(q, base + (valid ? i : 0) * ld, hd, scale);
#pragma unroll
  for (int d = 0; d < HD; ++d) acc[d] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int64_t k0 = 0; k0 < S; k0 += kTile) {
    const int n = load_kv_tile<HD>(Ks, Vs, base, k0, S, D, hd);
    if (!valid) continue;
    float s[kTile];
    float mt = m;
#pragma unroll
    for (int r = 0; r < kTile; ++r) {
      s[r] = r < n ? dot<HD>(q, Ks[r]) : -INFINITY;
      mt = fmaxf(mt, s[r]);
    }
    const float corr = expf(m - mt);  // 0 on the first tile (m = −∞)
    l *= corr;
#pragma unroll
    for (int d = 0; d < HD; ++d) acc[d] *= corr;
#pragma unroll
    for (int r = 0; r < kTile; ++r) {
      const float p = r < n ? expf(s[r] - mt) : 0.0f;
      l += p;
#pragma unroll
      for (int d = 0; d < HD; ++d) acc[d] += p * Vs[r][d];
    }
    m = mt;
  }
  if (!valid) return;
  float* o = out + (b * S + i) * D + int64_t(h) * hd;
  const float inv = 1.0f / l;
  store_row<HD>(o, acc, hd, inv);
  lse[(b * H + h) * S + i] = m + logf(l);
}

// dQ, one thread per query row i: dQ_i = scale·Σ_j P_ij (dO_i·V_j − Δ_i) K_j.
template <int HD>
__global__ void __launch_bounds__(kRows)
    attention_dq_kernel(float* dqkv, const float* dout, const float* qkv, const float* lse,
                        const float* delta, int64_t S, int H, int hd, float scale) {
  __shared__ float Ks[kTile][HD], Vs[kTile][HD];
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z, i = int64_t(blockIdx.x) * kRows + threadIdx.x, D = int64_t(H) * hd,
                ld = 3 * D, bh = b * H + h;
  const float* base = qkv + b * S * ld + int64_t(h) * hd;
  const bool valid = i < S;
  const int64_t row = valid ? i : 0;
  float q[HD], g[HD], dq[HD];
  load_row<HD>(q, base + row * ld, hd, scale);
  load_row<HD>(g, dout + (b * S + row) * D + int64_t(h) * hd, hd, 1.0f);
#pragma unroll
  for (int d = 0; d < HD; ++d) dq[d] = 0.0f;
  const float l = lse[bh * S + row], di = delta[bh * S + row];
  for (int64_t k0 = 0; k0 < S; k0 += kTile) {
    const int n = load_kv_tile<HD>(Ks, Vs, base, k0, S, D, hd);
    if (!valid) continue;
    for (int r = 0; r < n; ++r) {
      const float p = expf(dot<HD>(q, Ks[r]) - l);
      const float ds = p * (dot<HD>(g, Vs[r]) - di);
#pragma unroll
      for (int d = 0; d < HD; ++d) dq[d] += ds * Ks[r][d];
    }
  }
  if (!valid) return;
  float* o = dqkv + (b * S + i) * ld + int64_t(h) * hd;
  store_row<HD>(o, dq, hd, scale);
}

// dK or dV (kDK), one thread per key row j: dV_j = Σ_i P_ij dO_i;
// dK_j = scale·Σ_i P_ij (dO_i·V_j − Δ_i) Q_i. Two passes keep each thread's registers small.
template <int HD, bool kDK>
__global__ void __launch_bounds__(kRows)
    attention_dkv_kernel(float* dqkv, const float* dout, const float* qkv, const float* lse,
                         const float* delta, int64_t S, int H, int hd, float scale) {
  __shared__ float Qs[kTile][HD], Gs[kTile][HD], Ls[kTile], Ds[kTile];
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z, j = int64_t(blockIdx.x) * kRows + threadIdx.x, D = int64_t(H) * hd,
                ld = 3 * D, bh = b * H + h;
  const float* base = qkv + b * S * ld + int64_t(h) * hd;
  const float* gbase = dout + b * S * D + int64_t(h) * hd;
  const bool valid = j < S;
  const int64_t row = valid ? j : 0;
  float k[HD], v[HD], acc[HD];
  load_row<HD>(k, base + row * ld + D, hd, scale);
  if (kDK) load_row<HD>(v, base + row * ld + 2 * D, hd, 1.0f);
#pragma unroll
  for (int d = 0; d < HD; ++d) acc[d] = 0.0f;
  for (int64_t q0 = 0; q0 < S; q0 += kTile) {
    const int n = int(min(int64_t(kTile), S - q0));
    __syncthreads();
    load_tile<HD>(Qs, base, q0, n, ld, hd);
    load_tile<HD>(Gs, gbase, q0, n, D, hd);
    if (threadIdx.x < n) {
      Ls[threadIdx.x] = lse[bh * S + q0 + threadIdx.x];
      Ds[threadIdx.x] = delta[bh * S + q0 + threadIdx.x];
    }
    __syncthreads();
    if (!valid) continue;
    for (int r = 0; r < n; ++r) {
      const float p = expf(dot<HD>(k, Qs[r]) - Ls[r]);
      if (kDK) {
        const float ds = p * (dot<HD>(v, Gs[r]) - Ds[r]);
#pragma unroll
        for (int d = 0; d < HD; ++d) acc[d] += ds * Qs[r][d];
      } else {
#pragma unroll
        for (int d = 0; d < HD; ++d) acc[d] += p * Gs[r][d];
      }
    }
  }
  if (!valid) return;
  float* o = dqkv + (b * S + j) * ld + (kDK ? D : 2 * D) + int64_t(h) * hd;
  store_row<HD>(o, acc, hd, kDK ? scale : 1.0f);
}

// B and H are grid dimensions z and y, which CUDA limits to 65535.
void check_grid(int64_t B, int64_t H) {
  PONDER_CHECK(B <= 65535 && H <= 65535, "attention on the GPU: batch ", B, " and heads ", H,
               " must each be at most 65535");
}

template <int N>
using Int = std::integral_constant<int, N>;

// Runs launch(Int<HD>) for the smallest compiled HD ≥ hd.
template <class Launch>
void dispatch_head_dim(int64_t hd, Launch&& launch) {
  if (hd <= 16) return launch(Int<16>());
  if (hd <= 32) return launch(Int<32>());
  if (hd <= 64) return launch(Int<64>());
  if (hd <= 128) return launch(Int<128>());
  fail("attention on the GPU supports head dimensions up to 128, not ", hd);
}

}  // namespace

void CudaOps::rope(float* qkv, const float* cos, const float* sin, int64_t B, int64_t S, int64_t H,
                   int64_t hd) {
  rope_apply(stream_, qkv, cos, sin, B, S, H, hd, 1.0f);
}

void CudaOps::rope_backward(float* dqkv, const float* cos, const float* sin, int64_t B, int64_t S,
                            int64_t H, int64_t hd) {
  rope_apply(stream_, dqkv, cos, sin, B, S, H, hd, -1.0f);
}

void CudaOps::attention(float* out, float* lse, const float* qkv, int64_t B, int64_t S, int64_t H,
                        int64_t hd, float scale) {
  if (B * S == 0) return;
  check_grid(B, H);
  const dim3 grid(unsigned(cuda::blocks_for(S, kRows)), unsigned(H), unsigned(B));
  dispatch_head_dim(hd, [&](auto head_dim) {
    constexpr int HD = decltype(head_dim)::value;
    attention_kernel<HD><<<grid, kRows, 0, stream_>>>(out, lse, qkv, S, int(H), int(hd), scale);
    cuda_check_launch("attention");
  });
}

void CudaOps::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                                 const float* lse, int64_t B, int64_t S, int64_t H, int64_t hd,
                                 float scale) {
  if (B * S == 0) return;
  check_grid(B, H);
  // Δ_i = dO_i·O_i, [B, H, S]
  float* delta = static_cast<float*>(scratch(0, size_t(B * H * S) * sizeof(float)));
  const int64_t D = H * hd;
  cuda::for_each(
      stream_, B * H * S,
      [=] __device__(int64_t t) {
        const int64_t i = t % S, h = (t / S) % H, b = t / (S * H);
        const int64_t off = (b * S + i) * D + h * hd;
        float acc = 0.0f;
        for (int64_t d = 0; d < hd; ++d) acc += dout[off + d] * out[off + d];
        delta[t] = acc;
      },
      "attention_backward (delta)");
  const dim3 grid(unsigned(cuda::blocks_for(S, kRows)), unsigned(H), unsigned(B));
  dispatch_head_dim(hd, [&](auto head_dim) {
    constexpr int HD = decltype(head_dim)::value;
    attention_dq_kernel<HD>
        <<<grid, kRows, 0, stream_>>>(dqkv, dout, qkv, lse, delta, S, int(H), int(hd), scale);
    cuda_check_launch("attention_backward (dQ)");
    attention_dkv_kernel<HD, true>
        <<<grid, kRows, 0, stream_>>>(dqkv, dout, qkv, lse, delta, S, int(H), int(hd), scale);
    cuda_check_launch("attention_backward (dK)");
    attention_dkv_kernel<HD, false>
        <<<grid, kRows, 0, stream_>>>(dqkv, dout, qkv, lse, delta, S, int(H), int(hd), scale);
    cuda_check_launch("attention_backward (dV)");
  });
}

}  // namespace ponder
