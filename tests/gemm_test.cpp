// The backend's GEMMs in both precisions against a float64 product: fp32 GEMMs multiply the
// operands as given; bf16 GEMMs multiply the operands rounded to bf16 (and accumulate in fp32),
// so they match the float64 product of the rounded operands to fp32 accuracy and miss the
// product of the unrounded ones by bf16's. Covers transposes, row strides, broadcast operands,
// a batch accumulating into one C, alpha/beta, and the linear-layer entry points; that operands
// given as bf16 values (Ops::bf16_operands) give the same bits as fp32 ones; and that packed
// weights, shared across row counts, follow weights_changed().
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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

// A case's operands and C, stored with row strides beyond their widths when `padded` (dense
// otherwise), and the GEMM call on them.
struct Operands {
  int64_t lda, ldb, ldc, sa, sb, sc;
  std::vector<float> A, B, C;
  GemmArgs args(const Case& c) {
    return {.trans_a = c.ta,
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
            .batch = c.batch};
  }
};

Operands operands(const Case& c, bool padded) {
  Operands o;
  o.lda = (c.ta ? c.M : c.K) + (padded ? 3 : 0);
  o.ldb = (c.tb ? c.K : c.N) + (padded ? 2 : 0);
  o.ldc = c.N + (padded ? 1 : 0);
  o.sa = c.broadcast_a ? 0 : (c.ta ? c.K : c.M) * o.lda;
  o.sb = c.broadcast_b ? 0 : (c.tb ? c.N : c.K) * o.ldb;
  o.sc = c.reduce ? 0 : c.M * o.ldc;
  const int64_t blocks_a = c.broadcast_a ? 1 : c.batch, blocks_b = c.broadcast_b ? 1 : c.batch;
  const int64_t blocks_c = c.reduce ? 1 : c.batch;
  o.A = test::randn(size_t(blocks_a * (c.ta ? c.K : c.M) * o.lda), 1.0, 1);
  o.B = test::randn(size_t(blocks_b * (c.tb ? c.N : c.K) * o.ldb), 1.0, 2);
  o.C = test::randn(size_t(blocks_c * c.M * o.ldc), 1.0, 3);
  return o;
}

// Runs one case; returns the norm-wise relative error against the float64 product of the
// operands, rounded to bf16 first when `round`.
double run_case(MatmulPrecision p, const Case& c, bool round) {
  auto ops = make_cpu_ops(p);
  Operands o = operands(c, true);
  const int64_t blocks_c = c.reduce ? 1 : c.batch;
  std::vector<double> want(o.C.begin(), o.C.end());
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < c.K; ++k)
          s += at(o.A, b * o.sa, o.lda, c.ta, i, k, round) *
               at(o.B, b * o.sb, o.ldb, c.tb, k, j, round);
        double& w = want[size_t(b * o.sc + i * o.ldc + j)];
        w = (c.reduce && b > 0 ? w : c.beta * w) + c.alpha * s;
      }
  ops->gemm(o.args(c));
  double num = 0, den = 0;
  for (int64_t b = 0; b < blocks_c; ++b)
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        const size_t x = size_t(b * o.sc + i * o.ldc + j);
        num += (o.C[x] - want[x]) * (o.C[x] - want[x]);
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
    // single products in the other layouts, with alpha and beta
    {true, false, 12, 7, 31, 1, false, false, false, 0.5f, 1.0f},  // as a weight gradient
    {false, true, 9, 14, 18, 1, false, false, false, 2.0f, 0.0f},
    {true, true, 11, 6, 25, 1, false, false, false, 1.0f, 1.0f},
    // batches of at least 4 products a thread, which run whole products on each thread
    {false, false, 6, 11, 17, 9, true, false, false, 1.0f, 0.0f},
    {true, true, 8, 5, 40, 13, false, false, false, 0.5f, 1.0f},
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

