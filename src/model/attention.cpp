// Self-attention sublayer: qkv_proj, RoPE on Q and K, non-causal softmax attention (scale
// 1/√hd), o_proj. No biases, no mask: padding and the zero prefix tokens are attended to.
#include <cmath>

#include "model/layers.h"

namespace ponder {

void attention_forward(Ops& ops, const Dims& d, const BlockParams& w, const Rope& rope,
                       const float* h, BlockActs& a, float* o) {
  const int64_t T = d.T(), D = d.D;
  ops.linear(a.qkv, h, w.qkv, T, 3 * D, D, false, false);
  if (rope.cos) ops.rope(a.qkv, rope.cos, rope.sin, d.B, d.S, d.H, d.hd);
  ops.attention(a.attn, a.lse, a.qkv, d.B, d.S, d.H, d.hd, 1.0f / std::sqrt(float(d.hd)));
  ops.linear(o, a.attn, w.o, T, D, D, false, false);
}

void attention_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g,
                        const Rope& rope, const float* h, const BlockActs& a, const float* d_o,
                        float* dh, BackwardScratch& s) {
  const int64_t T = d.T(), D = d.D;
  ops.linear_backward_weight(g.o, d_o, a.attn, T, D, D, false, false);
  ops.linear_backward_input(s.dmix, d_o, w.o, T, D, D, false, false);
  ops.attention_backward(s.dqkv, s.dmix, a.qkv, a.attn, a.lse, d.B, d.S, d.H, d.hd,
                         1.0f / std::sqrt(float(d.hd)));
  if (rope.cos) ops.rope_backward(s.dqkv, rope.cos, rope.sin, d.B, d.S, d.H, d.hd);
  ops.linear_backward_weight(g.qkv, s.dqkv, h, T, 3 * D, D, false, false);
  ops.linear_backward_input(dh, s.dqkv, w.qkv, T, 3 * D, D, true, false);
}

}  // namespace ponder
