// A forward whose intermediates are not kept runs its SwiGLU and MLP-t sublayers in passes of
// Ops::no_grad_chunk_rows() token rows (the CPU's bf16 backend does, to keep them in cache). The
// passes must compute what one whole-batch pass computes: a few training steps (whose first
// cycles are no-grad forwards) with passes that split the batch unevenly agree with unsplit ones.
#include <gtest/gtest.h>

#include "ops/forwarding_ops.h"
#include "tiny_run.h"

namespace ponder {
namespace {

class PassOps final : public ForwardingOps {
 public:
  PassOps(MatmulPrecision p, int64_t rows) : ForwardingOps(make_cpu_ops(p)), rows_(rows) {}
  int64_t no_grad_chunk_rows() const override { return rows_; }

 private:
  int64_t rows_;
};

test::TinyRun run(MatmulPrecision p, int64_t rows, const std::string& arch) {
  PassOps ops(p, rows);
  return test::tiny_training_run(ops, arch, 3);
}

TEST(NoGradPasses, split_batches_train_like_whole_ones) {
  const char* archs[] = {
      R"({"name": "trm", "hidden_size": 64, "num_heads": 2, "H_cycles": 3, "L_cycles": 2,
          "mlp_t": true, "puzzle_emb_ndim": 64})",
      R"({"name": "trm", "hidden_size": 64, "num_heads": 2, "H_cycles": 3, "L_cycles": 2,
          "puzzle_emb_ndim": 64})"};
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16})
    for (const char* arch : archs) {
      const test::TinyRun whole = run(p, 0, arch);
      // 8 puzzles of 81 + 16 tokens: MLP-t passes of one puzzle; SwiGLU passes of 100 rows
      // with a tail of 76.
      const test::TinyRun split = run(p, 100, arch);
      SCOPED_TRACE(std::string(matmul_precision_name(p)) + " " + arch);
      EXPECT_LT(test::relative_difference(split.logits, whole.logits), 1e-6);
      EXPECT_LT(test::relative_difference(split.params, whole.params), 1e-6);
      EXPECT_NEAR(split.first_loss, whole.first_loss, 1e-6 * std::abs(whole.first_loss));
    }
}

}  // namespace
}  // namespace ponder
