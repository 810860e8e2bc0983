// An Ops that hands every op to another backend, bracketing each call with before()/after()
// hooks: the base of backends that watch or restrict another one (the op profiler of
// `ponder bench --profile`, and the tests' memory-guarding backend).
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "ops/ops.h"

namespace ponder {

class ForwardingOps : public Ops {
 private:
  // before(op), the op, then after(op) once it has returned (an op that throws skips after()).
  template <class F>
  auto call(const char* op, F&& f) {
    before(op);
    if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
      f();
      after(op);
    } else {
      auto r = f();
      after(op);
      return r;
    }
  }

 public:
  explicit ForwardingOps(std::unique_ptr<Ops> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return inner_->name(); }
  bool host_memory() const override { return inner_->host_memory(); }
  int64_t no_grad_chunk_rows() const override { return inner_->no_grad_chunk_rows(); }
  bool bf16_operands() const override { return inner_->bf16_operands(); }

  void* alloc(size_t bytes) override {
    return call("alloc", [&] { return inner_->alloc(bytes); });
  }
  void free(void* p) override {
    call("free", [&] { inner_->free(p); });
  }
  void upload(void* dst, const void* host_src, size_t bytes) override {
    call("upload", [&] { inner_->upload(dst, host_src, bytes); });
  }
  void download(void* host_dst, const void* src, size_t bytes) override {
    call("download", [&] { inner_->download(host_dst, src, bytes); });
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    call("copy", [&] { inner_->copy(dst, src, bytes); });
  }
  void synchronize() override {
    call("synchronize", [&] { inner_->synchronize(); });
  }
  void fill(float* x, float value, size_t n) override {
    call("fill", [&] { inner_->fill(x, value, n); });
  }
  void tile(float* dst, const float* src, size_t count, size_t n) override {
    call("tile", [&] { inner_->tile(dst, src, count, n); });
  }
  void gemm(const GemmArgs& g) override {
    call("gemm", [&] { inner_->gemm(g); });
  }
  void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
              bool accumulate, bool x_bf16) override {
    call("linear", [&] { inner_->linear(y, x, W, M, N, K, accumulate, x_bf16); });
  }
  void linear_backward_input(float* dx, const float* dy, const float* W, int64_t M, int64_t N,
                             int64_t K, bool accumulate, bool dy_bf16) override {
    call("linear_backward_input",
         [&] { inner_->linear_backward_input(dx, dy, W, M, N, K, accumulate, dy_bf16); });
  }
  void linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M, int64_t N,
                              int64_t K, bool dy_bf16, bool x_bf16) override {
    call("linear_backward_weight",
         [&] { inner_->linear_backward_weight(dW, dy, x, M, N, K, dy_bf16, x_bf16); });
  }
  void weights_changed() override {
    call("weights_changed", [&] { inner_->weights_changed(); });
  }
  void add(float* out, const float* a, const float* b, size_t n) override {
    call("add", [&] { inner_->add(out, a, b, n); });
  }
  void add_inplace(float* a, const float* b, size_t n) override {
    call("add_inplace", [&] { inner_->add_inplace(a, b, n); });
  }
  void scale(float* x, float s, size_t n) override {
    call("scale", [&] { inner_->scale(x, s, n); });
  }
  void add_bias(float* out, const float* bias, int64_t rows, int64_t n) override {
    call("add_bias", [&] { inner_->add_bias(out, bias, rows, n); });
  }
  void add_column_sums(float* out, const float* in, int64_t rows, int64_t n) override {
    call("add_column_sums", [&] { inner_->add_column_sums(out, in, rows, n); });
  }
  void add_rmsnorm_rows(float* out, float* rstd, const float* a, const float* b, int64_t rows,
                        int64_t C, float eps) override {
    call("add_rmsnorm_rows", [&] { inner_->add_rmsnorm_rows(out, rstd, a, b, rows, C, eps); });
  }
  void rmsnorm_rows_backward(float* dv, const float* dout, const float* out, const float* rstd,
                             int64_t rows, int64_t C) override {
    call("rmsnorm_rows_backward",
         [&] { inner_->rmsnorm_rows_backward(dv, dout, out, rstd, rows, C); });
  }
  void add_rmsnorm_cols(float* out, float* rstd, const float* a, const float* b, int64_t batch,
                        int64_t S, int64_t C, float eps) override {
    call("add_rmsnorm_cols", [&] { inner_->add_rmsnorm_cols(out, rstd, a, b, batch, S, C, eps); });
  }
  void rmsnorm_cols_backward(float* dv, const float* dout, const float* out, const float* rstd,
                             int64_t batch, int64_t S, int64_t C) override {
    call("rmsnorm_cols_backward",
         [&] { inner_->rmsnorm_cols_backward(dv, dout, out, rstd, batch, S, C); });
  }
  void swiglu(float* act, const float* gate_up, int64_t rows, int64_t width,
              bool out_bf16) override {
    call("swiglu", [&] { inner_->swiglu(act, gate_up, rows, width, out_bf16); });
  }
  void swiglu_backward(float* dgate_up, const float* dact, const float* gate_up, int64_t rows,
                       int64_t width, bool out_bf16) override {
    call("swiglu_backward",
         [&] { inner_->swiglu_backward(dgate_up, dact, gate_up, rows, width, out_bf16); });
  }
  void rope(float* qkv, const float* cos, const float* sin, int64_t B, int64_t S, int64_t H,
            int64_t hd) override {
    call("rope", [&] { inner_->rope(qkv, cos, sin, B, S, H, hd); });
  }
  void rope_backward(float* dqkv, const float* cos, const float* sin, int64_t B, int64_t S,
                     int64_t H, int64_t hd) override {
    call("rope_backward", [&] { inner_->rope_backward(dqkv, cos, sin, B, S, H, hd); });
  }
  void attention(float* out, float* lse, const float* qkv, int64_t B, int64_t S, int64_t H,
                 int64_t hd, float scale) override {
    call("attention", [&] { inner_->attention(out, lse, qkv, B, S, H, hd, scale); });
  }
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                          const float* lse, int64_t B, int64_t S, int64_t H, int64_t hd,
                          float scale) override {
    call("attention_backward",
         [&] { inner_->attention_backward(dqkv, dout, qkv, out, lse, B, S, H, hd, scale); });
  }
  void gather_rows(float* out, const float* table, const int32_t* ids, int64_t n,
                   int64_t width) override {
    call("gather_rows", [&] { inner_->gather_rows(out, table, ids, n, width); });
  }
  void embed(float* x, const float* table, const int32_t* tokens, const float* prefix, int64_t ndim,
             const float* pos, float pos_scale, float scale, int64_t B, int64_t L, int64_t P,
             int64_t D) override {
    call("embed",
         [&] { inner_->embed(x, table, tokens, prefix, ndim, pos, pos_scale, scale, B, L, P, D); });
  }
  void embed_backward(float* dtable, float* dprefix, float* dpos, const float* dx,
                      const int32_t* tokens, int64_t V, int64_t ndim, float pos_scale, float scale,
                      int64_t B, int64_t L, int64_t P, int64_t D) override {
    call("embed_backward", [&] {
      inner_->embed_backward(dtable, dprefix, dpos, dx, tokens, V, ndim, pos_scale, scale, B, L, P,
                             D);
    });
  }
  void adam_atan2(float* p, const float* g, float* m, float* v, size_t n, float step_size,
                  float wd_alpha, float one_minus_beta1, float one_minus_beta2,
                  float bc2_sqrt) override {
    call("adam_atan2", [&] {
      inner_->adam_atan2(p, g, m, v, n, step_size, wd_alpha, one_minus_beta1, one_minus_beta2,
                         bc2_sqrt);
    });
  }
  void ema_update(float* shadow, const float* p, size_t n, double rate) override {
    call("ema_update", [&] { inner_->ema_update(shadow, p, n, rate); });
  }
  void signsgd_rows(float* table, const int32_t* ids, const float* grad, int64_t n, int64_t width,
                    double lr, double wd) override {
    call("signsgd_rows", [&] { inner_->signsgd_rows(table, ids, grad, n, width, lr, wd); });
  }

 protected:
  // Called around every op with its name (the name of the Ops method); after() only when the op
  // returned.
  virtual void before(const char* op) { (void)op; }
  virtual void after(const char* op) { (void)op; }
  Ops& inner() { return *inner_; }

 private:
  std::unique_ptr<Ops> inner_;
};

}  // namespace ponder
