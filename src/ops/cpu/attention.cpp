// RoPE and non-causal softmax attention on the CPU. Attention works one (batch, head) pair at a
// time with an S×S score tile in thread-local scratch; the backward recomputes the probabilities
// from the saved log-sum-exp, so nothing of size S×S outlives a call.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace ponder {

namespace {

// Inside an OpenMP parallel region dnnl_sgemm runs on the calling thread only.
void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  PONDER_CHECK(st == dnnl_success, "dnnl_sgemm failed with status ", int(st));
}

float* scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

thread_local std::vector<float> tl_scores, tl_dscores;

// Rotate-half RoPE on one head vector x[hd]: sign = +1 forward, −1 for the transpose.
inline void rotate(float* x, const float* c, const float* s, int64_t hd, float sign) {
  const int64_t half = hd / 2;
  for (int64_t j = 0; j < half; ++j) {
    const float x1 = x[j], x2 = x[j + half];
    x[j] = x1 * c[j] - sign * x2 * s[j];
    x[j + half] = x2 * c[j + half] + sign * x1 * s[j + half];
  }
}

void rope_apply(float* qkv, const float* cos, const float* sin, int64_t B, int64_t S, int64_t H,
                int64_t hd, float sign) {
  const int64_t ld = 3 * H * hd;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < B * S; ++row) {
    const int64_t s = row % S;
    float* base = qkv + row * ld;
    for (int64_t h = 0; h < 2 * H; ++h) rotate(base + h * hd, cos + s * hd, sin + s * hd, hd, sign);
  }
}

}  // namespace

void CpuOps::rope(float* qkv, const float* cos, const float* sin, int64_t B, int64_t S, int64_t H,
                  int64_t hd) {
  rope_apply(qkv, cos, sin, B, S, H, hd, 1.0f);
}

void CpuOps::rope_backward(float* dqkv, const float* cos, const float* sin, int64_t B, int64_t S,
                           int64_t H, int64_t hd) {
  rope_apply(dqkv, cos, sin, B, S, H, hd, -1.0f);
}

void CpuOps::attention(float* out, float* lse, const float* qkv, int64_t B, int64_t S, int64_t H,
                       int64_t hd, float scale) {
  const int64_t D = H * hd, ld = 3 * D;
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    const float* q = qkv + b * S * ld + h * hd;
    const float* k = q + D;
    const float* v = q + 2 * D;
    float* P = scratch(tl_scores, size_t(S * S));
    sgemm('N', 'T', S, S, hd, scale, q, ld, k, ld, 0.0f, P, S);
    for (int64_t i = 0; i < S; ++i) {
      float* p = P + i * S;
      float mx = p[0];
#pragma omp simd reduction(max : mx)
      for (int64_t j = 1; j < S; ++j) mx = p[j] > mx ? p[j] : mx;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < S; ++j) {
        p[j] = vexp(p[j] - mx);
        sum += p[j];
      }
      const float inv = 1.0f / sum;
#pragma omp simd
      for (int64_t j = 0; j < S; ++j) p[j] *= inv;
      lse[bh * S + i] = mx + std::log(sum);
    }
    sgemm('N', 'N', S, hd, S, 1.0f, P, S, v, ld, 0.0f, out + b * S * D + h * hd, D);
  }
}

void CpuOps::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                                const float* lse, int64_t B, int64_t S, int64_t H, int64_t hd,
                                float scale) {
  const int64_t D = H * hd, ld = 3 * D;
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    const float* q = qkv + b * S * ld + h * hd;
    const float* k = q + D;
    const float* v = q + 2 * D;
    const float* dO = dout + b * S * D + h * hd;
    const float* O = out + b * S * D + h * hd;
    float* dq = dqkv + b * S * ld + h * hd;
    float* dk = dq + D;
    float* dv = dq + 2 * D;
    float* P = scratch(tl_scores, size_t(S * S));
    float* dP = scratch(tl_dscores, size_t(S * S));
    // P = exp(scale·QKᵀ − lse)
    sgemm('N', 'T', S, S, hd, scale, q, ld, k, ld, 0.0f, P, S);
    for (int64_t i = 0; i < S; ++i) {
      const float l = lse[bh * S + i];
#pragma omp simd
      for (int64_t j = 0; j < S; ++j) P[i * S + j] = vexp(P[i * S + j] - l);
    }
    // dV = Pᵀ·dO ; dP = dO·Vᵀ ; dS = P ∘ (dP − rowsum(dO ∘ O))
    sgemm('T', 'N', S, hd, S, 1.0f, P, S, dO, D, 0.0f, dv, ld);
    sgemm('N', 'T', S, S, hd, 1.0f, dO, D, v, ld, 0.0f, dP, S);
    for (int64_t i = 0; i < S; ++i) {
      float di = 0.0f;
      for (int64_t d = 0; d < hd; ++d) di += dO[i * D + d] * O[i * D + d];
#pragma omp simd
      for (int64_t j = 0; j < S; ++j) dP[i * S + j] = P[i * S + j] * (dP[i * S + j] - di);
    }
    // dQ = scale·dS·K ; dK = scale·dSᵀ·Q
    sgemm('N', 'N', S, hd, S, scale, dP, S, k, ld, 0.0f, dq, ld);
    sgemm('T', 'N', S, hd, S, scale, dP, S, q, ld, 0.0f, dk, ld);
  }
}

}  // namespace ponder
