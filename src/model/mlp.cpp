// SwiGLU, over channels (the block's MLP) and over the sequence (TRM-MLP's token mixer, MLP-t).
// MLP-t is the reference's SwiGLU applied to the transposed activation [B, D, S]; here the
// weights multiply from the left, W·h_b with h_b = [S, D], so no transpose is ever materialised.
// Where the backend's GEMMs round their operands to bf16 anyway (Ops::bf16_operands), SwiGLU's
// output and its backward's gradient, which only GEMMs read, are written in bf16 (`o16`).
#include "model/layers.h"

namespace ponder {

void swiglu_forward(Ops& ops, const Dims& d, const BlockParams& w, const float* h, BlockActs& a,
                    float* m) {
  const int64_t T = d.T(), step = d.pass_rows();
  const bool o16 = ops.bf16_operands();
  for (int64_t r = 0; r < T; r += step) {
    const int64_t n = std::min(step, T - r);
    ops.linear(a.gu, h + r * d.D, w.gate_up, n, 2 * d.I, d.D, false, false);
    ops.swiglu(a.act, a.gu, n, d.I, o16);
    ops.linear(m + r * d.D, a.act, w.down, n, d.D, d.I, false, o16);
  }
}

void swiglu_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g, const float* h,
                     const BlockActs& a, const float* dm, float* dh, BackwardScratch& s) {
  const int64_t T = d.T();
  const bool o16 = ops.bf16_operands();
  ops.linear_backward_weight(g.down, dm, a.act, T, d.D, d.I, false, o16);
  ops.linear_backward_input(s.dact, dm, w.down, T, d.D, d.I, false, false);
  ops.swiglu_backward(s.dgu, s.dact, a.gu, T, d.I, o16);
  ops.linear_backward_weight(g.gate_up, s.dgu, h, T, 2 * d.I, d.D, o16, false);
  ops.linear_backward_input(dh, s.dgu, w.gate_up, T, 2 * d.I, d.D, true, o16);
}

void mlp_t_forward(Ops& ops, const Dims& d, const BlockParams& w, const float* h, BlockActs& a,
                   float* m) {
  const int64_t S = d.S, D = d.D, It = d.It;
  const int64_t step = d.pass_items();
  const bool o16 = ops.bf16_operands();
  for (int64_t b = 0; b < d.B; b += step) {
    const int64_t n = std::min(step, d.B - b);
    // gt_b [2It, D] = W_gu [2It, S] · h_b [S, D]
    ops.gemm({.M = 2 * It, .N = D, .K = S, .A = w.mlp_t_gate_up, .lda = S, .B = h + b * S * D,
              .ldb = D, .stride_b = S * D, .C = a.gt, .ldc = D, .stride_c = 2 * It * D,
              .batch = n});
    ops.swiglu(a.at, a.gt, n, It * D, o16);
    // m_b [S, D] = W_down [S, It] · at_b [It, D]
    ops.gemm({.M = S, .N = D, .K = It, .A = w.mlp_t_down, .lda = It, .B = a.at, .ldb = D,
              .stride_b = It * D, .C = m + b * S * D, .ldc = D, .stride_c = S * D, .batch = n,
              .b_bf16 = o16});
  }
}

void mlp_t_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g, const float* h,
                    const BlockActs& a, const float* dm, float* dh, BackwardScratch& s) {
  const int64_t S = d.S, D = d.D, It = d.It;
  const bool o16 = ops.bf16_operands();
  // dW_down += Σ_b dm_b · at_bᵀ (batch items accumulate into one C, in order)
  ops.gemm({.trans_b = true, .M = S, .N = It, .K = D, .beta = 1.0f, .A = dm, .lda = D,
            .stride_a = S * D, .B = a.at, .ldb = D, .stride_b = It * D, .C = g.mlp_t_down,
            .ldc = It, .batch = d.B, .b_bf16 = o16});
  // dat_b = W_downᵀ · dm_b
  ops.gemm({.trans_a = true, .M = It, .N = D, .K = S, .A = w.mlp_t_down, .lda = It, .B = dm,
            .ldb = D, .stride_b = S * D, .C = s.dact, .ldc = D, .stride_c = It * D, .batch = d.B});
  ops.swiglu_backward(s.dgu, s.dact, a.gt, d.B, It * D, o16);
  // dW_gu += Σ_b dgt_b · h_bᵀ
  ops.gemm({.trans_b = true, .M = 2 * It, .N = S, .K = D, .beta = 1.0f, .A = s.dgu, .lda = D,
            .stride_a = 2 * It * D, .B = h, .ldb = D, .stride_b = S * D, .C = g.mlp_t_gate_up,
            .ldc = S, .batch = d.B, .a_bf16 = o16});
  // dh_b += W_guᵀ · dgt_b
  ops.gemm({.trans_a = true, .M = S, .N = D, .K = 2 * It, .beta = 1.0f, .A = w.mlp_t_gate_up,
            .lda = S, .B = s.dgu, .ldb = D, .stride_b = 2 * It * D, .C = dh, .ldc = D,
            .stride_c = S * D, .batch = d.B, .b_bf16 = o16});
}

}  // namespace ponder
