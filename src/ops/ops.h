// The backend-neutral op interface. The model and the trainer express every computation on
// activations and parameters through these calls; `cpu/` implements them with oneDNN and fused
// OpenMP loops, and a GPU backend implements the same signatures. Pointers passed to an op point
// to memory allocated by the same backend ("device memory"); host data crosses through upload()
// and download() only.
//
// Conventions: row-major; `rows × cols`; a gradient argument named d* is written (=) unless the
// op says it accumulates (+=). Weights follow PyTorch: a linear layer's W is [out, in], y = x·Wᵀ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace ponder {

// C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b] for b in [0, batch), where op(X) = X or Xᵀ.
// op(A) is M×K, op(B) is K×N, C is M×N; ld* are the row strides of the stored matrices and
// stride* the distances between consecutive batch items (0 broadcasts one matrix). a_bf16 / b_bf16:
// A / B hold bf16 values (see Ops::bf16_operands), with ld and stride counted in values.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* A = nullptr;
  int64_t lda = 0, stride_a = 0;
  const float* B = nullptr;
  int64_t ldb = 0, stride_b = 0;
  float* C = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
  bool a_bf16 = false, b_bf16 = false;
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual const char* name() const = 0;
  // Whether the host may read and write this backend's memory directly (the CPU's).
  virtual bool host_memory() const { return false; }
  // Token rows per pass that a forward whose intermediates are not kept (no gradient) should
  // take, so that a sublayer's wide intermediate (SwiGLU's gate/up) stays in cache between the
  // GEMM that writes it and the pass that reads it; 0: all rows at once (a GPU).
  virtual int64_t no_grad_chunk_rows() const { return 0; }
  // Whether the ops that produce a tensor only GEMMs read (SwiGLU's output and its backward's
  // gradient) may write it in bf16 — 2 bytes a value, in the same layout, in a buffer still sized
  // for fp32 — and the GEMMs take it so (the *_bf16 flags). True where the GEMMs round their
  // operands to bf16 anyway (the CPU's bf16 mode): the results are bit-identical, and a
  // conversion pass and half the bytes are saved.
  virtual bool bf16_operands() const { return false; }

  // ---- memory
  virtual void* alloc(size_t bytes) = 0;  // zero-filled
  virtual void free(void* p) = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // no overlap unless dst == src
  // Waits until every op issued so far has finished (ops may run asynchronously; for timing).
  virtual void synchronize() {}
  virtual void fill(float* x, float value, size_t n) = 0;
  // dst[i·n + j] = src[j] for i < count: broadcasts one vector over `count` rows.
  virtual void tile(float* dst, const float* src, size_t count, size_t n) = 0;

  // ---- dense algebra
  virtual void gemm(const GemmArgs& g) = 0;
  // y[M,N] (+)= x[M,K] · W[N,K]ᵀ. W is a parameter: the backend may keep a packed copy of it,
  // keyed by its address, until weights_changed() is called. The *_bf16 flags say which
  // activation operands hold bf16 values (bf16_operands()).
  virtual void linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
                      bool accumulate, bool x_bf16) = 0;
  // dx[M,K] (+)= dy[M,N] · W[N,K]
  virtual void linear_backward_input(float* dx, const float* dy, const float* W, int64_t M,
                                     int64_t N, int64_t K, bool accumulate, bool dy_bf16) = 0;
  // dW[N,K] += dy[M,N]ᵀ · x[M,K]
  virtual void linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M,
                                      int64_t N, int64_t K, bool dy_bf16, bool x_bf16) = 0;
  virtual void weights_changed() = 0;

  // ---- elementwise
  virtual void add(float* out, const float* a, const float* b, size_t n) = 0;  // out = a + b
  virtual void add_inplace(float* a, const float* b, size_t n) = 0;            // a += b
  virtual void scale(float* x, float s, size_t n) = 0;                         // x *= s
  // out[r, :] += bias[:] over `rows` rows of width n.
  virtual void add_bias(float* out, const float* bias, int64_t rows, int64_t n) = 0;
  // out[:] += Σ_r in[r, :]
  virtual void add_column_sums(float* out, const float* in, int64_t rows, int64_t n) = 0;

  // ---- RMSNorm without weight, computed in fp32: out = v · rsqrt(mean(v²) + eps), v = a + b
  // (b may be null). Rows variant normalises each of `rows` rows of length C and writes
  // rstd[rows]. Columns variant normalises along the middle axis of [batch, S, C] (over S, for
  // every column) and writes rstd[batch, C]. Backward takes the forward's output and rstd and
  // writes dv (the gradient of a and of b alike).
  virtual void add_rmsnorm_rows(float* out, float* rstd, const float* a, const float* b,
                                int64_t rows, int64_t C, float eps) = 0;
  virtual void rmsnorm_rows_backward(float* dv, const float* dout, const float* out,
                                     const float* rstd, int64_t rows, int64_t C) = 0;
  virtual void add_rmsnorm_cols(float* out, float* rstd, const float* a, const float* b,
                                int64_t batch, int64_t S, int64_t C, float eps) = 0;
  virtual void rmsnorm_cols_backward(float* dv, const float* dout, const float* out,
                                     const float* rstd, int64_t batch, int64_t S, int64_t C) = 0;

  // ---- SwiGLU: each row of gate_up holds [gate (width), up (width)]; act = silu(gate) · up.
  // out_bf16: act (dgate_up) is written in bf16, for GEMMs only (bf16_operands()).
  virtual void swiglu(float* act, const float* gate_up, int64_t rows, int64_t width,
                      bool out_bf16) = 0;
  virtual void swiglu_backward(float* dgate_up, const float* dact, const float* gate_up,
                               int64_t rows, int64_t width, bool out_bf16) = 0;

  // ---- attention over qkv [B, S, 3·H·hd] (Q heads, then K heads, then V heads).
  // RoPE (rotate-half) rotates Q and K in place with cos/sin [S, hd]; the backward rotates dQ
  // and dK back. Attention is non-causal softmax(scale·QKᵀ)·V, written head-major to
  // out [B, S, H·hd], with the row log-sum-exp saved in lse [B, H, S] for the backward, which
  // recomputes the probabilities instead of storing them.
  virtual void rope(float* qkv, const float* cos, const float* sin, int64_t B, int64_t S, int64_t H,
                    int64_t hd) = 0;
  virtual void rope_backward(float* dqkv, const float* cos, const float* sin, int64_t B, int64_t S,
                             int64_t H, int64_t hd) = 0;
  virtual void attention(float* out, float* lse, const float* qkv, int64_t B, int64_t S, int64_t H,
                         int64_t hd, float scale) = 0;
  virtual void attention_backward(float* dqkv, const float* dout, const float* qkv,
                                  const float* out, const float* lse, int64_t B, int64_t S,
                                  int64_t H, int64_t hd, float scale) = 0;

  // ---- embeddings
  // out[r, :] = table[ids[r], :] for r < n (ids are device int32, already range-checked).
  virtual void gather_rows(float* out, const float* table, const int32_t* ids, int64_t n,
                           int64_t width) = 0;
  // The input embedding x [B, S = P + L, D] (REFERENCE.md §3.6): the P prefix tokens hold
  // prefix[b, 0:ndim] zero-padded to P·D (prefix is null when P = 0), token l holds
  // table[tokens[b, l]]; then, with learned positions (pos non-null), x = pos_scale·(x + pos);
  // finally x *= scale.
  virtual void embed(float* x, const float* table, const int32_t* tokens, const float* prefix,
                     int64_t ndim, const float* pos, float pos_scale, float scale, int64_t B,
                     int64_t L, int64_t P, int64_t D) = 0;
  // Its backward: dtable [V, D] and dpos accumulate (+=), dprefix [B, ndim] is written.
  // Deterministic for any thread count.
  virtual void embed_backward(float* dtable, float* dprefix, float* dpos, const float* dx,
                              const int32_t* tokens, int64_t V, int64_t ndim, float pos_scale,
                              float scale, int64_t B, int64_t L, int64_t P, int64_t D) = 0;

  // ---- optimizers (one fused pass each)
  // AdamATan2 (REFERENCE.md §7.1): p = p·wd_alpha; m += (1−β1)(g − m); v += (1−β2)(g² − v);
  // p −= step_size · atan2(m, √v / bc2_sqrt).
  virtual void adam_atan2(float* p, const float* g, float* m, float* v, size_t n, float step_size,
                          float wd_alpha, float one_minus_beta1, float one_minus_beta2,
                          float bc2_sqrt) = 0;
  // shadow = (1 − rate)·p + rate·shadow
  virtual void ema_update(float* shadow, const float* p, size_t n, double rate) = 0;
  // For each r: row = table[ids[r]]; row = row·(1 − lr·wd) − lr·sign(grad[r]). ids are unique.
  virtual void signsgd_rows(float* table, const int32_t* ids, const float* grad, int64_t n,
                            int64_t width, double lr, double wd) = 0;
};

