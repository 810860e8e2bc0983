// Once warm, a supervision step asks the backend for no memory (Ops::alloc) — training (forward,
// backward, optimizer) or evaluation alike: every buffer a step needs is sized on its first use and
// reused. An allocation inside the step costs a cudaMalloc on a GPU and would keep the recursion
// from being captured as a CUDA graph; on the CPU it is page faults on fresh memory.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "ops/forwarding_ops.h"
#include "tiny_run.h"

namespace ponder {
namespace {

class CountingOps final : public ForwardingOps {
 public:
  explicit CountingOps(MatmulPrecision p) : ForwardingOps(make_cpu_ops(p)) {}
  std::map<std::string, int> calls;

 private:
  void before(const char* op) override { ++calls[op]; }
};

TEST(SteadyState, warm_steps_allocate_no_device_memory) {
  for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16})
    for (const char* arch : test::kTinyArchs) {
      SCOPED_TRACE(std::string(matmul_precision_name(p)) + " " + arch);
      CountingOps ops(p);
      test::TinyModel tm(ops, arch);
      tm.train_step(1, 10);  // warm-up: buffers are sized on their first use
      tm.eval_step();
      const int allocs = ops.calls["alloc"], frees = ops.calls["free"];
      const int gemms = ops.calls["gemm"] + ops.calls["linear"];
      for (int64_t step = 2; step <= 4; ++step) {
        tm.train_step(step, 10);
        tm.eval_step();
      }
      EXPECT_EQ(ops.calls["alloc"], allocs);
      EXPECT_EQ(ops.calls["free"], frees);
      EXPECT_GT(ops.calls["gemm"] + ops.calls["linear"], gemms);  // the steps did run
    }
}

}  // namespace
}  // namespace ponder