// The linear layers' forward, input and weight gradients (each a oneDNN matmul with its own
// operand layout) against float64, on operands rounded as the precision rounds them.
TEST(Gemm, linear_layers_match_the_float64_products) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
    SCOPED_TRACE(matmul_precision_name(p));
    auto ops = make_cpu_ops(p);
    const int64_t M = 13, N = 24, K = 40;
    std::vector<float> x = test::randn(size_t(M * K), 1.0, 4),
                       W = test::randn(size_t(N * K), 1.0, 5),
                       dy = test::randn(size_t(M * N), 1.0, 6);
    std::vector<float> y(size_t(M * N)), dx(size_t(M * K)), dW(size_t(N * K), 0.25f);
    ops->linear(y.data(), x.data(), W.data(), M, N, K, false, false);
    ops->linear_backward_input(dx.data(), dy.data(), W.data(), M, N, K, false, false);
    ops->linear_backward_weight(dW.data(), dy.data(), x.data(), M, N, K, false, false);
    auto r = [p](float v) { return double(p == MatmulPrecision::BF16 ? round_to_bf16(v) : v); };
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
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Gemm, bf16_operands_give_the_bits_of_the_fp32_operands) {
  EXPECT_FALSE(make_cpu_ops(MatmulPrecision::F32)->bf16_operands());
  auto ops = make_cpu_ops(MatmulPrecision::BF16);
  ASSERT_TRUE(ops->bf16_operands());
  // Padded operands are copied; dense ones are multiplied in place, except where a batch
  // accumulating into one C interleaves them.
  for (const Case& c : kCases)
    for (bool padded : {true, false})
      for (int which : {1, 2, 3}) {  // A, B, both
        SCOPED_TRACE(testing::Message()
                     << "case M " << c.M << " padded " << padded << " which " << which);
        Operands o = operands(c, padded);
        const std::vector<float> C0 = o.C, A16 = test::bf16_operand(o.A),
                                 B16 = test::bf16_operand(o.B);
        ops->gemm(o.args(c));
        const std::vector<float> want = o.C;
        o.C = C0;
        GemmArgs g = o.args(c);
        if (which & 1) g.A = A16.data(), g.a_bf16 = true;
        if (which & 2) g.B = B16.data(), g.b_bf16 = true;
        ops->gemm(g);
        EXPECT_TRUE(same_bits(o.C, want));
      }
  // The linear entry points, each operand in turn.
  const int64_t M = 13, N = 24, K = 40;
  const std::vector<float> x = test::randn(size_t(M * K), 1.0, 4),
                           W = test::randn(size_t(N * K), 1.0, 5),
                           dy = test::randn(size_t(M * N), 1.0, 6);
  const std::vector<float> x16 = test::bf16_operand(x), dy16 = test::bf16_operand(dy);
  std::vector<float> y(size_t(M * N)), dx(size_t(M * K)), y16 = y, dx16 = dx;
  ops->linear(y.data(), x.data(), W.data(), M, N, K, false, false);
  ops->linear(y16.data(), x16.data(), W.data(), M, N, K, false, true);
  EXPECT_TRUE(same_bits(y16, y));
  ops->linear_backward_input(dx.data(), dy.data(), W.data(), M, N, K, false, false);
  ops->linear_backward_input(dx16.data(), dy16.data(), W.data(), M, N, K, false, true);
  EXPECT_TRUE(same_bits(dx16, dx));
  std::vector<float> dW(size_t(N * K), 0.25f);
  ops->linear_backward_weight(dW.data(), dy.data(), x.data(), M, N, K, false, false);
  for (auto [dy_bf16, x_bf16] : {std::pair{true, false}, {false, true}, {true, true}}) {
    std::vector<float> dW16(size_t(N * K), 0.25f);
    ops->linear_backward_weight(dW16.data(), dy_bf16 ? dy16.data() : dy.data(),
                                x_bf16 ? x16.data() : x.data(), M, N, K, dy_bf16, x_bf16);
    EXPECT_TRUE(same_bits(dW16, dW)) << dy_bf16 << x_bf16;
  }
}

// A linear layer's weight is packed once per optimizer step and shared by the matmuls of every
// row count (a no-grad sublayer's passes, its shorter last pass, the full batch). After the
// weight changes and weights_changed(), each row count must multiply by the new values, whichever
// runs first; without weights_changed(), the packed copy is still the old one (refreshed lazily).
TEST(Gemm, packed_weights_follow_weights_changed_at_every_row_count) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
    SCOPED_TRACE(matmul_precision_name(p));
    auto ops = make_cpu_ops(p);
    const int64_t N = 24, K = 40, rows[] = {13, 7};
    const std::vector<float> x = test::randn(size_t(13 * K), 1.0, 7),
                             dy = test::randn(size_t(13 * N), 1.0, 8);
    std::vector<float> W = test::randn(size_t(N * K), 1.0, 9);
    // y = x·Wᵀ and dx = dy·W through the backend, rows M, and the same from the first M rows of
    // the backend's answer at 13 rows, so every row count is checked against one product.
    auto forward = [&](int64_t M) {
      std::vector<float> y(size_t(M * N));
      ops->linear(y.data(), x.data(), W.data(), M, N, K, false, false);
      return y;
    };
    auto input_grad = [&](int64_t M) {
      std::vector<float> dx(size_t(M * K));
      ops->linear_backward_input(dx.data(), dy.data(), W.data(), M, N, K, false, false);
      return dx;
    };
    auto rows_of = [](const std::vector<float>& v, int64_t M, int64_t width) {
      return std::vector<float>(v.begin(), v.begin() + M * width);
    };
    const std::vector<float> y_old = forward(13), dx_old = input_grad(13);
    for (int64_t M : rows) {
      EXPECT_TRUE(same_bits(forward(M), rows_of(y_old, M, N))) << M;
      EXPECT_TRUE(same_bits(input_grad(M), rows_of(dx_old, M, K))) << M;
    }
    for (float& w : W) w = -2.0f * w;
    // Not yet told: the packed copies still hold the old weight, at both row counts.
    EXPECT_TRUE(same_bits(forward(7), rows_of(y_old, 7, N)));
    ops->weights_changed();
    // The shorter pass runs first now and repacks; the full batch must see the same new weight.
    const std::vector<float> y7 = forward(7), y13 = forward(13);
    const std::vector<float> dx7 = input_grad(7), dx13 = input_grad(13);
    EXPECT_TRUE(same_bits(y7, rows_of(y13, 7, N)));
    EXPECT_TRUE(same_bits(dx7, rows_of(dx13, 7, K)));
    for (size_t i = 0; i < y13.size(); ++i) ASSERT_EQ(y13[i], -2.0f * y_old[i]) << i;
    for (size_t i = 0; i < dx13.size(); ++i) ASSERT_EQ(dx13[i], -2.0f * dx_old[i]) << i;
  }
}

}  // namespace
}  // namespace ponder
