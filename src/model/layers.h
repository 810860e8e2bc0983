// The layers of the reasoning network, each as a forward that saves what its backward needs and a
// backward beside it (one file per family: embedding.cpp, attention.cpp, mlp.cpp, block.cpp,
// heads.cpp). Backward functions accumulate (+=) into parameter gradients. A sublayer backward
// adds its input gradient into `dh`, which may alias its output gradient (d_o / dm): that is read
// only before the final accumulation, so blocks chain without copies.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "model/params.h"
#include "ops/ops.h"

namespace ponder {

struct Dims {
  int64_t B = 0;   // batch rows
  int64_t S = 0;   // sequence incl. prefix
  int64_t D = 0;   // hidden
  int64_t H = 0;   // heads
  int64_t hd = 0;  // head dim
  int64_t I = 0;   // SwiGLU width over channels
  int64_t It = 0;  // SwiGLU width over the sequence (MLP-t)
  int64_t L = 0;   // grid tokens
  int64_t P = 0;   // prefix tokens
  int64_t V = 0;   // vocabulary
  int64_t ndim = 0;  // puzzle-embedding width
  float eps = 1e-5f;
  bool mlp_t = false;
  // Token rows per pass of a sublayer whose intermediates are not kept (Ops::no_grad_chunk_rows);
  // 0 in a forward that saves activations for the backward.
  int64_t chunk_rows = 0;
  int64_t T() const { return B * S; }  // token rows
  // Token rows per pass of the channel SwiGLU, and batch items per pass of MLP-t: the fewest
  // passes of at most chunk_rows, made equal, since a short last pass runs its GEMMs at about
  // half the rate (HRM's 1312 rows: 4 × 328, not 3 × 384 + 160).
  int64_t pass_rows() const { return even_pass(T(), chunk_rows); }
  int64_t pass_items() const {
    return B > 0 ? even_pass(B, chunk_rows > 0 ? std::max<int64_t>(chunk_rows / S, 1) : 0) : B;
  }
  static int64_t even_pass(int64_t n, int64_t most) {
    if (most <= 0 || most >= n) return n;
    const int64_t passes = (n + most - 1) / most;
    return (n + passes - 1) / passes;
  }
};

// What one block application keeps for its backward. Shapes per field; pointers not used by the
// block's variant stay null.
struct BlockActs {
  float* qkv = nullptr;   // (B·S, 3D) Q and K after RoPE    attention
  float* lse = nullptr;   // (B, H, S) softmax log-sum-exp    attention
  float* attn = nullptr;  // (B·S, D) attention output        attention
  float* gt = nullptr;    // (B, 2·It, D) token-mix gate/up   MLP-t
  float* at = nullptr;    // (B, It, D) silu(gate)·up         MLP-t
  float* h1 = nullptr;    // (B·S, D) after the mixer sublayer
  float* r1 = nullptr;    // (B·S) rstd, or (B, D) for MLP-t's norm over S
  float* gu = nullptr;    // (B·S, 2I) channel gate/up
  float* act = nullptr;   // (B·S, I)
  float* h2 = nullptr;    // (B·S, D) block output
  float* r2 = nullptr;    // (B·S)
};

// Scratch for backward passes, sized for the largest layer.
struct BackwardScratch {
  float* d1 = nullptr;    // (B·S, D)
  float* dmix = nullptr;  // (B·S, D)  attention output gradient
  float* dqkv = nullptr;  // (B·S, 3D)
  float* dgu = nullptr;   // max((B·S, 2I), (B, 2·It, D))
  float* dact = nullptr;  // max((B·S, I), (B, It, D))
};

struct Rope {
  const float* cos = nullptr;  // (S, hd), null without RoPE
  const float* sin = nullptr;
};

// ---- attention.cpp: h → o = o_proj(attention(rope(qkv_proj(h))))
void attention_forward(Ops& ops, const Dims& d, const BlockParams& w, const Rope& rope,
                       const float* h, BlockActs& a, float* o);
// dh += ∂o/∂h · d_o
void attention_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g,
                        const Rope& rope, const float* h, const BlockActs& a, const float* d_o,
                        float* dh, BackwardScratch& s);

// ---- mlp.cpp: SwiGLU over channels (h → m) and over the sequence, MLP-t (h → m). With
// d.chunk_rows set they run in passes that reuse the start of a.gu/a.act (a.gt/a.at), which then
// do not hold the whole batch's intermediates.
void swiglu_forward(Ops& ops, const Dims& d, const BlockParams& w, const float* h, BlockActs& a,
                    float* m);
void swiglu_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g, const float* h,
                     const BlockActs& a, const float* dm, float* dh, BackwardScratch& s);
void mlp_t_forward(Ops& ops, const Dims& d, const BlockParams& w, const float* h, BlockActs& a,
                   float* m);
void mlp_t_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g, const float* h,
                    const BlockActs& a, const float* dm, float* dh, BackwardScratch& s);

// ---- block.cpp: post-norm block, h2 = norm(h1 + mlp(h1)), h1 = norm(h + mix(h)).
// The output is a.h2. `in` may alias a.h2 (no-grad forwards reuse one set of buffers); `tmp` is
// (B·S, D) scratch.
void block_forward(Ops& ops, const Dims& d, const BlockParams& w, const Rope& rope,
                   const float* in, BlockActs& a, float* tmp);
// din = ∂h2/∂in · dout (written; din must not alias dout or s.d1).
void block_backward(Ops& ops, const Dims& d, const BlockParams& w, BlockParams& g,
                    const Rope& rope, const float* in, const BlockActs& a, const float* dout,
                    float* din, BackwardScratch& s);

// ---- embedding.cpp: x = (prefix ‖ embed_tokens[tokens]) (+ positions) · √D
void embedding_forward(Ops& ops, const Dims& d, const ModelParams& w, const float* prefix,
                       const int32_t* tokens, float* x);
void embedding_backward(Ops& ops, const Dims& d, ModelParams& g, const int32_t* tokens,
                        const float* dx, float* dprefix);

// ---- heads.cpp: logits (B, L, V) = lm_head(z_H)[:, P:], q (B, 2) = q_head(z_H[:, 0])
void heads_forward(Ops& ops, const Dims& d, const ModelParams& w, const float* zH, float* logits,
                   float* q);
// dzH written (prefix rows zero except row 0's q gradient).
void heads_backward(Ops& ops, const Dims& d, const ModelParams& w, ModelParams& g,
                    const float* zH, const float* dlogits, const float* dq, float* dzH);

}  // namespace ponder
