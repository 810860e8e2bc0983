// GEMMs on the CPU. Linear layers run as oneDNN matmuls whose weights are reordered once into
// the layout the kernel prefers ("pre-packed"), which measured 5–20% faster than plain-layout
// weights here and avoids oneDNN's collapse at N = 3072 (docs/PERF.md). A weight has one packed
// copy per layout, shared by its matmuls at every row count and refreshed lazily after
// weights_changed(). The linear layers' weight gradients are oneDNN matmuls too, with the
// activation operand packed on the fly (weight_gradient). In fp32, batches of products summed
// into one C (MLP-t's weight gradients) are oneDNN matmuls as well; every other GEMM goes through
// dnnl_sgemm.
//
// In bf16 (MatmulPrecision::BF16) the activations are rounded into bf16 staging buffers, the
// packed weights are bf16, and every GEMM — linear layers, their weight gradients, the batched
// token-mixing GEMMs of MLP-t — is a bf16 × bf16 → fp32 oneDNN matmul, which oneDNN runs on AMX
// where the CPU has it (2–4× the fp32 FMA rate, docs/PERF.md v0.2), else on AVX512-BF16 dot
// products (1.9× on Zen 5, v0.13). Attention's per-head products stay fp32.
// An operand that its producer already wrote in bf16 (Ops::bf16_operands: SwiGLU's output and
// gradient) is used in place where it is dense.
#include <omp.h>

#include <cstdlib>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/cpu/cpu_ops.h"

namespace ponder {

const char* matmul_precision_name(MatmulPrecision p) {
  return p == MatmulPrecision::BF16 ? "bf16" : "fp32";
}

const char* cpu_matmul_isa() {
  using isa = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case isa::avx512_core_amx:
      return "avx512_core_amx";
    case isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case isa::avx512_core:
      return "avx512_core";
    case isa::avx2_vnni:
      return "avx2_vnni";
    case isa::avx2:
      return "avx2";
    case isa::avx:
      return "avx";
    case isa::sse41:
      return "sse41";
    default:
      return "other";
  }
}

// oneDNN's ISA values nest as bit sets, so later AMX variants contain these bits.
bool cpu_has_amx() {
  const auto amx = unsigned(dnnl::cpu_isa::avx512_core_amx);
  return (unsigned(dnnl::get_effective_cpu_isa()) & amx) == amx;
}

namespace {
enum class Role : int { Forward, BackwardInput };
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

inline uint16_t as_bf16(float f) {
  return float_to_bf16(f);
}
inline uint16_t as_bf16(uint16_t h) {
  return h;
}

// bf16 copies of the rows × cols matrices X[b] (row stride ld, `stride` apart; fp32, or already
// bf16), made dense: row r of X[b] goes to row (b, r) of a [batch, rows, cols] array.
template <class In>
void to_bf16(uint16_t* dst, const In* x, int64_t batch, int64_t stride, int64_t rows, int64_t cols,
             int64_t ld) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      const In* in = x + b * stride + r * ld;
      uint16_t* out = dst + (b * rows + r) * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) out[j] = as_bf16(in[j]);
    }
}

// The oneDNN descriptor of op(X) [batch, rows, cols] for X stored with its rows `ld` apart and
// its batch items `stride` apart: a transposed operand is described by its strides, not moved.
dnnl::memory::desc operand_desc(dt type, int64_t batch, int64_t rows, int64_t cols, bool trans,
                                int64_t ld, int64_t stride) {
  const dnnl::memory::dims strides =
      trans ? dnnl::memory::dims{stride, 1, ld} : dnnl::memory::dims{stride, ld, 1};
  return dnnl::memory::desc({batch, rows, cols}, type, strides);
}
// The attributes of a matmul computing C = alpha·A·B + beta·C.
dnnl::primitive_attr scaled_sum(float alpha, float beta) {
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  return attr;
}
// Whether oneDNN picked its reference kernel, orders of magnitude slower than its optimised ones.
bool is_reference(const char* impl_info) {
  return std::string_view(impl_info).substr(0, 3) == "ref";
}
// op(X) converted densely in its stored layout.
dnnl::memory::desc dense_bf16(int64_t batch, int64_t rows, int64_t cols, bool trans) {
  return operand_desc(dt::bf16, batch, rows, cols, trans, trans ? rows : cols, rows * cols);
}
}  // namespace

