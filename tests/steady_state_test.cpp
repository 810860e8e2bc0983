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
      const RunConfig rc = test::tiny_run_config(arch);
      Model m(ops, rc.model);
      m.init_weights(3);
      Optimizer opt(m, rc.train);
      const int64_t B = 8;
      const Batch batch = test::tiny_batch(B);
      Carry carry = make_carry(m, B);
      int64_t step = 0;
      auto train = [&] {
        opt.zero_grad();
        StepOptions so;
        so.grad_scale = 1.0 / double(B);
        so.step = uint64_t(++step);
        StepResult r = supervision_step(m, carry, batch, so, opt.grads());
        opt.update(step, 10, carry.data.puzzle_ids, r.dprefix.data());
      };
      auto evaluate = [&] {
        StepOptions so;
        so.train = false;
        so.backward = false;
        supervision_step(m, carry, batch, so, nullptr);
      };
      train();
      evaluate();
      const int allocs = ops.calls["alloc"], frees = ops.calls["free"];
      const int gemms = ops.calls["gemm"] + ops.calls["linear"];
      for (int i = 0; i < 3; ++i) {
        train();
        evaluate();
      }
      EXPECT_EQ(ops.calls["alloc"], allocs);
      EXPECT_EQ(ops.calls["free"], frees);
      EXPECT_GT(ops.calls["gemm"] + ops.calls["linear"], gemms);  // the steps did run
    }
}

}  // namespace
}  // namespace ponder
