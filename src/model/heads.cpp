// Output heads: lm_head over the grid positions of z_H (the prefix is dropped) and q_head over
// its first position; q[:, 0] is q_halt, q[:, 1] q_continue.
#include "model/layers.h"

namespace ponder {

void heads_forward(Ops& ops, const Dims& d, const ModelParams& w, const float* zH, float* logits,
                   float* q) {
  const int64_t S = d.S, D = d.D, L = d.L, V = d.V;
  ops.gemm({.trans_b = true, .M = L, .N = V, .K = D, .A = zH + d.P * D, .lda = D,
            .stride_a = S * D, .B = w.lm_head, .ldb = D, .C = logits, .ldc = V, .stride_c = L * V,
            .batch = d.B});
  ops.gemm({.trans_b = true, .M = d.B, .N = 2, .K = D, .A = zH, .lda = S * D, .B = w.q_head_w,
            .ldb = D, .C = q, .ldc = 2});
  ops.add_bias(q, w.q_head_b, d.B, 2);
}

void heads_backward(Ops& ops, const Dims& d, const ModelParams& w, ModelParams& g,
                    const float* zH, const float* dlogits, const float* dq, float* dzH) {
  const int64_t S = d.S, D = d.D, L = d.L, V = d.V;
  ops.fill(dzH, 0.0f, size_t(d.B * S * D));
  ops.gemm({.M = L, .N = D, .K = V, .A = dlogits, .lda = V, .stride_a = L * V, .B = w.lm_head,
            .ldb = D, .C = dzH + d.P * D, .ldc = D, .stride_c = S * D, .batch = d.B});
  ops.gemm({.M = d.B, .N = D, .K = 2, .beta = 1.0f, .A = dq, .lda = 2, .B = w.q_head_w, .ldb = D,
            .C = dzH, .ldc = S * D});
  ops.gemm({.trans_a = true, .M = V, .N = D, .K = L, .beta = 1.0f, .A = dlogits, .lda = V,
            .stride_a = L * V, .B = zH + d.P * D, .ldb = D, .stride_b = S * D, .C = g.lm_head,
            .ldc = D, .batch = d.B});
  ops.gemm({.trans_a = true, .M = 2, .N = D, .K = d.B, .beta = 1.0f, .A = dq, .lda = 2, .B = zH,
            .ldb = S * D, .C = g.q_head_w, .ldc = D});
  ops.add_column_sums(g.q_head_b, dq, d.B, 2);
}

}  // namespace ponder
