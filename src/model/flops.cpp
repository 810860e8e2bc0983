#include "model/flops.h"

#include "model/model.h"

namespace ponder {

StepFlops count_step_flops(const ModelConfig& c, int64_t B) {
  const double S = c.seq_total(), D = c.hidden_size, I = c.mlp_inter(), L = c.seq_len,
               V = c.vocab_size, T = double(B) * S;
  StepFlops f;
  const double mlp = 2 * T * D * 2 * I + 2 * T * I * D;
  double mix, mix_bwd;
  if (c.mlp_t) {
    const double It = c.mlp_t_inter();
    mix = 2 * double(B) * (2 * It) * S * D + 2 * double(B) * S * It * D;
    mix_bwd = 2 * mix;
  } else {
    const double proj = 2 * T * D * 3 * D + 2 * T * D * D;
    const double att = 4 * double(B) * S * S * D;  // QKᵀ and P·V
    mix = proj + att;
    mix_bwd = 2 * proj + 2.5 * att;  // the backward recomputes QKᵀ: 5 products instead of 2
  }
  f.forward_block = mix + mlp;
  f.backward_block = mix_bwd + 2 * mlp;
  // The backward also multiplies dlogits by lm_head twice (dz_H and dW); counted with heads.
  f.heads = 2 * double(B) * L * D * V + 2 * double(B) * D * 2;
  const Schedule s = make_schedule(c);
  auto blocks = [&](const std::vector<NetCall>& calls) {
    double n = 0;
    for (const NetCall& k : calls) n += k.net == 0 ? c.L_layers : c.H_layers;
    return n;
  };
  const double ng = blocks(s.no_grad), g = blocks(s.grad);
  f.eval_step = (ng + g) * f.forward_block + f.heads;
  f.train_step = (ng + g) * f.forward_block + g * f.backward_block + 3 * f.heads;
  if (c.act_continue()) f.train_step += f.eval_step;  // the q_continue target's extra forward
  return f;
}

}  // namespace ponder
