// GEMMs on the CPU. Linear layers run as oneDNN matmuls whose weights are reordered once into
// the layout the kernel prefers ("pre-packed"), which measured 5–20% faster than plain-layout
// weights here and avoids oneDNN's collapse at N = 3072 (docs/PERF.md). Packed copies are
// refreshed lazily after weights_changed(). Everything else goes through dnnl_sgemm.
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"
#include "ops/cpu/cpu_ops.h"

namespace ponder {

namespace {
enum class Role : int { Forward, BackwardInput };
}

struct CpuOps::Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};

  struct Entry {
    dnnl::matmul prim;
    dnnl::memory packed;   // the weight in the primitive's preferred layout
    dnnl::memory plain;    // a view of the parameter in place
    dnnl::reorder pack;
    bool fresh = false;
  };
  // key: weight address, M, N, K, role, accumulate
  std::map<std::tuple<const float*, int64_t, int64_t, int64_t, int, bool>, Entry> cache;

  Entry& entry(const float* W, int64_t M, int64_t N, int64_t K, Role role, bool accumulate) {
    auto key = std::make_tuple(W, M, N, K, int(role), accumulate);
    auto it = cache.find(key);
    if (it == cache.end()) {
      using tag = dnnl::memory::format_tag;
      using dt = dnnl::memory::data_type;
      dnnl::memory::desc src({M, K}, dt::f32, tag::ab);
      dnnl::memory::desc any({K, N}, dt::f32, tag::any);
      dnnl::memory::desc dst({M, N}, dt::f32, tag::ab);
      // Forward multiplies by Wᵀ with W stored [N, K]: the [K, N] operand has strides (1, K),
      // i.e. tag ba. The input gradient multiplies by W itself: [K=N_w, N=K_w], tag ab.
      dnnl::memory::desc plain({K, N}, dt::f32, role == Role::Forward ? tag::ba : tag::ab);
      dnnl::primitive_attr attr;
      if (accumulate) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
      }
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), attr, engine);
      Entry e;
      e.prim = dnnl::matmul(pd);
      e.packed = dnnl::memory(pd.weights_desc(), engine);
      e.plain = dnnl::memory(plain, engine, const_cast<float*>(W));
      e.pack = dnnl::reorder(e.plain, e.packed);
      it = cache.emplace(key, std::move(e)).first;
    }
    Entry& e = it->second;
    if (!e.fresh) {
      e.pack.execute(stream, e.plain, e.packed);
      e.fresh = true;
    }
    return e;
  }

  void run(Entry& e, const float* x, float* y, int64_t M, int64_t K, int64_t N) {
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    dnnl::memory src({{M, K}, dt::f32, tag::ab}, engine, const_cast<float*>(x));
    dnnl::memory dst({{M, N}, dt::f32, tag::ab}, engine, y);
    e.prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.packed}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }
};

CpuOps::CpuOps() : dnnl_(std::make_unique<Dnnl>()) {}
CpuOps::~CpuOps() = default;

std::unique_ptr<Ops> make_cpu_ops() { return std::make_unique<CpuOps>(); }

void CpuOps::gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  for (int64_t b = 0; b < g.batch; ++b) {
    dnnl_status_t st = dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', g.M, g.N, g.K,
                                  g.alpha, g.A + b * g.stride_a, g.lda, g.B + b * g.stride_b,
                                  g.ldb, g.beta, g.C + b * g.stride_c, g.ldc);
    PONDER_CHECK(st == dnnl_success, "dnnl_sgemm failed with status ", int(st));
  }
}

void CpuOps::linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
                    bool accumulate) {
  if (M == 0) return;
  auto& e = dnnl_->entry(W, M, N, K, Role::Forward, accumulate);
  dnnl_->run(e, x, y, M, K, N);
}

void CpuOps::linear_backward_input(float* dx, const float* dy, const float* W, int64_t M,
                                   int64_t N, int64_t K, bool accumulate) {
  if (M == 0) return;
  auto& e = dnnl_->entry(W, M, K, N, Role::BackwardInput, accumulate);
  dnnl_->run(e, dy, dx, M, N, K);
}

void CpuOps::linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M,
                                    int64_t N, int64_t K) {
  if (M == 0) return;
  gemm({.trans_a = true, .M = N, .N = K, .K = M, .beta = 1.0f, .A = dy, .lda = N, .B = x,
        .ldb = K, .C = dW, .ldc = K});
}

void CpuOps::weights_changed() {
  for (auto& [key, e] : dnnl_->cache) e.fresh = false;
}

}  // namespace ponder
