// AdamATan2, sparse SignSGD, EMA and the learning-rate schedule against the reference formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "model/model.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace ponder {
namespace {

RunConfig tiny() {
  return parse_run_config(
      R"({"arch": {"name": "trm", "hidden_size": 16, "num_heads": 2, "expansion": 1,
          "puzzle_emb_ndim": 4, "puzzle_emb_len": 1},
          "vocab_size": 5, "seq_len": 4, "num_puzzle_identifiers": 4,
          "lr": 0.01, "lr_warmup_steps": 0, "weight_decay": 0.5, "puzzle_emb_lr": 0.1,
          "puzzle_emb_weight_decay": 0.2, "ema": true, "ema_rate": 0.9})",
      "test");
}

TEST(Optimizer, schedule_is_linear_warmup_then_cosine) {
  EXPECT_DOUBLE_EQ(schedule_lr(1e-4, 1, 2000, 10000, 1.0), 1e-4 / 2000);
  EXPECT_DOUBLE_EQ(schedule_lr(1e-4, 1000, 2000, 10000, 1.0), 0.5e-4);
  EXPECT_DOUBLE_EQ(schedule_lr(1e-4, 2000, 2000, 10000, 1.0), 1e-4);
  EXPECT_DOUBLE_EQ(schedule_lr(1e-4, 9000, 2000, 10000, 1.0), 1e-4);  // min_ratio 1: constant
  EXPECT_NEAR(schedule_lr(1.0, 6000, 2000, 10000, 0.1), 0.1 + 0.9 * 0.5, 1e-12);  // half way
  EXPECT_NEAR(schedule_lr(1.0, 10000, 2000, 10000, 0.1), 0.1, 1e-12);
}

TEST(Optimizer, first_adam_atan2_step_is_0_99669_lr_sign_g_after_decay) {
  RunConfig c = tiny();
  auto ops = make_cpu_ops();
  Model m(*ops, c.model);
  m.init_weights(1);
  Optimizer opt(m, c.train);
  const size_t n = m.layout().total();
  std::vector<float> p0(m.params(), m.params() + n);
  for (size_t i = 0; i < n; ++i) opt.grads()[i] = (i % 3 == 0) ? 0.0f : (i % 2 ? 0.3f : -2e-6f);
  std::vector<int32_t> ids = {1};
  std::vector<float> rows(4, 0.0f);
  opt.update(1, 10, ids, rows.data());
  const double lr = 0.01;
  for (size_t i = 0; i < n; ++i) {
    const double g = opt.grads()[i];
    const double expect = double(p0[i]) * (1 - lr * 0.5) -
                          (g == 0 ? 0.0 : 10 * std::atan(0.1) * lr * (g > 0 ? 1 : -1));
    ASSERT_NEAR(m.params()[i], expect, 1e-6) << i;
  }
  EXPECT_NEAR(10 * std::atan(0.1), 0.99669, 1e-5);
  // EMA after one step: 0.9·p0 + 0.1·p1
  for (size_t i = 0; i < n; i += 97)
    EXPECT_NEAR(opt.ema()[i], 0.9 * p0[i] + 0.1 * m.params()[i], 1e-6);
}

TEST(Optimizer, signsgd_sums_duplicate_ids_and_touches_only_their_rows) {
  RunConfig c = tiny();
  auto ops = make_cpu_ops();
  Model m(*ops, c.model);
  m.init_weights(1);
  float* table = m.puzzle_table();
  for (size_t i = 0; i < m.puzzle_table_size(); ++i) table[i] = 1.0f;
  Optimizer opt(m, c.train);
  // ids 2, 0, 2: id 2 gets (1, −3, 0, 2) + (−2, 1, 0, −2) = (−1, −2, 0, 0)
  std::vector<int32_t> ids = {2, 0, 2};
  std::vector<float> rows = {1, -3, 0, 2, 0.5f, 0, -0.5f, 0, -2, 1, 0, -2};
  opt.update(1, 10, ids, rows.data());
  const float decay = float(1.0 - 0.1 * 0.2);
  const float expect2[4] = {decay + 0.1f, decay + 0.1f, decay, decay};
  for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(table[2 * 4 + j], expect2[j]);
  EXPECT_FLOAT_EQ(table[0 * 4 + 0], decay - 0.1f);
  EXPECT_FLOAT_EQ(table[0 * 4 + 1], decay);
  for (int j = 0; j < 4; ++j) {  // ids 1 and 3 were not in the batch: no decay either
    EXPECT_EQ(table[1 * 4 + j], 1.0f);
    EXPECT_EQ(table[3 * 4 + j], 1.0f);
  }
}

}  // namespace
}  // namespace ponder
