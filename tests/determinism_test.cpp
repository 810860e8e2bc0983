// Training is bit-identical for the same seed and thread count, and agrees within float
// tolerance across thread counts (GEMM kernels may split their sums differently), in both GEMM
// precisions.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "model/model.h"
#include "train/act.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace ponder {
namespace {

// Parameters after a few training steps of a small TRM (attention) on a fixed batch.
std::vector<float> train_params(int threads, MatmulPrecision precision) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  RunConfig rc = parse_run_config(
      R"({"arch": {"name": "trm", "hidden_size": 64, "num_heads": 2, "H_cycles": 2, "L_cycles": 2,
                   "puzzle_emb_ndim": 64},
          "vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 4, "lr": 1e-3,
          "lr_warmup_steps": 0, "ema": true})",
      "determinism");
  auto ops = make_cpu_ops(precision);
  Model m(*ops, rc.model);
  m.init_weights(3);
  Optimizer opt(m, rc.train);
  const int64_t B = 8;
  Batch batch;
  batch.B = B;
  batch.L = 81;
  for (int64_t i = 0; i < B * 81; ++i) {
    batch.inputs.push_back(int32_t(1 + i * 7 % 10));
    batch.labels.push_back(int32_t(1 + i * 3 % 10));
  }
  for (int64_t b = 0; b < B; ++b) batch.puzzle_ids.push_back(int32_t(b % 4));
  Carry carry = make_carry(m, B);
  StepOptions so;
  so.grad_scale = 1.0 / double(B);
  for (int64_t step = 1; step <= 4; ++step) {
    opt.zero_grad();
    StepResult r = supervision_step(m, carry, batch, so, opt.grads());
    opt.update(step, 4, carry.data.puzzle_ids, r.dprefix.data());
  }
  omp_set_num_threads(saved);
  std::vector<float> p(m.params(), m.params() + m.layout().total());
  p.insert(p.end(), m.puzzle_table(), m.puzzle_table() + m.puzzle_table_size());
  return p;
}

double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

TEST(Determinism, same_threads_bit_identical_and_across_threads_within_tolerance) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
    const std::vector<float> one = train_params(1, p), two = train_params(2, p);
    EXPECT_EQ(train_params(2, p), two) << matmul_precision_name(p);
    EXPECT_EQ(train_params(1, p), one) << matmul_precision_name(p);
    EXPECT_LT(relative_difference(one, two), 1e-5) << matmul_precision_name(p);
  }
}

}  // namespace
}  // namespace ponder
