// Whole-model gradients against finite differences: the recursion's backward through the n + 1
// net calls of TRM (attention and MLP-t) and HRM's one-step gradient, into every parameter and
// the puzzle-embedding rows; and the ACT loss head's gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "model/model.h"
#include "test_util.h"
#include "train/loss.h"
#include "train/run_config.h"

namespace ponder {
namespace {

using test::dot;
using test::expect_gradient_matches;
using test::randn;
using Vec = std::vector<float>;

ModelConfig tiny_config(const std::string& arch) {
  return parse_run_config(R"({"arch": )" + arch +
                              R"(, "vocab_size": 7, "seq_len": 6, "num_puzzle_identifiers": 3})",
                          "test")
      .model;
}

// Finite differences see the whole function, so the configs have no no-grad calls (H_cycles = 1,
// and L_cycles = 1 for HRM): then the truncated gradient is the full one.
void check_model_gradient(const ModelConfig& c) {
  ASSERT_TRUE(make_schedule(c).no_grad.empty());
  auto ops = make_cpu_ops();
  Model m(*ops, c);
  m.init_weights(5);
  // Give the zero-initialised parts values so their gradients are exercised.
  const ParamInfo* qw = m.layout().find("q_head.weight");
  randn(m.params() + qw->offset, qw->numel, 0.2, 6);
  randn(m.puzzle_table(), m.puzzle_table_size(), 0.5, 7);
  m.params_changed();

  const int64_t B = 3, S = c.seq_total(), D = c.hidden_size, L = c.seq_len, V = c.vocab_size;
  std::vector<int32_t> tokens(B * L), ids = {2, 0, 2};
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 5 + 1) % V);
  Vec zH(B * S * D), zL(B * S * D);
  Vec r1 = randn(B * L * V, 1.0, 8), r2 = randn(B * 2, 1.0, 9);
  auto loss = [&] {
    m.params_changed();
    for (int64_t b = 0; b < B; ++b) {
      ops->tile(zH.data() + b * S * D, m.H_init(), S, D);
      ops->tile(zL.data() + b * S * D, m.L_init(), S, D);
    }
    m.forward(zH.data(), zL.data(), tokens.data(), ids.data(), B, true);
    return dot(r1.data(), m.logits(B), r1.size()) + dot(r2.data(), m.q(B), r2.size());
  };
  loss();
  Vec grads(m.layout().total(), 0.0f), dprefix(B * c.puzzle_emb_ndim);
  m.backward(r1.data(), r2.data(), grads.data(), dprefix.data());

  for (const ParamInfo& p : m.layout().params())
    expect_gradient_matches(p.name, m.params() + p.offset, p.numel, grads.data() + p.offset, loss,
                            1e-2, 3e-2, 4);
  // The table row of id 2 is used by rows 0 and 2: its gradient is their sum.
  const int64_t nd = c.puzzle_emb_ndim;
  Vec row_grad(nd);
  for (int64_t j = 0; j < nd; ++j) row_grad[j] = dprefix[0 * nd + j] + dprefix[2 * nd + j];
  expect_gradient_matches("puzzle_emb row 2", m.puzzle_table() + 2 * nd, nd, row_grad.data(), loss);
}

TEST(ModelGrad, trm_attention_recursion_backward_matches_finite_differences) {
  check_model_gradient(tiny_config(
      R"({"name": "trm", "hidden_size": 16, "num_heads": 2, "expansion": 1, "H_cycles": 1,
          "L_cycles": 3, "puzzle_emb_len": 2, "puzzle_emb_ndim": 20})"));
}

TEST(ModelGrad, trm_mlp_t_recursion_backward_matches_finite_differences) {
  check_model_gradient(tiny_config(
      R"({"name": "trm", "hidden_size": 16, "num_heads": 2, "expansion": 1, "H_cycles": 1,
          "L_cycles": 2, "puzzle_emb_len": 2, "puzzle_emb_ndim": 16, "mlp_t": true,
          "pos_encodings": "none"})"));
}

TEST(ModelGrad, hrm_one_step_gradient_matches_finite_differences) {
  check_model_gradient(tiny_config(
      R"({"name": "hrm", "hidden_size": 16, "num_heads": 2, "expansion": 1, "H_cycles": 1,
          "L_cycles": 1, "H_layers": 1, "L_layers": 2, "pos_encodings": "learned"})"));
}

