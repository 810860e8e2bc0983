// The backend's GEMMs in both precisions against a float64 product: fp32 GEMMs multiply the
// operands as given; bf16 GEMMs multiply the operands rounded to bf16 (and accumulate in fp32),
// so they match the float64 product of the rounded operands to fp32 accuracy and miss the
// product of the unrounded ones by bf16's. Covers transposes, row strides, broadcast operands,
// a batch accumulating into one C, alpha/beta, and the linear-layer entry points.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "ops/ops.h"
#include "test_util.h"

namespace ponder {
namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K, batch;
  bool broadcast_a, broadcast_b, reduce;
  float alpha, beta;
};

// op(X)[i][k] of a stored matrix with row stride ld.
double at(const std::vector<float>& x, int64_t off, int64_t ld, bool trans, int64_t i, int64_t k,
          bool round) {
  const float v = trans ? x[size_t(off + k * ld + i)] : x[size_t(off + i * ld + k)];
  return round ? double(round_to_bf16(v)) : double(v);
}

// Runs one case; returns the norm-wise relative error against the float64 product of the
// operands, rounded to bf16 first when `round`.
double run_case(MatmulPrecision p, const Case& c, bool round) {
  auto ops = make_cpu_ops(p);
  const int64_t lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 2, ldc = c.N + 1;
  const int64_t sa = c.broadcast_a ? 0 : (c.ta ? c.K : c.M) * lda;
  const int64_t sb = c.broadcast_b ? 0 : (c.tb ? c.N : c.K) * ldb;
  const int64_t sc = c.reduce ? 0 : c.M * ldc;
  const int64_t blocks_a = c.broadcast_a ? 1 : c.batch, blocks_b = c.broadcast_b ? 1 : c.batch;
  std::vector<float> A = test::randn(size_t(blocks_a * (c.ta ? c.K : c.M) * lda), 1.0, 1);
  std::vector<float> B = test::randn(size_t(blocks_b * (c.tb ? c.N : c.K) * ldb), 1.0, 2);
  const int64_t blocks_c = c.reduce ? 1 : c.batch;
  std::vector<float> C = test::randn(size_t(blocks_c * c.M * ldc), 1.0, 3);
  std::vector<double> want(C.begin(), C.end());
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < c.K; ++k)
          s += at(A, b * sa, lda, c.ta, i, k, round) * at(B, b * sb, ldb, c.tb, k, j, round);
        double& w = want[size_t(b * sc + i * ldc + j)];
        w = (c.reduce && b > 0 ? w : c.beta * w) + c.alpha * s;
      }
  ops->gemm({.trans_a = c.ta,
             .trans_b = c.tb,
             .M = c.M,
             .N = c.N,
             .K = c.K,
             .alpha = c.alpha,
             .beta = c.beta,
             .A = A.data(),
             .lda = lda,
             .stride_a = sa,
             .B = B.data(),
             .ldb = ldb,
             .stride_b = sb,
             .C = C.data(),
             .ldc = ldc,
             .stride_c = sc,
             .batch = c.batch});
  double num = 0, den = 0;
  for (int64_t b = 0; b < blocks_c; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        const size_t x = size_t(b * sc + i * ldc + j);
        num += (C[x] - want[x]) * (C[x] - want[x]);
        den += want[x] * want[x];
      }
  return std::sqrt(num / den);
}

const Case kCases[] = {
    {false, false, 7, 9, 33, 1, false, false, false, 1.0f, 0.0f},
    {true, false, 8, 5, 40, 3, false, false, false, 0.5f, 1.0f},
    {false, true, 6, 11, 17, 4, true, false, false, 1.0f, 0.0f},  // broadcast A (MLP-t forward)
    {true, true, 5, 7, 29, 2, false, true, false, 1.0f, 1.0f},    // broadcast B
    {true, false, 10, 6, 21, 5, false, false, true, 1.0f, 1.0f},  // Σ_b, as the lm_head gradient
    {false, true, 9, 12, 19, 3, false, false, true, 1.0f, 1.0f},  // Σ_b, as the MLP-t gradients
    {false, false, 4, 8, 23, 3, false, false, true, 2.0f, 1.0f},
};

TEST(Gemm, fp32_gemms_match_the_float64_product) {
  for (const Case& c : kCases) EXPECT_LT(run_case(MatmulPrecision::F32, c, false), 1e-6);
}

TEST(Gemm, bf16_gemms_multiply_the_operands_rounded_to_bf16) {
  for (const Case& c : kCases) {
    EXPECT_LT(run_case(MatmulPrecision::BF16, c, true), 1e-6);
    // …and not the unrounded ones: bf16 keeps 8 significant bits.
    EXPECT_GT(run_case(MatmulPrecision::BF16, c, false), 3e-4);
  }
}

TEST(Gemm, bf16_linear_layers_multiply_the_operands_rounded_to_bf16) {
  auto ops = make_cpu_ops(MatmulPrecision::BF16);
  const int64_t M = 13, N = 24, K = 40;
  std::vector<float> x = test::randn(size_t(M * K), 1.0, 4), W = test::randn(size_t(N * K), 1.0, 5),
                     dy = test::randn(size_t(M * N), 1.0, 6);
  std::vector<float> y(size_t(M * N)), dx(size_t(M * K)), dW(size_t(N * K), 0.25f);
  ops->linear(y.data(), x.data(), W.data(), M, N, K, false);
  ops->linear_backward_input(dx.data(), dy.data(), W.data(), M, N, K, false);
  ops->linear_backward_weight(dW.data(), dy.data(), x.data(), M, N, K);
  auto r = [](float v) { return double(round_to_bf16(v)); };
  double err = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += r(x[size_t(i * K + k)]) * r(W[size_t(j * K + k)]);
      err = std::max(err, std::abs(y[size_t(i * N + j)] - s) / (1 + std::abs(s)));
    }
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t j = 0; j < N; ++j) s += r(dy[size_t(i * N + j)]) * r(W[size_t(j * K + k)]);
      err = std::max(err, std::abs(dx[size_t(i * K + k)] - s) / (1 + std::abs(s)));
    }
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0.25;
      for (int64_t i = 0; i < M; ++i) s += r(dy[size_t(i * N + j)]) * r(x[size_t(i * K + k)]);
      err = std::max(err, std::abs(dW[size_t(j * K + k)] - s) / (1 + std::abs(s)));
    }
  EXPECT_LT(err, 1e-5);
}

}  // namespace
}  // namespace ponder
