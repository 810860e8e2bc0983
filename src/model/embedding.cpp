// Input embedding (REFERENCE.md §3.6): the puzzle row, zero-padded to P prefix tokens, then the
// token embeddings; with learned positions x = 0.707106781·(x + pos); everything times √D.
#include <cmath>

#include "model/layers.h"

namespace ponder {

namespace {
constexpr float kPosScale = 0.707106781f;  // the reference's literal, not 1/√2 to full precision
float embed_scale(int64_t D) { return float(std::sqrt(double(D))); }
}  // namespace

void embedding_forward(Ops& ops, const Dims& d, const ModelParams& w, const float* prefix,
                       const int32_t* tokens, float* x) {
  ops.embed(x, w.embed_tokens, tokens, prefix, d.ndim, w.embed_pos, kPosScale, embed_scale(d.D),
            d.B, d.L, d.P, d.D);
}

void embedding_backward(Ops& ops, const Dims& d, ModelParams& g, const int32_t* tokens,
                        const float* dx, float* dprefix) {
  ops.embed_backward(g.embed_tokens, d.ndim > 0 ? dprefix : nullptr, g.embed_pos, dx, tokens,
                     d.V, d.ndim, kPosScale, embed_scale(d.D), d.B, d.L, d.P, d.D);
}

}  // namespace ponder
