// Once warm, a supervision step asks the backend for no memory (Ops::alloc) — training (forward,
// backward, optimizer) or evaluation alike: every buffer a step needs is sized on its first use and
// reused. An allocation inside the step costs a cudaMalloc on a GPU and would keep the recursion
// from being captured as a CUDA graph; on the CPU it is page faults on fresh memory. And the CPU's
// buffers are laid out for huge pages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
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

// The CPU backend's buffers come zeroed; those of 4 MB and more start on a 2 MB boundary, so that
// the huge pages it asks the kernel for (MADV_HUGEPAGE) cover them whole (docs/PERF.md v0.13).
TEST(CpuAlloc, large_buffers_start_on_huge_page_boundaries_zeroed) {
  std::unique_ptr<Ops> ops = make_cpu_ops();
  for (size_t bytes : {size_t(100), size_t(3) << 20, (size_t(9) << 20) + 5}) {
    SCOPED_TRACE(bytes);
    auto* p = static_cast<unsigned char*>(ops->alloc(bytes));
    const uintptr_t align = bytes >= (size_t(4) << 20) ? uintptr_t(2) << 20 : 64;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
    EXPECT_EQ(std::count(p, p + bytes, 0), std::ptrdiff_t(bytes));
    ops->free(p);
  }
}

}  // namespace
}  // namespace ponder
