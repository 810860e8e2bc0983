// The post-norm block shared by TRM and HRM:
//   h1 = rmsnorm(h + mix(h))     mix = attention, or MLP-t with the norm over the sequence axis
//   h2 = rmsnorm(h1 + swiglu(h1))
#include "model/layers.h"

namespace ponder {

void block_forward(Ops& ops, const Dims& d, const BlockParams& w, const Rope& rope,
                   const float* in, BlockActs& a, float* tmp) {
  if (d.mlp_t) {
    mlp_t_forward(ops, d, w, in, a, tmp);
    ops.add_rmsnorm_cols(a.h1, a.r1, in, tmp, d.B, d.S, d.D, d.eps);
  } else {
    attention_forward(ops, d, w, rope, in, a, tmp);
    ops.add_rmsnorm_rows(a.h1, a.r1, in, tmp, d.T(), d.D, d.eps);
  }
  swiglu_forward(ops, d, w, a.h1, a, tmp);
  ops.add_rmsnorm_rows(a.h2, a.r2, a.h1, tmp, d.T(), d.D, d.eps);
}

void block_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g,
                    const Rope& rope, const float* in, const BlockActs& a, const float* dout,
                    float* din, BackwardScratch& s) {
  // s.d1 = ∂/∂(h1 + m), then += the MLP's path: the full gradient of h1.
  ops.rmsnorm_rows_backward(s.d1, dout, a.h2, a.r2, d.T(), d.D);
  swiglu_backward(ops, d, w, g, a.h1, a, s.d1, s.d1, s);
  if (d.mlp_t) {
    ops.rmsnorm_cols_backward(din, s.d1, a.h1, a.r1, d.B, d.S, d.D);
    mlp_t_backward(ops, d, w, g, in, a, din, din, s);
  } else {
    ops.rmsnorm_rows_backward(din, s.d1, a.h1, a.r1, d.T(), d.D);
    attention_backward(ops, d, w, g, rope, in, a, din, din, s);
  }
}

}  // namespace ponder