// What the GEMMs multiply. F32: fp32 operands. BF16: operands rounded to bf16 (nearest even), the
// products accumulated and written in fp32 — the reference's mixed precision at its matmuls, run on
// AMX / AVX512-BF16 where the CPU has them. Everything outside the GEMMs stays fp32 either way.
enum class MatmulPrecision { F32, BF16 };
const char* matmul_precision_name(MatmulPrecision p);

// The CPU backend (oneDNN + OpenMP), created once per process.
std::unique_ptr<Ops> make_cpu_ops(MatmulPrecision precision = MatmulPrecision::F32);

// The widest instruction set oneDNN's CPU kernels use here ("avx512_core_amx", …), and whether it
// has AMX, without which bf16 GEMMs run on AVX512-BF16: slower than fp32 ones where its dot
// products run at the FMA rate, faster where they run at twice it (perf/peak.h).
const char* cpu_matmul_isa();
bool cpu_has_amx();

// Where the ops run: the CPU, or one CUDA GPU (src/ops/cuda/, built when the CUDA toolkit is
// found at build time).
enum class Device { Cpu, Cuda };
// CUDA GPUs this process can use: 0 when ponder was built without CUDA, or the machine has no
// NVIDIA driver or GPU.
int cuda_device_count();
// The backend for `device`; `gpu` picks the CUDA device. Fails with a message saying what is
// missing when the GPU cannot be used.
std::unique_ptr<Ops> make_ops(Device device, MatmulPrecision precision = MatmulPrecision::F32,
                              int gpu = 0);

// An owning array in a backend's memory.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(Ops& ops, size_t n)
      : ops_(&ops), n_(n), p_(n ? static_cast<T*>(ops.alloc(n * sizeof(T))) : nullptr) {}
  ~DeviceArray() {
    if (p_) ops_->free(p_);
  }
  DeviceArray(DeviceArray&& o) noexcept { *this = std::move(o); }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      if (p_) ops_->free(p_);
      ops_ = o.ops_;
      n_ = o.n_;
      p_ = o.p_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  void upload(const T* host, size_t n) { ops_->upload(p_, host, n * sizeof(T)); }
  void download(T* host, size_t n) const { ops_->download(host, p_, n * sizeof(T)); }

 private:
  Ops* ops_ = nullptr;
  size_t n_ = 0;
  T* p_ = nullptr;
};

}  // namespace ponder