struct CpuOps::Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  MatmulPrecision precision;
  dt operand = precision == MatmulPrecision::BF16 ? dt::bf16 : dt::f32;
  // Staging for the activation operands (bf16 copies; packed weight-gradient operands); grown
  // once to the largest GEMM, then reused. Up to tens of MB, so from cpu_alloc, on huge pages.
  struct Staging {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    size_t bytes = 0;
    void* at_least(size_t n) {
      if (bytes < n) {
        data.reset();  // the old contents are not needed: release before taking the larger one
        data.reset(cpu_alloc(n));
        bytes = n;
      }
      return data.get();
    }
  };
  Staging a16, b16;

  explicit Dnnl(MatmulPrecision p) : precision(p) {}
  bool bf16() const { return precision == MatmulPrecision::BF16; }

  // The matrices X of to_bf16 as a GEMM's bf16 operand in to_bf16's layout: X itself when it
  // holds bf16 values laid out so already (is_bf16), else a copy in the staging buffer `v`.
  void* bf16_operand_data(Staging& v, const float* x, bool is_bf16, int64_t batch, int64_t stride,
                          int64_t rows, int64_t cols, int64_t ld) {
    const auto* x16 = reinterpret_cast<const uint16_t*>(x);
    if (is_bf16 && ld == cols && (batch == 1 || stride == rows * cols))
      return const_cast<uint16_t*>(x16);
    auto* dst = static_cast<uint16_t*>(v.at_least(size_t(batch * rows * cols) * sizeof(uint16_t)));
    if (is_bf16)
      to_bf16(dst, x16, batch, stride, rows, cols, ld);
    else
      to_bf16(dst, x, batch, stride, rows, cols, ld);
    return dst;
  }

  // A weight in the layout its matmuls read (and in their operand type). The matmuls of every row
  // count M — a pass of a no-grad sublayer, its last shorter pass, the full batch — share one copy
  // where oneDNN asks for the same layout, so a weight is packed once per optimizer step and a
  // pass never reads a copy that went cold since the last step.
  struct Packed {
    dnnl::memory plain;  // a view of the parameter in place
    dnnl::memory data;
    dnnl::reorder pack;
    bool fresh = false;
  };
  // by weight address and role; a deque, so Entry's pointers stay valid as copies are added
  std::map<std::pair<const float*, int>, std::deque<Packed>> packed;

  struct Entry {
    dnnl::matmul prim;
    Packed* weights;
  };
  // key: weight address, M, N, K, role, accumulate
  std::map<std::tuple<const float*, int64_t, int64_t, int64_t, int, bool>, Entry> cache;

  Entry& entry(const float* W, int64_t M, int64_t N, int64_t K, Role role, bool accumulate) {
    auto key = std::make_tuple(W, M, N, K, int(role), accumulate);
    auto it = cache.find(key);
    if (it == cache.end()) {
      dnnl::memory::desc src({M, K}, operand, tag::ab);
      dnnl::memory::desc any({K, N}, operand, tag::any);
      dnnl::memory::desc dst({M, N}, dt::f32, tag::ab);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst),
                                      scaled_sum(1.0f, accumulate ? 1.0f : 0.0f), engine);
      it = cache.emplace(key, Entry{dnnl::matmul(pd), &packed_copy(W, K, N, role, pd)}).first;
    }
    Packed& p = *it->second.weights;
    if (!p.fresh) {
      p.pack.execute(stream, p.plain, p.data);
      p.fresh = true;
    }
    return it->second;
  }

  Packed& packed_copy(const float* W, int64_t K, int64_t N, Role role,
                      const dnnl::matmul::primitive_desc& pd) {
    std::deque<Packed>& copies = packed[{W, int(role)}];
    for (Packed& p : copies)
      if (p.data.get_desc() == pd.weights_desc()) return p;
    // Forward multiplies by Wᵀ with W stored [N, K]: the [K, N] operand has strides (1, K),
    // i.e. tag ba. The input gradient multiplies by W itself: [K=N_w, N=K_w], tag ab.
    dnnl::memory::desc plain({K, N}, dt::f32, role == Role::Forward ? tag::ba : tag::ab);
    Packed& p = copies.emplace_back();
    p.plain = dnnl::memory(plain, engine, const_cast<float*>(W));
    p.data = dnnl::memory(pd.weights_desc(), engine);
    p.pack = dnnl::reorder(p.plain, p.data);
    return p;
  }

  void run(Entry& e, const float* x, bool x_bf16, float* y, int64_t M, int64_t K, int64_t N) {
    PONDER_CHECK(bf16() || !x_bf16, "internal: a bf16 operand in fp32 matmuls");
    void* src_data =
        bf16() ? bf16_operand_data(a16, x, x_bf16, 1, 0, M, K, K) : const_cast<float*>(x);
    dnnl::memory src({{M, K}, operand, tag::ab}, engine, src_data);
    dnnl::memory dst({{M, N}, dt::f32, tag::ab}, engine, y);
    e.prim.execute(stream,
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.weights->data}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }

  // C = alpha·A·B + beta·C as a oneDNN matmul, created once per layout. `reference`: oneDNN has
  // only its reference kernel for the layout, orders of magnitude slower than its optimised ones.
  struct Matmul {
    dnnl::memory::desc a, b, c;
    float alpha, beta;
    dnnl::matmul prim;
    bool reference;
  };
  std::vector<Matmul> matmuls;

  const Matmul& matmul(const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                       const dnnl::memory::desc& c, float alpha, float beta) {
    for (const Matmul& m : matmuls)
      if (m.a == a && m.b == b && m.c == c && m.alpha == alpha && m.beta == beta) return m;
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), scaled_sum(alpha, beta), engine);
    return matmuls.emplace_back(
        Matmul{a, b, c, alpha, beta, dnnl::matmul(pd), is_reference(pd.impl_info_str())});
  }

  void execute(const Matmul& mm, const dnnl::memory::desc& a, const void* A,
               const dnnl::memory::desc& b, const void* B, const dnnl::memory::desc& c, float* C) {
    dnnl::memory am(a, engine, const_cast<void*>(A)), bm(b, engine, const_cast<void*>(B)),
        cm(c, engine, C);
    mm.prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
  }

  // An fp32 GEMM as oneDNN matmuls (its brgemm kernels), one product after another; false where
  // oneDNN has no optimised matmul for the layout. Measured faster than dnnl_sgemm on MLP-t's
  // weight gradients, batches accumulating into one C (~15%, docs/PERF.md v0.11), as on the linear
  // layers' (v0.7). Only those use it: a batch of distinct products runs whole products on each
  // thread (CpuOps::gemm), where dnnl_sgemm is faster.
  bool gemm_f32(const GemmArgs& g) {
    PONDER_CHECK(!g.a_bf16 && !g.b_bf16, "internal: bf16 operands in fp32 GEMMs");
    const auto a =
        operand_desc(dt::f32, 1, g.M, g.K, g.trans_a, g.lda, g.lda * (g.trans_a ? g.K : g.M));
    const auto b =
        operand_desc(dt::f32, 1, g.K, g.N, g.trans_b, g.ldb, g.ldb * (g.trans_b ? g.N : g.K));
    const dnnl::memory::desc c({1, g.M, g.N}, dt::f32, {g.M * g.ldc, g.ldc, 1});
    const Matmul& mm = matmul(a, b, c, g.alpha, g.beta);
    if (mm.reference) return false;
    for (int64_t i = 0; i < g.batch; ++i)
      execute(mm, a, g.A + i * g.stride_a, b, g.B + i * g.stride_b, c, g.C + i * g.stride_c);
    return true;
  }

  // bf16 batched GEMM: C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b]. The operands are converted
  // densely in their stored layout (once when broadcast) and a transpose is left to the
  // descriptor's strides. A batch accumulating into one C (stride_c 0, beta 1; MLP-t's weight
  // gradients) runs its products one after another into C: 4–22% faster than one GEMM over
  // K·batch, whose operands had to be interleaved into a second copy (docs/PERF.md v0.14).
  void gemm_bf16(const GemmArgs& g) {
    const bool reduce = g.batch > 1 && g.stride_c == 0;
    PONDER_CHECK(!reduce || g.beta == 1.0f,
                 "internal: a batch accumulating into one C needs beta 1");
    const int64_t ba = g.stride_a ? g.batch : 1, bb = g.stride_b ? g.batch : 1;
    const int64_t a_rows = g.trans_a ? g.K : g.M, a_cols = g.trans_a ? g.M : g.K;
    const int64_t b_rows = g.trans_b ? g.N : g.K, b_cols = g.trans_b ? g.K : g.N;
    const auto* A16 = static_cast<const uint16_t*>(
        bf16_operand_data(a16, g.A, g.a_bf16, ba, g.stride_a, a_rows, a_cols, g.lda));
    const auto* B16 = static_cast<const uint16_t*>(
        bf16_operand_data(b16, g.B, g.b_bf16, bb, g.stride_b, b_rows, b_cols, g.ldb));
    const int64_t n = reduce ? 1 : g.batch;  // items per matmul call
    const dnnl::memory::desc a = dense_bf16(reduce ? 1 : ba, g.M, g.K, g.trans_a);
    const dnnl::memory::desc b = dense_bf16(reduce ? 1 : bb, g.K, g.N, g.trans_b);
    const int64_t stride_c = n == 1 ? g.M * g.ldc : g.stride_c;
    const dnnl::memory::desc c({n, g.M, g.N}, dt::f32, {stride_c, g.ldc, 1});
    const Matmul& mm = matmul(a, b, c, g.alpha, g.beta);
    for (int64_t i = 0; i < g.batch; i += n)
      execute(mm, a, A16 + (ba > 1 ? i * a_rows * a_cols : 0), b,
              B16 + (bb > 1 ? i * b_rows * b_cols : 0), c, g.C);
  }

  // dW[N,K] += dy[M,N]ᵀ·x[M,K], the linear layers' weight gradients, as a oneDNN matmul whose x
  // operand is reordered (and in bf16 rounded) straight into the blocked layout its kernel reads,
  // instead of taken plain and re-blocked inside the kernel: 5–15% faster in both precisions
  // (docs/PERF.md v0.14). dy is taken as it is (fp32), or as for any bf16 GEMM. False where oneDNN
  // has only reference kernels for it.
  struct WeightGrad {
    dnnl::matmul prim;
    dnnl::reorder pack;
    dnnl::memory::desc dy, x, packed, dw;
    bool reference;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, bool>, WeightGrad> weight_grads;

  bool weight_gradient(float* dW, const float* dy, const float* x, int64_t M, int64_t N, int64_t K,
                       bool dy_bf16, bool x_bf16) {
    auto key = std::make_tuple(M, N, K, dy_bf16, x_bf16);
    auto it = weight_grads.find(key);
    if (it == weight_grads.end()) {
      WeightGrad w;
      w.dy = dnnl::memory::desc({N, M}, operand, {1, N});  // dyᵀ: dense [M, N] read transposed
      w.x = dnnl::memory::desc({M, K}, x_bf16 ? dt::bf16 : dt::f32, tag::ab);
      w.dw = dnnl::memory::desc({N, K}, dt::f32, tag::ab);
      const dnnl::memory::desc any({M, K}, operand, tag::any);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(w.dy, any, w.dw), scaled_sum(1.0f, 1.0f),
                                      engine);
      w.packed = pd.weights_desc();
      dnnl::reorder::primitive_desc rd(engine, w.x, engine, w.packed);
      w.reference = is_reference(pd.impl_info_str()) || is_reference(rd.impl_info_str());
      w.prim = dnnl::matmul(pd);
      w.pack = dnnl::reorder(rd);
      it = weight_grads.emplace(key, std::move(w)).first;
    }
    WeightGrad& w = it->second;
    PONDER_CHECK(bf16() || (!dy_bf16 && !x_bf16), "internal: bf16 operands in fp32 GEMMs");
    if (w.reference) return false;
    void* dy_data =
        bf16() ? bf16_operand_data(a16, dy, dy_bf16, 1, 0, M, N, N) : const_cast<float*>(dy);
    dnnl::memory xm(w.x, engine, const_cast<float*>(x)),
        packed(w.packed, engine, b16.at_least(w.packed.get_size())), dym(w.dy, engine, dy_data),
        dwm(w.dw, engine, dW);
    w.pack.execute(stream, xm, packed);
    w.prim.execute(stream, {{DNNL_ARG_SRC, dym}, {DNNL_ARG_WEIGHTS, packed}, {DNNL_ARG_DST, dwm}});
    stream.wait();
    return true;
  }
};

