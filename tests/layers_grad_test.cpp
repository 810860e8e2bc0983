// Every backward of the engine against central finite differences: the op kernels (RMSNorm over
// rows and over columns, SwiGLU, RoPE + attention, linear), then the layers built on them
// (attention and MLP-t blocks, embedding, heads).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "model/layers.h"
#include "ops/ops.h"
#include "test_util.h"

namespace ponder {
namespace {

using test::dot;
using test::expect_gradient_matches;
using test::randn;
using Vec = std::vector<float>;

class LayerGrad : public ::testing::Test {
 protected:
  std::unique_ptr<Ops> ops = make_cpu_ops();
};

TEST_F(LayerGrad, rmsnorm_rows_backward_matches_finite_differences) {
  const int64_t rows = 5, C = 24;
  Vec a = randn(rows * C, 1.0, 1), b = randn(rows * C, 0.5, 2), r = randn(rows * C, 1.0, 3);
  Vec out(rows * C), rstd(rows), dv(rows * C);
  auto loss = [&] {
    ops->add_rmsnorm_rows(out.data(), rstd.data(), a.data(), b.data(), rows, C, 1e-5f);
    return dot(r.data(), out.data(), out.size());
  };
  loss();
  ops->rmsnorm_rows_backward(dv.data(), r.data(), out.data(), rstd.data(), rows, C);
  expect_gradient_matches("rmsnorm rows / a", a.data(), a.size(), dv.data(), loss);
  expect_gradient_matches("rmsnorm rows / b", b.data(), b.size(), dv.data(), loss);
}

TEST_F(LayerGrad, rmsnorm_over_the_sequence_axis_backward_matches_finite_differences) {
  const int64_t B = 2, S = 7, C = 70;  // C > one 64-column block
  Vec a = randn(B * S * C, 1.0, 4), b = randn(B * S * C, 0.5, 5), r = randn(B * S * C, 1.0, 6);
  Vec out(a.size()), rstd(B * C), dv(a.size());
  auto loss = [&] {
    ops->add_rmsnorm_cols(out.data(), rstd.data(), a.data(), b.data(), B, S, C, 1e-5f);
    return dot(r.data(), out.data(), out.size());
  };
  loss();
  // Normalised along S: every (b, c) column has mean square 1.
  for (int64_t n = 0; n < B; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double ss = 0;
      for (int64_t s = 0; s < S; ++s) ss += double(out[(n * S + s) * C + c]) * out[(n * S + s) * C + c];
      EXPECT_NEAR(ss / S, 1.0, 1e-3);
    }
  ops->rmsnorm_cols_backward(dv.data(), r.data(), out.data(), rstd.data(), B, S, C);
  expect_gradient_matches("rmsnorm cols / a", a.data(), a.size(), dv.data(), loss);
}

TEST_F(LayerGrad, swiglu_backward_matches_finite_differences) {
  const int64_t rows = 4, width = 9;
  Vec gu = randn(rows * 2 * width, 1.5, 7), r = randn(rows * width, 1.0, 8);
  Vec act(rows * width), dgu(gu.size());
  auto loss = [&] {
    ops->swiglu(act.data(), gu.data(), rows, width, false);
    return dot(r.data(), act.data(), act.size());
  };
  loss();
  ops->swiglu_backward(dgu.data(), r.data(), gu.data(), rows, width, false);
  expect_gradient_matches("swiglu", gu.data(), gu.size(), dgu.data(), loss);
}

// RoPE tables as the model builds them: dimension j uses frequency j mod hd/2.
void rope_tables(int64_t S, int64_t hd, Vec& cs, Vec& sn) {
  cs.resize(S * hd);
  sn.resize(S * hd);
  for (int64_t k = 0; k < hd / 2; ++k)
    for (int64_t p = 0; p < S; ++p) {
      const float a = float(p) / std::pow(10000.0f, float(2 * k) / float(hd));
      cs[p * hd + k] = cs[p * hd + k + hd / 2] = std::cos(a);
      sn[p * hd + k] = sn[p * hd + k + hd / 2] = std::sin(a);
    }
}

TEST_F(LayerGrad, rope_and_attention_backward_match_finite_differences) {
  const int64_t B = 2, S = 9, H = 2, hd = 8, D = H * hd;
  Vec qkv = randn(B * S * 3 * D, 1.0, 9), r = randn(B * S * D, 1.0, 10);
  Vec cs, sn;
  rope_tables(S, hd, cs, sn);
  Vec roped(qkv.size()), out(B * S * D), lse(B * H * S), dqkv(qkv.size());
  const float scale = 1.0f / std::sqrt(float(hd));
  auto loss = [&] {
    roped = qkv;
    ops->rope(roped.data(), cs.data(), sn.data(), B, S, H, hd);
    ops->attention(out.data(), lse.data(), roped.data(), B, S, H, hd, scale);
    return dot(r.data(), out.data(), out.size());
  };
  loss();
  ops->attention_backward(dqkv.data(), r.data(), roped.data(), out.data(), lse.data(), B, S, H, hd,
                          scale);
  ops->rope_backward(dqkv.data(), cs.data(), sn.data(), B, S, H, hd);
  expect_gradient_matches("rope+attention", qkv.data(), qkv.size(), dqkv.data(), loss);
}

TEST_F(LayerGrad, attention_rows_sum_to_one_and_ignore_nothing) {
  // With all keys equal, attention averages the values over every position (no mask).
  const int64_t B = 1, S = 5, H = 1, hd = 4, D = 4;
  Vec qkv(S * 3 * D, 0.0f), out(S * D), lse(S);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < hd; ++j) qkv[s * 3 * D + 2 * D + j] = float(s);
  ops->attention(out.data(), lse.data(), qkv.data(), B, S, H, hd, 0.5f);
  for (int64_t s = 0; s < S; ++s) EXPECT_NEAR(out[s * D], 2.0f, 1e-6);
  EXPECT_NEAR(lse[0], std::log(5.0), 1e-6);
}

TEST_F(LayerGrad, linear_backward_matches_finite_differences) {
  const int64_t M = 6, N = 10, K = 7;
  Vec x = randn(M * K, 1.0, 11), W = randn(N * K, 0.3, 12), r = randn(M * N, 1.0, 13);
  Vec y(M * N), dx(M * K), dW(N * K, 0.0f);
  auto loss = [&] {
    ops->weights_changed();
    ops->linear(y.data(), x.data(), W.data(), M, N, K, false, false);
    return dot(r.data(), y.data(), y.size());
  };
  loss();
  ops->linear_backward_input(dx.data(), r.data(), W.data(), M, N, K, false, false);
  ops->linear_backward_weight(dW.data(), r.data(), x.data(), M, N, K, false, false);
  expect_gradient_matches("linear / x", x.data(), x.size(), dx.data(), loss);
  expect_gradient_matches("linear / W", W.data(), W.size(), dW.data(), loss);
  // accumulate adds onto what is there
  loss();
  Vec y2(M * N, 1.0f);
  ops->linear(y2.data(), x.data(), W.data(), M, N, K, true, false);
  for (int64_t i = 0; i < M * N; ++i) EXPECT_NEAR(y2[i], y[i] + 1.0f, 1e-5);
}

// A block's parameters and activations in plain vectors.
struct BlockBuffers {
  Vec qkv, o, mlpt_gu, mlpt_down, gu, down;  // weights
  Vec g_qkv, g_o, g_mlpt_gu, g_mlpt_down, g_gu, g_down;
  Vec a_qkv, a_lse, a_attn, a_gt, a_at, a_h1, a_r1, a_gu, a_act, a_h2, a_r2, tmp;
  Vec d1, dmix, dqkv, dgu, dact;
  BlockParams w, g;
  BlockActs a;
  BackwardScratch s;

