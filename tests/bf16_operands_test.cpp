// With bf16 GEMMs the CPU backend lets SwiGLU write the tensors that only GEMMs read (its output
// and its backward's gradient) in bf16 (Ops::bf16_operands), saving the GEMMs a conversion pass.
// The GEMMs round their operands to bf16 anyway, so nothing may change: SwiGLU's bf16 output is
// its fp32 output rounded to nearest even, and training runs of TRM-MLP, TRM-Att and HRM give the
// same bits with and without bf16 operands. (gemm_test.cpp: the GEMMs themselves.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/forwarding_ops.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ponder {
namespace {

// The bf16 backend, with bf16 operands allowed or not, counting the ops that take or write them.
class OperandCount final : public ForwardingOps {
 public:
  explicit OperandCount(bool allow)
      : ForwardingOps(make_cpu_ops(MatmulPrecision::BF16)), allow_(allow) {}
  bool bf16_operands() const override { return allow_ && ForwardingOps::bf16_operands(); }
  void swiglu(float* act, const float* gate_up, int64_t rows, int64_t width,
              bool out_bf16) override {
    written += out_bf16;
    ForwardingOps::swiglu(act, gate_up, rows, width, out_bf16);
  }
  void swiglu_backward(float* dgate_up, const float* dact, const float* gate_up, int64_t rows,
                       int64_t width, bool out_bf16) override {
    written += out_bf16;
    ForwardingOps::swiglu_backward(dgate_up, dact, gate_up, rows, width, out_bf16);
  }
  void gemm(const GemmArgs& g) override {
    const bool bf16 = g.a_bf16 || g.b_bf16;
    read += bf16;
    read_into_one_c += bf16 && g.batch > 1 && g.stride_c == 0;
    ForwardingOps::gemm(g);
  }
  void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
              bool accumulate, bool x_bf16) override {
    read += x_bf16;
    ForwardingOps::linear(y, x, W, M, N, K, accumulate, x_bf16);
  }
  void linear_backward_input(float* dx, const float* dy, const float* W, int64_t M, int64_t N,
                             int64_t K, bool accumulate, bool dy_bf16) override {
    read += dy_bf16;
    ForwardingOps::linear_backward_input(dx, dy, W, M, N, K, accumulate, dy_bf16);
  }
  void linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M, int64_t N,
                              int64_t K, bool dy_bf16, bool x_bf16) override {
    read += dy_bf16 || x_bf16;
    ForwardingOps::linear_backward_weight(dW, dy, x, M, N, K, dy_bf16, x_bf16);
  }
  int written = 0, read = 0, read_into_one_c = 0;

 private:
  bool allow_;
};

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
  EXPECT_EQ(test::bf16_operand_values(act16, act.size()), rounded(act));
  ops->swiglu_backward(dgu.data(), dact.data(), gu.data(), rows, width, false);
  ops->swiglu_backward(dgu16.data(), dact.data(), gu.data(), rows, width, true);
  EXPECT_EQ(test::bf16_operand_values(dgu16, dgu.size()), rounded(dgu));

  // fp32 GEMMs would read such a buffer as garbage: the fp32 backend refuses to write it (and,
  // below, to read it).
  auto f32 = make_cpu_ops(MatmulPrecision::F32);
  EXPECT_THROW(f32->swiglu(act.data(), gu.data(), rows, width, true), Error);
  EXPECT_THROW(f32->swiglu_backward(dgu.data(), dact.data(), gu.data(), rows, width, true), Error);
}

TEST(Bf16Operands, training_gives_the_same_bits_with_and_without_them) {
  for (const char* arch : test::kTinyArchs) {
    SCOPED_TRACE(arch);
    const bool mlp_t = std::string(arch).find("mlp_t") != std::string::npos;
    OperandCount with(true), without(false);
    const test::TinyRun a = test::tiny_training_run(with, arch, 3);
    const test::TinyRun b = test::tiny_training_run(without, arch, 3);
    // The runs did differ in how: bf16 written and read (MLP-t's weight gradients too, through
    // their interleaving copy), or never.
    EXPECT_GT(with.written, 0);
    EXPECT_GT(with.read, with.written);
    EXPECT_EQ(with.read_into_one_c > 0, mlp_t);
    EXPECT_EQ(without.written + without.read, 0);
    // First-step gradients bit for bit (AdamATan2 would hide a last-bit gradient difference in
    // the parameters), then everything after three steps.
    EXPECT_EQ(a.first_loss, b.first_loss);
    EXPECT_EQ(a.logits, b.logits);
    EXPECT_EQ(a.grads, b.grads);
    EXPECT_EQ(a.dprefix, b.dprefix);
    EXPECT_EQ(a.params, b.params);
    EXPECT_EQ(a.table, b.table);
  }
}

TEST(Bf16Operands, fp32_gemms_refuse_them) {
  auto ops = make_cpu_ops(MatmulPrecision::F32);
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64);
  EXPECT_THROW(ops->gemm({.M = 4,
                          .N = 4,
                          .K = 4,
                          .A = a.data(),
                          .lda = 4,
                          .B = b.data(),
                          .ldb = 4,
                          .C = c.data(),
                          .ldc = 4,
                          .a_bf16 = true}),
               Error);
  EXPECT_THROW(ops->linear(c.data(), a.data(), b.data(), 4, 4, 4, false, true), Error);
  EXPECT_THROW(ops->linear_backward_input(c.data(), a.data(), b.data(), 4, 4, 4, false, true),
               Error);
  EXPECT_THROW(ops->linear_backward_weight(c.data(), a.data(), b.data(), 4, 4, 4, false, true),
               Error);
}

}  // namespace
}  // namespace ponder