TEST(ModelGrad, schedules_follow_the_references) {
  // TRM T=3, n=6: 21 net calls, 7 with gradient; HRM 2×2: L, L, H, L without, then L, H.
  Schedule trm = make_schedule(tiny_config(R"({"name": "trm", "hidden_size": 16, "num_heads": 2,
      "H_cycles": 3, "L_cycles": 6})"));
  EXPECT_EQ(trm.no_grad.size() + trm.grad.size(), 21u);
  EXPECT_EQ(trm.grad.size(), 7u);
  EXPECT_FALSE(trm.grad.back().latent);
  Schedule hrm = make_schedule(tiny_config(R"({"name": "hrm", "hidden_size": 16, "num_heads": 2})"));
  ASSERT_EQ(hrm.no_grad.size(), 4u);
  EXPECT_TRUE(hrm.no_grad[0].latent && hrm.no_grad[1].latent && !hrm.no_grad[2].latent &&
              hrm.no_grad[3].latent);
  EXPECT_EQ(hrm.no_grad[2].net, 1);
  ASSERT_EQ(hrm.grad.size(), 2u);
  EXPECT_TRUE(hrm.grad[0].latent && hrm.grad[0].net == 0);
  EXPECT_TRUE(!hrm.grad[1].latent && hrm.grad[1].net == 1);
}

// ---- loss head

struct LossCase {
  int64_t B = 3, L = 4, V = 5;
  Vec logits = randn(3 * 4 * 5, 1.5, 11);
  std::vector<int32_t> labels = {1, 2, -100, 4, 0, 0, 0, 0, -100, -100, -100, -100};
  Vec q = {0.3f, -0.7f, -1.2f, 0.4f, 2.0f, -0.1f};
  Vec target = {0.2f, 0.9f, 0.5f};
  std::vector<uint8_t> halted = {1, 0, 1};
  std::vector<int32_t> steps = {3, 1, 16};
  LossInputs in(LossType t, bool with_target) {
    LossInputs li;
    li.B = B;
    li.L = L;
    li.V = V;
    li.logits = logits.data();
    li.labels = labels.data();
    li.q = q.data();
    li.target_q_continue = with_target ? target.data() : nullptr;
    li.halted = halted.data();
    li.steps = steps.data();
    li.type = t;
    return li;
  }
};

void check_loss_gradient(LossType type, bool with_target) {
  LossCase lc;
  const double scale = 1.0 / 6.0;
  Vec dlogits(lc.logits.size()), dq(lc.q.size());
  act_loss(lc.in(type, with_target), scale, dlogits.data(), dq.data());
  auto loss = [&] { return act_loss(lc.in(type, with_target), scale, nullptr, nullptr).total * scale; };
  expect_gradient_matches("loss / logits", lc.logits.data(), lc.logits.size(), dlogits.data(), loss,
                          1e-3);
  expect_gradient_matches("loss / q", lc.q.data(), lc.q.size(), dq.data(), loss, 1e-3);
}

TEST(LossHead, stablemax_loss_gradient_matches_finite_differences) {
  check_loss_gradient(LossType::Stablemax, false);
}
TEST(LossHead, softmax_loss_with_q_continue_gradient_matches_finite_differences) {
  check_loss_gradient(LossType::Softmax, true);
}

TEST(LossHead, stablemax_values_and_metrics_follow_the_reference) {
  // One row, logits (0, −1), label 0: s = (1, 1/2), CE = −log(1/1.5).
  Vec logits = {0.0f, -1.0f};
  std::vector<int32_t> labels = {0};
  Vec q = {0.5f, 0.0f};
  std::vector<uint8_t> halted = {1};
  std::vector<int32_t> steps = {4};
  LossInputs li;
  li.B = 1;
  li.L = 1;
  li.V = 2;
  li.logits = logits.data();
  li.labels = labels.data();
  li.q = q.data();
  li.halted = halted.data();
  li.steps = steps.data();
  LossResult r = act_loss(li, 1.0, nullptr, nullptr);
  EXPECT_NEAR(r.metrics.lm_loss, std::log(1.5), 1e-12);
  EXPECT_NEAR(r.metrics.q_halt_loss, std::log1p(std::exp(-0.5)), 1e-7);  // target 1: correct
  EXPECT_EQ(r.metrics.count, 1);
  EXPECT_EQ(r.metrics.exact_accuracy, 1);
  EXPECT_EQ(r.metrics.q_halt_accuracy, 1);
  EXPECT_EQ(r.metrics.steps, 4);

  LossCase lc;  // row 2 has no supervised token: correct, but not counted in the metrics
  LossResult r2 = act_loss(lc.in(LossType::Stablemax, false), 1.0, nullptr, nullptr);
  EXPECT_EQ(r2.seq_correct[2], 1);
  EXPECT_EQ(r2.metrics.count, 1);  // row 0 only: row 1 did not halt
  EXPECT_EQ(r2.metrics.steps, 3);
}

}  // namespace
}  // namespace ponder
