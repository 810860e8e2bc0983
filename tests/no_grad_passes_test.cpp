// A forward whose intermediates are not kept runs its SwiGLU and MLP-t sublayers in passes of
// Ops::no_grad_chunk_rows() token rows (the CPU's bf16 backend does, to keep them in cache). The
// passes must compute what one whole-batch pass computes: a few training steps (whose first
// cycles are no-grad forwards) with passes that split the batch unevenly agree with unsplit ones,
// for TRM-MLP, TRM-Att and HRM.
#include <gtest/gtest.h>

#include "ops/forwarding_ops.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ponder {
namespace {

// Asks for passes of `rows` and counts the linears of exactly that many rows, the shorter tail
// passes and the single-puzzle GEMMs that such passes make, so the test knows that they ran.
class PassOps final : public ForwardingOps {
 public:
  PassOps(MatmulPrecision p, int64_t rows) : ForwardingOps(make_cpu_ops(p)), rows_(rows) {}
  int64_t no_grad_chunk_rows() const override { return rows_; }
  void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
              bool accumulate, bool x_bf16) override {
    full += M == rows_;
    tail += M < rows_;
    ForwardingOps::linear(y, x, W, M, N, K, accumulate, x_bf16);
  }
  void gemm(const GemmArgs& g) override {
    one_puzzle += g.batch == 1 && g.stride_b > 0;
    ForwardingOps::gemm(g);
  }
  int full = 0, tail = 0, one_puzzle = 0;

 private:
  int64_t rows_;
};

struct PassRun {
  test::TinyRun r;
  int full, tail, one_puzzle;
};

PassRun run(MatmulPrecision p, int64_t rows, const std::string& arch) {
  PassOps ops(p, rows);
  test::TinyRun r = test::tiny_training_run(ops, arch, 3);
  return {r, ops.full, ops.tail, ops.one_puzzle};
}

TEST(NoGradPasses, split_batches_train_like_whole_ones) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16})
    for (const char* arch : test::kTinyArchs) {
      const bool trm = std::string(arch).find("trm") != std::string::npos;
      const bool mlp_t = std::string(arch).find("mlp_t") != std::string::npos;
      SCOPED_TRACE(std::string(matmul_precision_name(p)) + " " + arch);
      const PassRun w = run(p, 0, arch);
      EXPECT_EQ(w.full + w.tail + w.one_puzzle, 0);
      const PassRun s = run(p, 100, arch);
      if (trm) {
        // 8 puzzles of 81 + 16 tokens: MLP-t passes of one puzzle; SwiGLU passes of 100 rows
        // with a tail of 76, two linears or GEMMs each, in both layers of the (T − 1)·(n + 1) =
        // 6 no-grad calls of each of the 3 steps.
        const int layer_calls = 3 * 6 * 2 * 2;
        EXPECT_EQ(s.full, layer_calls * 7);
        EXPECT_EQ(s.tail, layer_calls);
        EXPECT_EQ(s.one_puzzle, mlp_t ? layer_calls * 8 : 0);
      } else {
        EXPECT_GT(s.full, 0);
        EXPECT_GT(s.tail, 0);
      }
      const test::TinyRun &whole = w.r, &split = s.r;
      EXPECT_LT(test::relative_difference(split.logits, whole.logits), 1e-6);
      EXPECT_LT(test::relative_difference(split.params, whole.params), 1e-6);
      EXPECT_NEAR(split.first_loss, whole.first_loss, 1e-6 * std::abs(whole.first_loss));
    }
}

}  // namespace
}  // namespace ponder
