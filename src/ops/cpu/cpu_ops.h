// The CPU backend: GEMMs through oneDNN (weights pre-packed once per optimizer step), everything
// else in fused OpenMP loops. Each kernel family lives in its own file: gemm.cpp, attention.cpp,
// kernels.cpp.
#pragma once

#include <map>
#include <memory>
#include <tuple>

#include "ops/ops.h"

namespace ponder {

// Zero-filled host memory for the CPU backend, released with std::free; buffers of 4 MB or more
// start on a 2 MB boundary and ask for transparent huge pages (kernels.cpp).
void* cpu_alloc(size_t bytes);

class CpuOps final : public Ops {
 public:
  explicit CpuOps(MatmulPrecision precision);
  ~CpuOps() override;
  const char* name() const override { return "cpu"; }
  bool host_memory() const override { return true; }
  int64_t no_grad_chunk_rows() const override;
  bool bf16_operands() const override;

  void* alloc(size_t bytes) override;
  void free(void* p) override;
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void fill(float* x, float value, size_t n) override;
  void tile(float* dst, const float* src, size_t count, size_t n) override;

  void gemm(const GemmArgs& g) override;
  void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
              bool accumulate, bool x_bf16) override;
  void linear_backward_input(float* dx, const float* dy, const float* W, int64_t M, int64_t N,
                             int64_t K, bool accumulate, bool dy_bf16) override;
  void linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M, int64_t N,
                              int64_t K, bool dy_bf16, bool x_bf16) override;
  void weights_changed() override;

  void add(float* out, const float* a, const float* b, size_t n) override;
  void add_inplace(float* a, const float* b, size_t n) override;
  void scale(float* x, float s, size_t n) override;
  void add_bias(float* out, const float* bias, int64_t rows, int64_t n) override;
  void add_column_sums(float* out, const float* in, int64_t rows, int64_t n) override;

  void add_rmsnorm_rows(float* out, float* rstd, const float* a, const float* b, int64_t rows,
                        int64_t C, float eps) override;
  void rmsnorm_rows_backward(float* dv, const float* dout, const float* out, const float* rstd,
                             int64_t rows, int64_t C) override;
  void add_rmsnorm_cols(float* out, float* rstd, const float* a, const float* b, int64_t batch,
                        int64_t S, int64_t C, float eps) override;
  void rmsnorm_cols_backward(float* dv, const float* dout, const float* out, const float* rstd,
                             int64_t batch, int64_t S, int64_t C) override;

  void swiglu(float* act, const float* gate_up, int64_t rows, int64_t width,
              bool out_bf16) override;
  void swiglu_backward(float* dgate_up, const float* dact, const float* gate_up, int64_t rows,
                       int64_t width, bool out_bf16) override;

  void rope(float* qkv, const float* cos, const float* sin, int64_t B, int64_t S, int64_t H,
            int64_t hd) override;
  void rope_backward(float* dqkv, const float* cos, const float* sin, int64_t B, int64_t S,
                     int64_t H, int64_t hd) override;
  void attention(float* out, float* lse, const float* qkv, int64_t B, int64_t S, int64_t H,
                 int64_t hd, float scale) override;
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                          const float* lse, int64_t B, int64_t S, int64_t H, int64_t hd,
                          float scale) override;

  void gather_rows(float* out, const float* table, const int32_t* ids, int64_t n,
                   int64_t width) override;
  void embed(float* x, const float* table, const int32_t* tokens, const float* prefix,
             int64_t ndim, const float* pos, float pos_scale, float scale, int64_t B, int64_t L,
             int64_t P, int64_t D) override;
  void embed_backward(float* dtable, float* dprefix, float* dpos, const float* dx,
                      const int32_t* tokens, int64_t V, int64_t ndim, float pos_scale,
                      float scale, int64_t B, int64_t L, int64_t P, int64_t D) override;

  void adam_atan2(float* p, const float* g, float* m, float* v, size_t n, float step_size,
                  float wd_alpha, float one_minus_beta1, float one_minus_beta2,
                  float bc2_sqrt) override;
  void ema_update(float* shadow, const float* p, size_t n, double rate) override;
  void signsgd_rows(float* table, const int32_t* ids, const float* grad, int64_t n, int64_t width,
                    double lr, double wd) override;

 private:
  struct Dnnl;  // oneDNN engine, stream, the packed-weight cache, bf16 staging (gemm.cpp)
  std::unique_ptr<Dnnl> dnnl_;
};

}  // namespace ponder