CpuOps::CpuOps(MatmulPrecision precision) : dnnl_(std::make_unique<Dnnl>(precision)) {}
CpuOps::~CpuOps() = default;

std::unique_ptr<Ops> make_cpu_ops(MatmulPrecision precision) {
  return std::make_unique<CpuOps>(precision);
}

void CpuOps::gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  PONDER_CHECK(dnnl_->bf16() || (!g.a_bf16 && !g.b_bf16), "internal: bf16 operands in fp32 GEMMs");
  if (dnnl_->bf16() && g.K > 0) return dnnl_->gemm_bf16(g);
  if (g.batch > 1 && g.stride_c == 0 && g.K > 0 && dnnl_->gemm_f32(g)) return;
  auto product = [&g](int64_t b) {
    return dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.M, g.N, g.K, g.alpha,
                      g.A + b * g.stride_a, g.lda, g.B + b * g.stride_b, g.ldb, g.beta,
                      g.C + b * g.stride_c, g.ldc);
  };
  // A batch of distinct products (MLP-t's, 1024×512×97 and the like) runs whole products on each
  // thread, where oneDNN, called inside the parallel region, runs single-threaded: 2–25% faster
  // than splitting each small product over the threads (docs/PERF.md v0.6). A batch accumulating
  // into one C keeps its order.
  if (g.stride_c != 0 && g.batch >= 4 * int64_t(omp_get_max_threads())) {
    int failed = 0;
#pragma omp parallel for schedule(static) reduction(| : failed)
    for (int64_t b = 0; b < g.batch; ++b) failed |= product(b) != dnnl_success;
    PONDER_CHECK(!failed, "dnnl_sgemm failed in a batch of ", g.batch, " products");
    return;
  }
  for (int64_t b = 0; b < g.batch; ++b) {
    const dnnl_status_t st = product(b);
    PONDER_CHECK(st == dnnl_success, "dnnl_sgemm failed with status ", int(st));
  }
}

