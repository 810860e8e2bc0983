// Memory, elementwise, normalisation, SwiGLU, embedding and optimizer kernels of the CPU backend.
// Every reduction runs in a fixed order inside one thread, so results are bit-identical for a
// given thread count and (except for GEMMs) independent of it.
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace ponder {

// Buffers of several MB (activations, weights, moments) are placed on 2 MB pages where the kernel
// lends them on request (transparent_hugepage "madvise", as on the machines here): the GEMMs and
// elementwise passes stream through tens of MB per op, and with 4 KB pages each MB costs 256 TLB
// entries.
void* cpu_alloc(size_t bytes) {
  constexpr size_t kHugePage = size_t(2) << 20;
  const bool huge = bytes >= 2 * kHugePage;
  const size_t align = huge ? kHugePage : 64;
  const size_t rounded = std::max<size_t>(align, (bytes + align - 1) / align * align);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
  if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: 4 KB pages where refused
  std::memset(p, 0, rounded);
  return p;
}

void* CpuOps::alloc(size_t bytes) {
  return cpu_alloc(bytes);
}
void CpuOps::free(void* p) { std::free(p); }
void CpuOps::upload(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuOps::download(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void CpuOps::copy(void* dst, const void* src, size_t bytes) {
  if (dst != src) std::memmove(dst, src, bytes);
}

void CpuOps::fill(float* x, float value, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) x[i] = value;
}

void CpuOps::tile(float* dst, const float* src, size_t count, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < count; ++i) std::memcpy(dst + i * n, src, n * sizeof(float));
}

void CpuOps::add(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void CpuOps::add_inplace(float* a, const float* b, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] += b[i];
}

void CpuOps::scale(float* x, float s, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void CpuOps::add_bias(float* out, const float* bias, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) out[r * n + j] += bias[j];
}

void CpuOps::add_column_sums(float* out, const float* in, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) out[j] += in[r * n + j];
}

// ---- RMSNorm

void CpuOps::add_rmsnorm_rows(float* out, float* rstd, const float* a, const float* b,
                              int64_t rows, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * C;
    const float* br = b ? b + r * C : nullptr;
    float* o = out + r * C;
    float ss = 0.0f;
    if (br) {
#pragma omp simd reduction(+ : ss)
      for (int64_t j = 0; j < C; ++j) {
        float v = ar[j] + br[j];
        o[j] = v;
        ss += v * v;
      }
    } else {
#pragma omp simd reduction(+ : ss)
      for (int64_t j = 0; j < C; ++j) {
        o[j] = ar[j];
        ss += ar[j] * ar[j];
      }
    }
    const float s = 1.0f / std::sqrt(ss / float(C) + eps);
    rstd[r] = s;
#pragma omp simd
    for (int64_t j = 0; j < C; ++j) o[j] *= s;
  }
}

void CpuOps::rmsnorm_rows_backward(float* dv, const float* dout, const float* out,
                                   const float* rstd, int64_t rows, int64_t C) {
  // y = v·r, r = (mean(v²)+eps)^-½  ⇒  dv = r·(dy − y·mean(dy·y))
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* dy = dout + r * C;
    const float* y = out + r * C;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < C; ++j) dot += dy[j] * y[j];
    const float mean = dot / float(C), s = rstd[r];
    float* d = dv + r * C;
#pragma omp simd
    for (int64_t j = 0; j < C; ++j) d[j] = s * (dy[j] - y[j] * mean);
  }
}

namespace {
constexpr int64_t kColBlock = 64;  // columns per work item of the column norms
}

void CpuOps::add_rmsnorm_cols(float* out, float* rstd, const float* a, const float* b,
                              int64_t batch, int64_t S, int64_t C, float eps) {
  const int64_t blocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < batch * blocks; ++item) {
    const int64_t n = item / blocks, c0 = (item % blocks) * kColBlock;
    const int64_t cw = std::min(kColBlock, C - c0);
    float ss[kColBlock] = {};
    for (int64_t s = 0; s < S; ++s) {
      const int64_t off = (n * S + s) * C + c0;
#pragma omp simd
      for (int64_t j = 0; j < cw; ++j) {
        float v = a[off + j] + (b ? b[off + j] : 0.0f);
        out[off + j] = v;
        ss[j] += v * v;
      }
    }
    float scale[kColBlock];
    for (int64_t j = 0; j < cw; ++j) {
      scale[j] = 1.0f / std::sqrt(ss[j] / float(S) + eps);
      rstd[n * C + c0 + j] = scale[j];
    }
    for (int64_t s = 0; s < S; ++s) {
      float* o = out + (n * S + s) * C + c0;
#pragma omp simd
      for (int64_t j = 0; j < cw; ++j) o[j] *= scale[j];
    }
  }
}