  explicit BlockBuffers(const Dims& d) {
    const int64_t T = d.T(), D = d.D;
    auto init = [](Vec& v, size_t n, double std, uint64_t seed) { v = randn(n, std, seed); };
    if (d.mlp_t) {
      init(mlpt_gu, 2 * d.It * d.S, 1.0 / std::sqrt(double(d.S)), 21);
      init(mlpt_down, d.S * d.It, 1.0 / std::sqrt(double(d.It)), 22);
    } else {
      init(qkv, 3 * D * D, 1.0 / std::sqrt(double(D)), 23);
      init(o, D * D, 1.0 / std::sqrt(double(D)), 24);
    }
    init(gu, 2 * d.I * D, 1.0 / std::sqrt(double(D)), 25);
    init(down, D * d.I, 1.0 / std::sqrt(double(d.I)), 26);
    for (auto [gv, wv] : {std::pair{&g_qkv, &qkv}, {&g_o, &o}, {&g_mlpt_gu, &mlpt_gu},
                          {&g_mlpt_down, &mlpt_down}, {&g_gu, &gu}, {&g_down, &down}})
      gv->assign(wv->size(), 0.0f);
    auto ptr = [](Vec& v) { return v.empty() ? nullptr : v.data(); };
    w = {ptr(qkv), ptr(o), ptr(mlpt_gu), ptr(mlpt_down), ptr(gu), ptr(down)};
    g = {ptr(g_qkv), ptr(g_o), ptr(g_mlpt_gu), ptr(g_mlpt_down), ptr(g_gu), ptr(g_down)};
    auto take = [](Vec& v, int64_t n) { v.assign(size_t(n), 0.0f); return v.data(); };
    if (d.mlp_t) {
      a.gt = take(a_gt, d.B * 2 * d.It * D);
      a.at = take(a_at, d.B * d.It * D);
      a.r1 = take(a_r1, d.B * D);
    } else {
      a.qkv = take(a_qkv, T * 3 * D);
      a.lse = take(a_lse, d.B * d.H * d.S);
      a.attn = take(a_attn, T * D);
      a.r1 = take(a_r1, T);
    }
    a.h1 = take(a_h1, T * D);
    a.gu = take(a_gu, T * 2 * d.I);
    a.act = take(a_act, T * d.I);
    a.h2 = take(a_h2, T * D);
    a.r2 = take(a_r2, T);
    take(tmp, T * D);
    s.d1 = take(d1, T * D);
    s.dmix = take(dmix, T * D);
    s.dqkv = take(dqkv, T * 3 * D);
    s.dgu = take(dgu, std::max(T * 2 * d.I, d.B * 2 * d.It * D));
    s.dact = take(dact, std::max(T * d.I, d.B * d.It * D));
  }
};

void check_block(Ops& ops, bool mlp_t) {
  Dims d;
  d.B = 2;
  d.S = 6;
  d.D = 16;
  d.H = 2;
  d.hd = 8;
  d.I = 24;
  d.It = mlp_t ? 10 : 0;
  d.mlp_t = mlp_t;
  BlockBuffers bb(d);
  Vec cs, sn;
  rope_tables(d.S, d.hd, cs, sn);
  const Rope rope = mlp_t ? Rope{} : Rope{cs.data(), sn.data()};
  Vec in = randn(d.T() * d.D, 1.0, 31), r = randn(d.T() * d.D, 1.0, 32), din(in.size());
  auto loss = [&] {
    ops.weights_changed();
    block_forward(ops, d, bb.w, rope, in.data(), bb.a, bb.tmp.data());
    return dot(r.data(), bb.a.h2, in.size());
  };
  loss();
  block_backward(ops, d, bb.w, bb.g, rope, in.data(), bb.a, r.data(), din.data(), bb.s);
  const std::string v = mlp_t ? "mlp_t block / " : "attention block / ";
  expect_gradient_matches(v + "input", in.data(), in.size(), din.data(), loss);
  if (mlp_t) {
    expect_gradient_matches(v + "mlp_t.gate_up", bb.mlpt_gu.data(), bb.mlpt_gu.size(), bb.g_mlpt_gu.data(), loss);
    expect_gradient_matches(v + "mlp_t.down", bb.mlpt_down.data(), bb.mlpt_down.size(), bb.g_mlpt_down.data(), loss);
  } else {
    expect_gradient_matches(v + "qkv", bb.qkv.data(), bb.qkv.size(), bb.g_qkv.data(), loss);
    expect_gradient_matches(v + "o", bb.o.data(), bb.o.size(), bb.g_o.data(), loss);
  }
  expect_gradient_matches(v + "mlp.gate_up", bb.gu.data(), bb.gu.size(), bb.g_gu.data(), loss);
  expect_gradient_matches(v + "mlp.down", bb.down.data(), bb.down.size(), bb.g_down.data(), loss);
}

TEST_F(LayerGrad, attention_block_backward_matches_finite_differences) { check_block(*ops, false); }
TEST_F(LayerGrad, mlp_t_block_backward_matches_finite_differences) { check_block(*ops, true); }

TEST_F(LayerGrad, block_forward_may_run_in_place) {
  // No-grad passes feed a block its own output buffer; the result must not change.
  Dims d;
  d.B = 2;
  d.S = 5;
  d.D = 16;
  d.H = 2;
  d.hd = 8;
  d.I = 24;
  BlockBuffers bb(d);
  Vec in = randn(d.T() * d.D, 1.0, 41);
  block_forward(*ops, d, bb.w, Rope{}, in.data(), bb.a, bb.tmp.data());
  Vec expected(bb.a.h2, bb.a.h2 + in.size());
  std::copy(in.begin(), in.end(), bb.a.h2);
  block_forward(*ops, d, bb.w, Rope{}, bb.a.h2, bb.a, bb.tmp.data());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(bb.a.h2[i], expected[i]);
}

TEST_F(LayerGrad, embedding_backward_matches_finite_differences) {
  Dims d;
  d.B = 3;
  d.L = 5;
  d.P = 2;
  d.S = 7;
  d.D = 8;
  d.V = 6;
  d.ndim = 12;  // zero-padded to P·D = 16
  Vec table = randn(d.V * d.D, 0.3, 51), pos = randn(d.S * d.D, 0.3, 52),
      prefix = randn(d.B * d.ndim, 0.3, 53);
  std::vector<int32_t> tokens = {0, 1, 2, 3, 4, 5, 5, 5, 1, 0, 2, 2, 3, 4, 1};
  Vec r = randn(d.B * d.S * d.D, 1.0, 54), x(r.size());
  Vec g_table(table.size(), 0.0f), g_pos(pos.size(), 0.0f), g_prefix(prefix.size());
  ModelParams w, g;
  w.embed_tokens = table.data();
  w.embed_pos = pos.data();
  g.embed_tokens = g_table.data();
  g.embed_pos = g_pos.data();
  auto loss = [&] {
    embedding_forward(*ops, d, w, prefix.data(), tokens.data(), x.data());
    return dot(r.data(), x.data(), x.size());
  };
  loss();
  // The zero padding of the prefix really is zero (before positions are added).
  ModelParams no_pos = w;
  no_pos.embed_pos = nullptr;
  embedding_forward(*ops, d, no_pos, prefix.data(), tokens.data(), x.data());
  for (int64_t j = d.ndim; j < d.P * d.D; ++j) EXPECT_EQ(x[j], 0.0f);
  embedding_backward(*ops, d, g, tokens.data(), r.data(), g_prefix.data());
  expect_gradient_matches("embedding / table", table.data(), table.size(), g_table.data(), loss);
  expect_gradient_matches("embedding / positions", pos.data(), pos.size(), g_pos.data(), loss);
  expect_gradient_matches("embedding / prefix", prefix.data(), prefix.size(), g_prefix.data(), loss);
}

TEST_F(LayerGrad, heads_backward_matches_finite_differences) {
  Dims d;
  d.B = 3;
  d.L = 4;
  d.P = 2;
  d.S = 6;
  d.D = 8;
  d.V = 5;
  Vec zH = randn(d.B * d.S * d.D, 1.0, 61), lm = randn(d.V * d.D, 0.3, 62),
      qw = randn(2 * d.D, 0.3, 63), qb = {0.5f, -0.25f};
  Vec r1 = randn(d.B * d.L * d.V, 1.0, 64), r2 = randn(d.B * 2, 1.0, 65);
  Vec logits(r1.size()), q(r2.size()), dzH(zH.size());
  Vec g_lm(lm.size(), 0.0f), g_qw(qw.size(), 0.0f), g_qb(2, 0.0f);
  ModelParams w, g;
  w.lm_head = lm.data();
  w.q_head_w = qw.data();
  w.q_head_b = qb.data();
  g.lm_head = g_lm.data();
  g.q_head_w = g_qw.data();
  g.q_head_b = g_qb.data();
  auto loss = [&] {
    heads_forward(*ops, d, w, zH.data(), logits.data(), q.data());
    return dot(r1.data(), logits.data(), logits.size()) + dot(r2.data(), q.data(), q.size());
  };
  loss();
  heads_backward(*ops, d, w, g, zH.data(), r1.data(), r2.data(), dzH.data());
  expect_gradient_matches("heads / z_H", zH.data(), zH.size(), dzH.data(), loss);
  expect_gradient_matches("heads / lm_head", lm.data(), lm.size(), g_lm.data(), loss);
  expect_gradient_matches("heads / q_head.weight", qw.data(), qw.size(), g_qw.data(), loss);
  expect_gradient_matches("heads / q_head.bias", qb.data(), qb.size(), g_qb.data(), loss);
}

}  // namespace
}  // namespace ponder