void CpuOps::linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
                    bool accumulate, bool x_bf16) {
  if (M == 0) return;
  auto& e = dnnl_->entry(W, M, N, K, Role::Forward, accumulate);
  dnnl_->run(e, x, x_bf16, y, M, K, N);
}

void CpuOps::linear_backward_input(float* dx, const float* dy, const float* W, int64_t M, int64_t N,
                                   int64_t K, bool accumulate, bool dy_bf16) {
  if (M == 0) return;
  auto& e = dnnl_->entry(W, M, K, N, Role::BackwardInput, accumulate);
  dnnl_->run(e, dy, dy_bf16, dx, M, N, K);
}

void CpuOps::linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M,
                                    int64_t N, int64_t K, bool dy_bf16, bool x_bf16) {
  if (M == 0 || dnnl_->weight_gradient(dW, dy, x, M, N, K, dy_bf16, x_bf16)) return;
  gemm({.trans_a = true,
        .M = N,
        .N = K,
        .K = M,
        .beta = 1.0f,
        .A = dy,
        .lda = N,
        .B = x,
        .ldb = K,
        .C = dW,
        .ldc = K,
        .a_bf16 = dy_bf16,
        .b_bf16 = x_bf16});
}

// With bf16 operands the AMX GEMMs outrun memory, and a SwiGLU intermediate that goes out to DRAM
// and back costs more than the GEMMs around it: passes of at most 384 token rows (MLP-t: 3 Sudoku
// puzzles of 97 tokens) keep it in cache (docs/PERF.md v0.3). fp32 GEMMs run at the FMA rate, and
// there the smaller GEMMs of such passes measured ~5–10% slower.
int64_t CpuOps::no_grad_chunk_rows() const { return dnnl_->bf16() ? 384 : 0; }

bool CpuOps::bf16_operands() const {
  return dnnl_->bf16();
}

void CpuOps::weights_changed() {
  for (auto& [key, copies] : dnnl_->packed)
    for (auto& p : copies) p.fresh = false;
}

}  // namespace ponder