void CpuOps::rmsnorm_cols_backward(float* dv, const float* dout, const float* out,
                                   const float* rstd, int64_t batch, int64_t S, int64_t C) {
  const int64_t blocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < batch * blocks; ++item) {
    const int64_t n = item / blocks, c0 = (item % blocks) * kColBlock;
    const int64_t cw = std::min(kColBlock, C - c0);
    float dot[kColBlock] = {};
    for (int64_t s = 0; s < S; ++s) {
      const int64_t off = (n * S + s) * C + c0;
#pragma omp simd
      for (int64_t j = 0; j < cw; ++j) dot[j] += dout[off + j] * out[off + j];
    }
    for (int64_t j = 0; j < cw; ++j) dot[j] /= float(S);
    const float* r = rstd + n * C + c0;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t off = (n * S + s) * C + c0;
#pragma omp simd
      for (int64_t j = 0; j < cw; ++j) dv[off + j] = r[j] * (dout[off + j] - out[off + j] * dot[j]);
    }
  }
}

// ---- SwiGLU, writing fp32 or (for GEMM operands, bf16_operands()) bf16 rounded to nearest even
// as the GEMMs would round it.

namespace {
template <class Out>
Out stored(float v) {
  if constexpr (std::is_same_v<Out, uint16_t>)
    return float_to_bf16(v);
  else
    return v;
}

// SwiGLU's work items: runs of up to kSwigluBlock columns of one row, so that a few very wide
// rows (MLP-t's no-grad passes: 3 puzzles of 1024·512 values on 2 threads) still split evenly.
constexpr int64_t kSwigluBlock = 4096;

template <class F>
void for_row_blocks(int64_t rows, int64_t width, F f) {
  const int64_t blocks = std::max<int64_t>(1, (width + kSwigluBlock - 1) / kSwigluBlock);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows * blocks; ++i) {
    const int64_t r = i / blocks, j0 = (i % blocks) * kSwigluBlock;
    f(r, j0, std::min(width, j0 + kSwigluBlock));
  }
}

template <class Out>
void swiglu_rows(Out* act, const float* gate_up, int64_t rows, int64_t width) {
  for_row_blocks(rows, width, [&](int64_t r, int64_t j0, int64_t j1) {
    const float* g = gate_up + r * 2 * width;
    const float* u = g + width;
    Out* o = act + r * width;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) o[j] = stored<Out>(g[j] * vsigmoid(g[j]) * u[j]);
  });
}

template <class Out>
void swiglu_backward_rows(Out* dgate_up, const float* dact, const float* gate_up, int64_t rows,
                          int64_t width) {
  // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
  for_row_blocks(rows, width, [&](int64_t r, int64_t j0, int64_t j1) {
    const float* g = gate_up + r * 2 * width;
    const float* u = g + width;
    const float* d = dact + r * width;
    Out* dg = dgate_up + r * 2 * width;
    Out* du = dg + width;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const float s = vsigmoid(g[j]);
      du[j] = stored<Out>(d[j] * g[j] * s);
      dg[j] = stored<Out>(d[j] * u[j] * s * std::fma(g[j], 1.0f - s, 1.0f));
    }
  });
}
}  // namespace

void CpuOps::swiglu(float* act, const float* gate_up, int64_t rows, int64_t width, bool out_bf16) {
  PONDER_CHECK(!out_bf16 || bf16_operands(), "internal: bf16 SwiGLU output for fp32 GEMMs");
  if (out_bf16)
    swiglu_rows(reinterpret_cast<uint16_t*>(act), gate_up, rows, width);
  else
    swiglu_rows(act, gate_up, rows, width);
}

void CpuOps::swiglu_backward(float* dgate_up, const float* dact, const float* gate_up, int64_t rows,
                             int64_t width, bool out_bf16) {
  PONDER_CHECK(!out_bf16 || bf16_operands(), "internal: bf16 SwiGLU gradient for fp32 GEMMs");
  if (out_bf16)
    swiglu_backward_rows(reinterpret_cast<uint16_t*>(dgate_up), dact, gate_up, rows, width);
  else
    swiglu_backward_rows(dgate_up, dact, gate_up, rows, width);
}

