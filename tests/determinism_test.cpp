// Training is bit-identical for the same seed and thread count, and agrees within float
// tolerance across thread counts (GEMM kernels may split their sums differently), in both GEMM
// precisions.
#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

#include "test_util.h"
#include "tiny_run.h"

namespace ponder {
namespace {

// Parameters and puzzle table after a few training steps of a small TRM (attention).
std::vector<float> train_params(int threads, MatmulPrecision precision) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto ops = make_cpu_ops(precision);
  test::TinyRun r = test::tiny_training_run(
      *ops,
      R"({"name": "trm", "hidden_size": 64, "num_heads": 2, "H_cycles": 2, "L_cycles": 2,
          "puzzle_emb_ndim": 64})",
      4);
  omp_set_num_threads(saved);
  r.params.insert(r.params.end(), r.table.begin(), r.table.end());
  return r.params;
}

TEST(Determinism, same_threads_bit_identical_and_across_threads_within_tolerance) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
    const std::vector<float> one = train_params(1, p), two = train_params(2, p);
    EXPECT_EQ(train_params(2, p), two) << matmul_precision_name(p);
    EXPECT_EQ(train_params(1, p), one) << matmul_precision_name(p);
    EXPECT_LT(test::relative_difference(one, two), 1e-5) << matmul_precision_name(p);
  }
}

}  // namespace
}  // namespace ponder
