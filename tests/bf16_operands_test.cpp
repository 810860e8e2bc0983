// With bf16 GEMMs the CPU backend lets SwiGLU write the tensors that only GEMMs read (its output
// and its backward's gradient) in bf16 (Ops::bf16_operands), saving the GEMMs a conversion pass.
// The GEMMs round their operands to bf16 anyway, so nothing may change: SwiGLU's bf16 output is
// its fp32 output rounded to nearest even, and training runs of TRM-MLP, TRM-Att and HRM give the
// same bits with and without bf16 operands. (gemm_test.cpp: the GEMMs themselves.)
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/forwarding_ops.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ponder {
namespace {

// The bf16 backend, with GEMM operands always in fp32.
class Fp32OperandOps final : public ForwardingOps {
 public:
  Fp32OperandOps() : ForwardingOps(make_cpu_ops(MatmulPrecision::BF16)) {}
  bool bf16_operands() const override { return false; }
};

// The bf16 values of the first n slots of buf, read as an op writing bf16 wrote them.
std::vector<float> bf16_values(const std::vector<float>& buf, size_t n) {
  std::vector<uint16_t> h(n);
  std::memcpy(h.data(), buf.data(), n * sizeof(uint16_t));
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(h[i]);
  return out;
}

std::vector<float> rounded(std::vector<float> x) {
  for (float& v : x) v = round_to_bf16(v);
  return x;
}

TEST(Bf16Operands, swiglu_writes_its_fp32_results_rounded_to_bf16) {
  auto ops = make_cpu_ops(MatmulPrecision::BF16);
  // Wide enough to catch the compiler rounding the two differently (it did, 1 value in ~10^5,
  // while it contracted multiply-adds implicitly; CMakeLists.txt).
  const int64_t rows = 97, width = 1536 + 5;
  const std::vector<float> gu = test::randn(size_t(rows * 2 * width), 2.0, 1),
                           dact = test::randn(size_t(rows * width), 1.0, 2);
  std::vector<float> act(size_t(rows * width)), act16 = act, dgu(gu.size()), dgu16 = dgu;
  ops->swiglu(act.data(), gu.data(), rows, width, false);
  ops->swiglu(act16.data(), gu.data(), rows, width, true);
  EXPECT_EQ(bf16_values(act16, act.size()), rounded(act));
  ops->swiglu_backward(dgu.data(), dact.data(), gu.data(), rows, width, false);
  ops->swiglu_backward(dgu16.data(), dact.data(), gu.data(), rows, width, true);
  EXPECT_EQ(bf16_values(dgu16, dgu.size()), rounded(dgu));

  // fp32 GEMMs would read such a buffer as garbage: the fp32 backend refuses to write it.
  auto f32 = make_cpu_ops(MatmulPrecision::F32);
  EXPECT_THROW(f32->swiglu(act.data(), gu.data(), rows, width, true), Error);
  EXPECT_THROW(f32->swiglu_backward(dgu.data(), dact.data(), gu.data(), rows, width, true), Error);
}

TEST(Bf16Operands, training_gives_the_same_bits_with_and_without_them) {
  for (const char* arch : test::kTinyArchs) {
    SCOPED_TRACE(arch);
    auto with = make_cpu_ops(MatmulPrecision::BF16);
    ASSERT_TRUE(with->bf16_operands());
    Fp32OperandOps without;
    const test::TinyRun a = test::tiny_training_run(*with, arch, 3);
    const test::TinyRun b = test::tiny_training_run(without, arch, 3);
    EXPECT_EQ(a.first_loss, b.first_loss);
    EXPECT_EQ(a.logits, b.logits);
    EXPECT_EQ(a.params, b.params);
    EXPECT_EQ(a.table, b.table);
  }
}

}  // namespace
}  // namespace ponder