// ---- embeddings

void CpuOps::gather_rows(float* out, const float* table, const int32_t* ids, int64_t n,
                         int64_t width) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r)
    std::memcpy(out + r * width, table + int64_t(ids[r]) * width, width * sizeof(float));
}

void CpuOps::embed(float* x, const float* table, const int32_t* tokens, const float* prefix,
                   int64_t ndim, const float* pos, float pos_scale, float scale, int64_t B,
                   int64_t L, int64_t P, int64_t D) {
  const int64_t S = P + L;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < B * S; ++row) {
    const int64_t b = row / S, s = row % S;
    float* o = x + row * D;
    if (s < P) {
      // Prefix token s holds flat positions [s·D, (s+1)·D) of the zero-padded puzzle vector.
      for (int64_t j = 0; j < D; ++j) {
        const int64_t flat = s * D + j;
        o[j] = flat < ndim ? prefix[b * ndim + flat] : 0.0f;
      }
    } else {
      std::memcpy(o, table + int64_t(tokens[b * L + s - P]) * D, D * sizeof(float));
    }
    if (pos) {
      const float* p = pos + s * D;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) o[j] = pos_scale * (o[j] + p[j]);
    }
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) o[j] *= scale;
  }
}

void CpuOps::embed_backward(float* dtable, float* dprefix, float* dpos, const float* dx,
                            const int32_t* tokens, int64_t V, int64_t ndim, float pos_scale,
                            float scale, int64_t B, int64_t L, int64_t P, int64_t D) {
  const int64_t S = P + L;
  // d(pre-scale) = scale·dx; through learned positions both branches get pos_scale of it.
  const float through = dpos ? scale * pos_scale : scale;
  if (dprefix) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t f = 0; f < ndim; ++f) dprefix[b * ndim + f] = through * dx[b * S * D + f];
  }
  // Column blocks in parallel, rows in order within a block: deterministic accumulation.
  const int64_t blocks = (D + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColBlock, c1 = std::min(D, c0 + kColBlock);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t s = 0; s < S; ++s) {
        const float* g = dx + (b * S + s) * D;
        if (dpos)
          for (int64_t j = c0; j < c1; ++j) dpos[s * D + j] += through * g[j];
        if (s < P) continue;
        float* t = dtable + int64_t(tokens[b * L + s - P]) * D;
        for (int64_t j = c0; j < c1; ++j) t[j] += through * g[j];
      }
    }
  }
}

// ---- optimizers

void CpuOps::adam_atan2(float* p, const float* g, float* m, float* v, size_t n, float step_size,
                        float wd_alpha, float one_minus_beta1, float one_minus_beta2,
                        float bc2_sqrt) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float param = p[i] * wd_alpha;
    // lerp as the reference kernel writes it: fma(t, v1, fma(-t, v0, v0))
    const float mi = std::fma(one_minus_beta1, g[i], std::fma(-one_minus_beta1, m[i], m[i]));
    const float vi =
        std::fma(one_minus_beta2, g[i] * g[i], std::fma(-one_minus_beta2, v[i], v[i]));
    // The reference kernel's param -= step_size·atan2(…), which nvcc contracts into an FMA.
    p[i] = std::fma(-step_size, vatan2(mi, std::sqrt(vi) / bc2_sqrt), param);
    m[i] = mi;
    v[i] = vi;
  }
}

void CpuOps::ema_update(float* shadow, const float* p, size_t n, double rate) {
  // The coefficients are rounded from double once, as PyTorch does with Python-float scalars.
  const float keep = float(rate), take = float(1.0 - rate);
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) shadow[i] = take * p[i] + keep * shadow[i];
}

void CpuOps::signsgd_rows(float* table, const int32_t* ids, const float* grad, int64_t n,
                          int64_t width, double lr, double wd) {
  const float decay = float(1.0 - lr * wd), neg_lr = float(-lr);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    float* row = table + int64_t(ids[r]) * width;
    const float* gr = grad + r * width;
    for (int64_t j = 0; j < width; ++j) {
      const float s = gr[j] > 0.0f ? 1.0f : (gr[j] < 0.0f ? -1.0f : 0.0f);
      row[j] = row[j] * decay + neg_lr * s;
    }
  }
}

}  // namespace ponder
