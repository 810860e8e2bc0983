// Elementwise, normalisation, SwiGLU, embedding and optimizer kernels of the CUDA backend. Every
// sum runs in a fixed order (a thread's loop, or a warp's fixed shuffle tree), so a result is the
// same on every run; it matches the CPU's within float reassociation.
#include "core/error.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/launch.cuh"

namespace ponder {

using cuda::for_each;

namespace {

constexpr int kWarp = 32, kRowsPerBlock = 8;  // row kernels: one warp per row

__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

__global__ void add_rmsnorm_rows_kernel(float* out, float* rstd, const float* a, const float* b,
                                        int64_t rows, int64_t C, float eps) {
  const int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  float* o = out + r * C;
  float ss = 0.0f;
  for (int64_t j = lane; j < C; j += kWarp) {
    const float v = a[r * C + j] + (b ? b[r * C + j] : 0.0f);
    o[j] = v;
    ss += v * v;
  }
  const float s = rsqrtf(warp_sum(ss) / float(C) + eps);
  if (lane == 0) rstd[r] = s;
  for (int64_t j = lane; j < C; j += kWarp) o[j] *= s;
}

__global__ void rmsnorm_rows_backward_kernel(float* dv, const float* dout, const float* out,
                                             const float* rstd, int64_t rows, int64_t C) {
  const int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const float* dy = dout + r * C;
  const float* y = out + r * C;
  float dot = 0.0f;
  for (int64_t j = lane; j < C; j += kWarp) dot += dy[j] * y[j];
  // y = v·r, r = (mean(v²)+eps)^-½  ⇒  dv = r·(dy − y·mean(dy·y))
  const float mean = warp_sum(dot) / float(C), s = rstd[r];
  for (int64_t j = lane; j < C; j += kWarp) dv[r * C + j] = s * (dy[j] - y[j] * mean);
}

int row_blocks(int64_t rows) {
  return cuda::blocks_for(rows, kRowsPerBlock);
}

// Rows of the embedding gradient summed per chunk, then the chunks in order: deterministic,
// and parallel over chunks × vocabulary × columns.
constexpr int64_t kEmbedChunk = 256;

}  // namespace

void CudaOps::fill(float* x, float value, size_t n) {
  for_each(
      stream_, int64_t(n), [=] __device__(int64_t i) { x[i] = value; }, "fill");
}

void CudaOps::tile(float* dst, const float* src, size_t count, size_t n) {
  const int64_t w = int64_t(n);
  for_each(
      stream_, int64_t(count * n), [=] __device__(int64_t i) { dst[i] = src[i % w]; }, "tile");
}

void CudaOps::add(float* out, const float* a, const float* b, size_t n) {
  for_each(
      stream_, int64_t(n), [=] __device__(int64_t i) { out[i] = a[i] + b[i]; }, "add");
}

void CudaOps::add_inplace(float* a, const float* b, size_t n) {
  for_each(
      stream_, int64_t(n), [=] __device__(int64_t i) { a[i] += b[i]; }, "add_inplace");
}

void CudaOps::scale(float* x, float s, size_t n) {
  for_each(
      stream_, int64_t(n), [=] __device__(int64_t i) { x[i] *= s; }, "scale");
}

void CudaOps::add_bias(float* out, const float* bias, int64_t rows, int64_t n) {
  for_each(
      stream_, rows * n, [=] __device__(int64_t i) { out[i] += bias[i % n]; }, "add_bias");
}

void CudaOps::add_column_sums(float* out, const float* in, int64_t rows, int64_t n) {
  for_each(
      stream_, n,
      [=] __device__(int64_t j) {
        float acc = out[j];
        for (int64_t r = 0; r < rows; ++r) acc += in[r * n + j];
        out[j] = acc;
      },
      "add_column_sums");
}

// ---- RMSNorm

void CudaOps::add_rmsnorm_rows(float* out, float* rstd, const float* a, const float* b,
                               int64_t rows, int64_t C, float eps) {
  if (rows == 0) return;
  add_rmsnorm_rows_kernel<<<row_blocks(rows), kRowsPerBlock * kWarp, 0, stream_>>>(out, rstd, a, b,
                                                                                   rows, C, eps);
  cuda_check_launch("add_rmsnorm_rows");
}

void CudaOps::rmsnorm_rows_backward(float* dv, const float* dout, const float* out,
                                    const float* rstd, int64_t rows, int64_t C) {
  if (rows == 0) return;
  rmsnorm_rows_backward_kernel<<<row_blocks(rows), kRowsPerBlock * kWarp, 0, stream_>>>(
      dv, dout, out, rstd, rows, C);
  cuda_check_launch("rmsnorm_rows_backward");
}

// Column norms: one thread per (batch item, column) walks the S rows; neighbouring threads read
// neighbouring columns, so every access is coalesced.
void CudaOps::add_rmsnorm_cols(float* out, float* rstd, const float* a, const float* b,
                               int64_t batch, int64_t S, int64_t C, float eps) {
  for_each(
      stream_, batch * C,
      [=] __device__(int64_t i) {
        const int64_t n = i / C, c = i % C;
        float ss = 0.0f;
        for (int64_t s = 0; s < S; ++s) {
          const int64_t off = (n * S + s) * C + c;
          const float v = a[off] + (b ? b[off] : 0.0f);
          out[off] = v;
          ss += v * v;
        }
        const float r = rsqrtf(ss / float(S) + eps);
        rstd[i] = r;
        for (int64_t s = 0; s < S; ++s) out[(n * S + s) * C + c] *= r;
      },
      "add_rmsnorm_cols");
}

void CudaOps::rmsnorm_cols_backward(float* dv, const float* dout, const float* out,
                                    const float* rstd, int64_t batch, int64_t S, int64_t C) {
  for_each(
      stream_, batch * C,
      [=] __device__(int64_t i) {
        const int64_t n = i / C, c = i % C;
        float dot = 0.0f;
        for (int64_t s = 0; s < S; ++s) {
          const int64_t off = (n * S + s) * C + c;
          dot += dout[off] * out[off];
        }
        const float mean = dot / float(S), r = rstd[i];
        for (int64_t s = 0; s < S; ++s) {
          const int64_t off = (n * S + s) * C + c;
          dv[off] = r * (dout[off] - out[off] * mean);
        }
      },
      "rmsnorm_cols_backward");
}

// ---- SwiGLU

void CudaOps::swiglu(float* act, const float* gate_up, int64_t rows, int64_t width,
                     bool out_bf16) {
  PONDER_CHECK(!out_bf16, "internal: the CUDA backend writes fp32 (its bf16_operands() is false)");
  for_each(
      stream_, rows * width,
      [=] __device__(int64_t i) {
        const int64_t r = i / width, j = i % width;
        const float g = gate_up[r * 2 * width + j], u = gate_up[r * 2 * width + width + j];
        act[i] = g * sigmoid(g) * u;
      },
      "swiglu");
}

void CudaOps::swiglu_backward(float* dgate_up, const float* dact, const float* gate_up,
                              int64_t rows, int64_t width, bool out_bf16) {
  PONDER_CHECK(!out_bf16, "internal: the CUDA backend writes fp32 (its bf16_operands() is false)");
  // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
  for_each(
      stream_, rows * width,
      [=] __device__(int64_t i) {
        const int64_t r = i / width, j = i % width;
        const int64_t gi = r * 2 * width + j, ui = gi + width;
        const float g = gate_up[gi], u = gate_up[ui], d = dact[i], s = sigmoid(g);
        dgate_up[ui] = d * g * s;
        dgate_up[gi] = d * u * s * (1.0f + g * (1.0f - s));
      },
      "swiglu_backward");
}

// ---- embeddings

void CudaOps::gather_rows(float* out, const float* table, const int32_t* ids, int64_t n,
                          int64_t width) {
  for_each(
      stream_, n * width,
      [=] __device__(int64_t i) {
        const int64_t r = i / width, j = i % width;
        out[i] = table[int64_t(ids[r]) * width + j];
      },
      "gather_rows");
}

void CudaOps::embed(float* x, const float* table, const int32_t* tokens, const float* prefix,
                    int64_t ndim, const float* pos, float pos_scale, float scale, int64_t B,
                    int64_t L, int64_t P, int64_t D) {
  const int64_t S = P + L;
  for_each(
      stream_, B * S * D,
      [=] __device__(int64_t i) {
        const int64_t row = i / D, j = i % D, b = row / S, s = row % S;
        float o;
        if (s < P) {
          // Prefix token s holds flat positions [s·D, (s+1)·D) of the zero-padded puzzle row.
          const int64_t flat = s * D + j;
          o = flat < ndim ? prefix[b * ndim + flat] : 0.0f;
        } else {
          o = table[int64_t(tokens[b * L + s - P]) * D + j];
        }
        if (pos) o = pos_scale * (o + pos[s * D + j]);
        x[i] = o * scale;
      },
      "embed");
}

void CudaOps::embed_backward(float* dtable, float* dprefix, float* dpos, const float* dx,
                             const int32_t* tokens, int64_t V, int64_t ndim, float pos_scale,
                             float scale, int64_t B, int64_t L, int64_t P, int64_t D) {
  const int64_t S = P + L;
  // d(pre-scale) = scale·dx; through learned positions both branches get pos_scale of it.
  const float through = dpos ? scale * pos_scale : scale;
  if (dprefix)
    for_each(
        stream_, B * ndim,
        [=] __device__(int64_t i) {
          const int64_t b = i / ndim, f = i % ndim;
          dprefix[i] = through * dx[b * S * D + f];
        },
        "embed_backward (prefix)");
  if (dpos)
    for_each(
        stream_, S * D,
        [=] __device__(int64_t i) {
          float acc = dpos[i];
          for (int64_t b = 0; b < B; ++b) acc += through * dx[b * S * D + i];
          dpos[i] = acc;
        },
        "embed_backward (positions)");
  // Token rows (b, l) in chunks: partial[chunk, v, :] = Σ over the chunk's rows with token v.
  const int64_t rows = B * L, chunks = (rows + kEmbedChunk - 1) / kEmbedChunk;
  float* partial = static_cast<float*>(scratch(2, size_t(chunks * V * D) * sizeof(float)));
  for_each(
      stream_, chunks * V * D,
      [=] __device__(int64_t i) {
        const int64_t j = i % D, v = (i / D) % V, c = i / (D * V);
        const int64_t end = min(rows, (c + 1) * kEmbedChunk);
        float acc = 0.0f;
        for (int64_t t = c * kEmbedChunk; t < end; ++t) {
          if (tokens[t] != v) continue;
          const int64_t b = t / L, s = P + t % L;
          acc += through * dx[(b * S + s) * D + j];
        }
        partial[i] = acc;
      },
      "embed_backward (token chunks)");
  for_each(
      stream_, V * D,
      [=] __device__(int64_t i) {
        float acc = dtable[i];
        for (int64_t c = 0; c < chunks; ++c) acc += partial[c * V * D + i];
        dtable[i] = acc;
      },
      "embed_backward (tokens)");
}

// ---- optimizers

void CudaOps::adam_atan2(float* p, const float* g, float* m, float* v, size_t n, float step_size,
                         float wd_alpha, float one_minus_beta1, float one_minus_beta2,
                         float bc2_sqrt) {
  for_each(
      stream_, int64_t(n),
      [=] __device__(int64_t i) {
        // lerp as the reference kernel writes it: fma(t, v1, fma(-t, v0, v0))
        const float gi = g[i];
        const float mi = fmaf(one_minus_beta1, gi, fmaf(-one_minus_beta1, m[i], m[i]));
        const float vi = fmaf(one_minus_beta2, gi * gi, fmaf(-one_minus_beta2, v[i], v[i]));
        // The reference kernel's param -= step_size·atan2(…), contracted into an FMA.
        p[i] = fmaf(-step_size, atan2f(mi, sqrtf(vi) / bc2_sqrt), p[i] * wd_alpha);
        m[i] = mi;
        v[i] = vi;
      },
      "adam_atan2");
}

void CudaOps::ema_update(float* shadow, const float* p, size_t n, double rate) {
  // The coefficients are rounded from double once, as PyTorch does with Python-float scalars.
  const float keep = float(rate), take = float(1.0 - rate);
  for_each(
      stream_, int64_t(n),
      [=] __device__(int64_t i) { shadow[i] = take * p[i] + keep * shadow[i]; }, "ema_update");
}

void CudaOps::signsgd_rows(float* table, const int32_t* ids, const float* grad, int64_t n,
                           int64_t width, double lr, double wd) {
  const float decay = float(1.0 - lr * wd), neg_lr = float(-lr);
  for_each(
      stream_, n * width,
      [=] __device__(int64_t i) {
        const int64_t r = i / width, j = i % width;
        const float gr = grad[i];
        const float s = gr > 0.0f ? 1.0f : (gr < 0.0f ? -1.0f : 0.0f);
        float* row = table + int64_t(ids[r]) * width;
        row[j] = row[j] * decay + neg_lr * s;
      },
      "signsgd_rows");
}

}  // namespace ponder
