#include "perf/op_profile.h"

#include <algorithm>

namespace ponder {

void ProfileOps::label(const char* op, int64_t M, int64_t N, int64_t K, int64_t batch) {
  label_ = std::string(op) + " " + std::to_string(M) + "x" + std::to_string(N) + "x" +
           std::to_string(K) + (batch > 1 ? " x" + std::to_string(batch) : "");
  flops_ = 2.0 * double(M) * double(N) * double(K) * double(batch);
}

void ProfileOps::gemm(const GemmArgs& g) {
  label("gemm", g.M, g.N, g.K, g.batch);
  ForwardingOps::gemm(g);
}

void ProfileOps::linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
                        bool accumulate, bool x_bf16) {
  label("linear", M, N, K, 1);
  ForwardingOps::linear(y, x, W, M, N, K, accumulate, x_bf16);
}

void ProfileOps::linear_backward_input(float* dx, const float* dy, const float* W, int64_t M,
                                       int64_t N, int64_t K, bool accumulate, bool dy_bf16) {
  label("linear_backward_input", M, K, N, 1);
  ForwardingOps::linear_backward_input(dx, dy, W, M, N, K, accumulate, dy_bf16);
}

void ProfileOps::linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M,
                                        int64_t N, int64_t K, bool dy_bf16, bool x_bf16) {
  label("linear_backward_weight", N, K, M, 1);
  ForwardingOps::linear_backward_weight(dW, dy, x, M, N, K, dy_bf16, x_bf16);
}

// The label an override set belongs to this op alone, even if the op throws.
void ProfileOps::before(const char* op) {
  current_ = label_.empty() ? std::string(op) : std::move(label_);
  current_flops_ = flops_;
  label_.clear();
  flops_ = 0;
  t0_ = Clock::now();
}

void ProfileOps::after(const char*) {
  // Ops may run asynchronously (a GPU): the op's time is until the backend is idle again.
  inner().synchronize();
  OpTime& r = rows_[current_];
  r.calls += 1;
  r.seconds += std::chrono::duration<double>(Clock::now() - t0_).count();
  r.flops += current_flops_;
}

std::vector<OpTime> ProfileOps::rows() const {
  std::vector<OpTime> out;
  for (const auto& [key, r] : rows_) {
    out.push_back(r);
    out.back().op = key;
  }
  std::sort(out.begin(), out.end(),
            [](const OpTime& a, const OpTime& b) { return a.seconds > b.seconds; });
  return out;
}

}  // namespace ponder
