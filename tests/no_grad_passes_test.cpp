// A forward whose intermediates are not kept runs its SwiGLU and MLP-t sublayers in passes of
// Ops::no_grad_chunk_rows() token rows (the CPU's bf16 backend does, to keep them in cache). The
// passes must compute what one whole-batch pass computes: a few training steps (whose first
// cycles are no-grad forwards) with passes that split the batch unevenly agree with unsplit ones,
// for TRM-MLP, TRM-Att and HRM.
#include <gtest/gtest.h>

#include <map>

#include "ops/forwarding_ops.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ponder {
namespace {

// Asks for passes of at most `rows` rows and counts the linears by their rows and the per-puzzle
// GEMMs (MLP-t's) by their puzzles, so the test knows which passes ran.
class PassOps final : public ForwardingOps {
 public:
  PassOps(MatmulPrecision p, int64_t rows) : ForwardingOps(make_cpu_ops(p)), rows_(rows) {}
  int64_t no_grad_chunk_rows() const override { return rows_; }
  void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
              bool accumulate, bool x_bf16) override {
    ++linear_rows[M];
    ForwardingOps::linear(y, x, W, M, N, K, accumulate, x_bf16);
  }
  void gemm(const GemmArgs& g) override {
    if (g.stride_b > 0) ++gemm_puzzles[g.batch];
    ForwardingOps::gemm(g);
  }
  std::map<int64_t, int> linear_rows, gemm_puzzles;

 private:
  int64_t rows_;
};

struct PassRun {
  test::TinyRun r;
  std::map<int64_t, int> linear_rows, gemm_puzzles;
};

PassRun run(MatmulPrecision p, int64_t rows, const std::string& arch) {
  PassOps ops(p, rows);
  test::TinyRun r = test::tiny_training_run(ops, arch, 3);
  return {r, ops.linear_rows, ops.gemm_puzzles};
}

int count(const std::map<int64_t, int>& m, int64_t key) {
  const auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

TEST(NoGradPasses, split_batches_train_like_whole_ones) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16})
    for (const char* arch : test::kTinyArchs) {
      const bool trm = std::string(arch).find("trm") != std::string::npos;
      const bool mlp_t = std::string(arch).find("mlp_t") != std::string::npos;
      SCOPED_TRACE(std::string(matmul_precision_name(p)) + " " + arch);
      const PassRun w = run(p, 0, arch);
      const PassRun s = run(p, 300, arch);
      if (trm) {
        // 8 puzzles of 81 + 16 tokens, passes of at most 300 rows made even: SwiGLU passes of
        // 259, 259 and 258 rows; MLP-t passes of 3, 3 and 2 puzzles (300 rows hold 3). Two
        // linears or GEMMs each, in both layers of the (T − 1)·(n + 1) = 6 no-grad calls of each
        // of the 3 steps.
        const int layer_calls = 3 * 6 * 2 * 2;
        EXPECT_EQ(count(s.linear_rows, 259), layer_calls * 2);
        EXPECT_EQ(count(s.linear_rows, 258), layer_calls);
        EXPECT_EQ(count(s.gemm_puzzles, 3), mlp_t ? layer_calls * 2 : 0);
        EXPECT_EQ(count(s.gemm_puzzles, 2), mlp_t ? layer_calls : 0);
        EXPECT_EQ(count(w.linear_rows, 259) + count(w.linear_rows, 258), 0);
        EXPECT_EQ(count(w.gemm_puzzles, 3) + count(w.gemm_puzzles, 2), 0);
      } else {
        // HRM: 8 puzzles of 81 + 1 tokens, 656 rows: passes of 219, 219 and 218 rows.
        EXPECT_GT(count(s.linear_rows, 219), 0);
        EXPECT_GT(count(s.linear_rows, 218), 0);
        EXPECT_EQ(count(w.linear_rows, 219) + count(w.linear_rows, 218), 0);
      }
      const test::TinyRun &whole = w.r, &split = s.r;
      EXPECT_LT(test::relative_difference(split.logits, whole.logits), 1e-6);
      EXPECT_LT(test::relative_difference(split.params, whole.params), 1e-6);
      EXPECT_NEAR(split.first_loss, whole.first_loss, 1e-6 * std::abs(whole.first_loss));
    }
}

}  // namespace
}  // namespace ponder
