#include "model/params.h"

#include <cmath>

#include "core/error.h"

namespace ponder {

ParamLayout::ParamLayout(const ModelConfig& c) {
  const int64_t D = c.hidden_size, V = c.vocab_size, S = c.seq_total();
  const int64_t I = c.mlp_inter(), It = c.mlp_t_inter();
  const double s_D = 1.0 / std::sqrt(double(D));
  // Registration order of the reference modules: embed_tokens, lm_head, q_head, (embed_pos),
  // then H_level (HRM) and L_level.
  add("embed_tokens.embedding_weight", {V, D}, s_D);
  add("lm_head.weight", {V, D}, s_D);
  add("q_head.weight", {2, D}, 0.0, 0.0f);
  add("q_head.bias", {2}, 0.0, -5.0f);
  if (c.pos_encodings == PosEncoding::Learned) add("embed_pos.embedding_weight", {S, D}, s_D);
  auto add_level = [&](const std::string& level, int layers) {
    for (int i = 0; i < layers; ++i) {
      const std::string p = level + ".layers." + std::to_string(i) + ".";
      if (c.mlp_t) {
        add(p + "mlp_t.gate_up_proj.weight", {2 * It, S}, 1.0 / std::sqrt(double(S)));
        add(p + "mlp_t.down_proj.weight", {S, It}, 1.0 / std::sqrt(double(It)));
      } else {
        add(p + "self_attn.qkv_proj.weight", {3 * D, D}, s_D);
        add(p + "self_attn.o_proj.weight", {D, D}, s_D);
      }
      add(p + "mlp.gate_up_proj.weight", {2 * I, D}, s_D);
      add(p + "mlp.down_proj.weight", {D, I}, 1.0 / std::sqrt(double(I)));
    }
  };
  if (c.has_H_net()) add_level("H_level", c.H_layers);
  add_level("L_level", c.L_layers);
}

void ParamLayout::add(std::string name, Shape shape, double init_std, float init_value) {
  ParamInfo p;
  p.name = std::move(name);
  p.numel = size_t(shape_numel(shape));
  p.shape = std::move(shape);
  p.offset = total_;
  p.init_std = init_std;
  p.init_value = init_value;
  total_ += (p.numel + 15) / 16 * 16;
  params_.push_back(std::move(p));
}

size_t ParamLayout::count() const {
  size_t n = 0;
  for (const auto& p : params_) n += p.numel;
  return n;
}

const ParamInfo* ParamLayout::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

ModelParams bind_params(const ModelConfig& c, const ParamLayout& layout, float* base) {
  auto at = [&](const std::string& name) -> float* {
    const ParamInfo* p = layout.find(name);
    PONDER_CHECK(p, "internal: parameter '", name, "' missing from the layout");
    return base + p->offset;
  };
  ModelParams m;
  m.embed_tokens = at("embed_tokens.embedding_weight");
  m.lm_head = at("lm_head.weight");
  m.q_head_w = at("q_head.weight");
  m.q_head_b = at("q_head.bias");
  if (c.pos_encodings == PosEncoding::Learned) m.embed_pos = at("embed_pos.embedding_weight");
  auto level = [&](const std::string& name, int layers) {
    std::vector<BlockParams> blocks(static_cast<size_t>(layers));
    for (int i = 0; i < layers; ++i) {
      const std::string p = name + ".layers." + std::to_string(i) + ".";
      BlockParams& b = blocks[size_t(i)];
      if (c.mlp_t) {
        b.mlp_t_gate_up = at(p + "mlp_t.gate_up_proj.weight");
        b.mlp_t_down = at(p + "mlp_t.down_proj.weight");
      } else {
        b.qkv = at(p + "self_attn.qkv_proj.weight");
        b.o = at(p + "self_attn.o_proj.weight");
      }
      b.gate_up = at(p + "mlp.gate_up_proj.weight");
      b.down = at(p + "mlp.down_proj.weight");
    }
    return blocks;
  };
  if (c.has_H_net()) m.H_blocks = level("H_level", c.H_layers);
  m.L_blocks = level("L_level", c.L_layers);
  return m;
}

}  // namespace ponder
