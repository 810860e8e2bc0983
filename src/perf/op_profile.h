// Where a step's time goes, op by op: a backend wrapper that waits for every op to finish and adds
// its wall time to a row per op kind and shape (`ponder bench --profile`).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/forwarding_ops.h"

namespace ponder {

struct OpTime {
  std::string op;    // the Ops method, with the GEMM shape (M×N×K, ×batch) for the matmuls
  double calls = 0;  // per step, a mean: ops such as the carry's row resets vary with halting
  double seconds = 0;
  double flops = 0;  // matmul FLOPs of these calls (0 for other ops)
};

class ProfileOps final : public ForwardingOps {
 public:
  explicit ProfileOps(std::unique_ptr<Ops> inner) : ForwardingOps(std::move(inner)) {}

  void gemm(const GemmArgs& g) override;
  void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
              bool accumulate, bool x_bf16) override;
  void linear_backward_input(float* dx, const float* dy, const float* W, int64_t M, int64_t N,
                             int64_t K, bool accumulate, bool dy_bf16) override;
  void linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M, int64_t N,
                              int64_t K, bool dy_bf16, bool x_bf16) override;

  // Forgets what was recorded so far (warm-up runs).
  void reset() { rows_.clear(); }
  // The rows recorded since the last reset, slowest first.
  std::vector<OpTime> rows() const;

 private:
  using Clock = std::chrono::steady_clock;
  void before(const char* op) override;
  void after(const char* op) override;
  // Labels the next op with its shape and FLOPs.
  void label(const char* op, int64_t M, int64_t N, int64_t K, int64_t batch);

  std::map<std::string, OpTime> rows_;  // by op label (rows() copies it into OpTime::op)
  std::string label_, current_;         // the next op's label; the running op's row
  double flops_ = 0, current_flops_ = 0;
  Clock::time_point t0_;
};

}  // namespace ponder
