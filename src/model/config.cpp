#include "model/config.h"

#include <cmath>

#include "core/error.h"
#include "io/json_reader.h"

namespace ponder {

int swiglu_inter(double expansion, int h) {
  const int r = int(std::nearbyint(expansion * h * 2.0 / 3.0));
  return (r + 255) / 256 * 256;
}

int ModelConfig::prefix_len() const {
  if (puzzle_emb_ndim <= 0) return 0;
  const int ceil_len = (puzzle_emb_ndim + hidden_size - 1) / hidden_size;
  if (kind == ModelKind::HRM || puzzle_emb_len == 0) return ceil_len;
  return puzzle_emb_len;
}

int ModelConfig::mlp_inter() const { return swiglu_inter(expansion, hidden_size); }
int ModelConfig::mlp_t_inter() const { return swiglu_inter(expansion, seq_total()); }

const char* to_string(ModelKind k) { return k == ModelKind::TRM ? "trm" : "hrm"; }
const char* to_string(PosEncoding p) {
  return p == PosEncoding::Rope ? "rope" : p == PosEncoding::Learned ? "learned" : "none";
}
const char* to_string(LossType l) {
  return l == LossType::Stablemax ? "stablemax_cross_entropy" : "softmax_cross_entropy";
}

namespace {

ModelKind parse_kind(const std::string& s, const std::string& field) {
  // The reference's module paths are accepted too, so an all_config.yaml converts as it is.
  if (s == "trm" || s == "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1")
    return ModelKind::TRM;
  if (s == "hrm" || s == "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1" ||
      s == "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1")
    return ModelKind::HRM;
  fail(field, ": expected \"trm\" or \"hrm\", got \"", s, "\"");
}

}  // namespace

ModelConfig parse_model_config(JsonReader& root) {
  ModelConfig c;
  auto arch = root.object("arch");
  PONDER_CHECK(arch.has_value(), root.field("arch"), ": missing (the model architecture object)");
  std::string name;
  arch->get("name", name);
  PONDER_CHECK(!name.empty(), arch->field("name"), ": missing (\"trm\" or \"hrm\")");
  c.kind = parse_kind(name, arch->field("name"));
  if (c.kind == ModelKind::HRM) {
    // hrm_v1.yaml defaults
    c.H_cycles = 2;
    c.L_cycles = 2;
    c.H_layers = 4;
    c.L_layers = 4;
    c.no_ACT_continue = false;
  }
  arch->get("hidden_size", c.hidden_size);
  c.puzzle_emb_ndim = c.hidden_size;  // `${.hidden_size}` in the reference YAML
  arch->get("num_heads", c.num_heads);
  arch->get("expansion", c.expansion);
  arch->get("H_cycles", c.H_cycles);
  arch->get("L_cycles", c.L_cycles);
  arch->get("H_layers", c.H_layers);
  arch->get("L_layers", c.L_layers);
  arch->get("puzzle_emb_ndim", c.puzzle_emb_ndim);
  arch->get("halt_max_steps", c.halt_max_steps);
  arch->get("halt_exploration_prob", c.halt_exploration_prob);
  arch->get("rms_norm_eps", c.rms_norm_eps);
  arch->get("rope_theta", c.rope_theta);
  arch->get("forward_dtype", c.forward_dtype);
  std::string pos = to_string(c.pos_encodings);
  arch->get("pos_encodings", pos);
  if (pos == "rope") c.pos_encodings = PosEncoding::Rope;
  else if (pos == "learned") c.pos_encodings = PosEncoding::Learned;
  else if (pos == "none") c.pos_encodings = PosEncoding::None;
  else fail(arch->field("pos_encodings"), ": expected \"rope\", \"learned\" or \"none\", got \"", pos, "\"");
  if (c.kind == ModelKind::TRM) {
    arch->get("mlp_t", c.mlp_t);
    arch->get("puzzle_emb_len", c.puzzle_emb_len);
    arch->get("no_ACT_continue", c.no_ACT_continue);
  } else {
    // HRM has no such options; accept them only with the values HRM behaves as.
    bool mlp_t = false, no_act = false;
    arch->get("mlp_t", mlp_t);
    arch->get("no_ACT_continue", no_act);
    PONDER_CHECK(!mlp_t, arch->field("mlp_t"), ": HRM has no MLP-t variant");
    PONDER_CHECK(!no_act, arch->field("no_ACT_continue"), ": HRM always trains q_continue");
    if (arch->has("puzzle_emb_len")) {
      int len = 0;
      arch->get("puzzle_emb_len", len);
      c.puzzle_emb_len = len;
      PONDER_CHECK(len == 0 || len == c.prefix_len(), arch->field("puzzle_emb_len"),
                   ": HRM's prefix is ceil(puzzle_emb_ndim / hidden_size) = ", c.prefix_len());
    }
  }
  if (auto loss = arch->object("loss")) {
    std::string loss_name = "losses@ACTLossHead", loss_type = to_string(c.loss_type);
    loss->get("name", loss_name);
    loss->get("loss_type", loss_type);
    PONDER_CHECK(loss_name == "losses@ACTLossHead" || loss_name == "ACTLossHead",
                 loss->field("name"), ": only the ACT loss head (\"losses@ACTLossHead\") exists");
    if (loss_type == "stablemax_cross_entropy") c.loss_type = LossType::Stablemax;
    else if (loss_type == "softmax_cross_entropy") c.loss_type = LossType::Softmax;
    else fail(loss->field("loss_type"), ": expected \"stablemax_cross_entropy\" or \"softmax_cross_entropy\", got \"", loss_type, "\"");
    loss->finish();
  }
  arch->finish();
  root.get("vocab_size", c.vocab_size);
  root.get("seq_len", c.seq_len);
  root.get("num_puzzle_identifiers", c.num_puzzle_identifiers);
  validate(c, root.where());
  return c;
}

void validate(const ModelConfig& c, const std::string& where) {
  const std::string a = where + ".arch.";
  PONDER_CHECK(c.hidden_size > 0, a, "hidden_size: must be positive, got ", c.hidden_size);
  PONDER_CHECK(c.num_heads > 0 && c.hidden_size % c.num_heads == 0, a,
               "num_heads: must divide hidden_size ", c.hidden_size, ", got ", c.num_heads);
  PONDER_CHECK(c.expansion > 0, a, "expansion: must be positive");
  PONDER_CHECK(c.H_cycles >= 1, a, "H_cycles: must be at least 1, got ", c.H_cycles);
  PONDER_CHECK(c.L_cycles >= 1, a, "L_cycles: must be at least 1, got ", c.L_cycles);
  PONDER_CHECK(c.L_layers >= 1, a, "L_layers: must be at least 1, got ", c.L_layers);
  PONDER_CHECK(c.kind == ModelKind::TRM || c.H_layers >= 1, a, "H_layers: HRM needs at least 1");
  PONDER_CHECK(c.H_layers >= 0, a, "H_layers: must not be negative");
  PONDER_CHECK(c.puzzle_emb_ndim >= 0, a, "puzzle_emb_ndim: must not be negative");
  PONDER_CHECK(c.puzzle_emb_len >= 0, a, "puzzle_emb_len: must not be negative");
  PONDER_CHECK(int64_t(c.prefix_len()) * c.hidden_size >= c.puzzle_emb_ndim, a,
               "puzzle_emb_len: ", c.prefix_len(), " prefix tokens of ", c.hidden_size,
               " cannot hold puzzle_emb_ndim ", c.puzzle_emb_ndim);
  PONDER_CHECK(c.halt_max_steps >= 1, a, "halt_max_steps: must be at least 1");
  PONDER_CHECK(c.halt_exploration_prob >= 0 && c.halt_exploration_prob <= 1, a,
               "halt_exploration_prob: must be in [0, 1]");
  PONDER_CHECK(c.rms_norm_eps > 0, a, "rms_norm_eps: must be positive");
  PONDER_CHECK(c.rope_theta > 0, a, "rope_theta: must be positive");
  PONDER_CHECK(c.forward_dtype == "bfloat16" || c.forward_dtype == "float32" ||
                   c.forward_dtype == "float16",
               a, "forward_dtype: expected \"bfloat16\", \"float32\" or \"float16\", got \"",
               c.forward_dtype, "\"");
  PONDER_CHECK(c.pos_encodings != PosEncoding::Rope || c.mlp_t || c.head_dim() % 2 == 0, a,
               "pos_encodings: RoPE needs an even head dimension");
  PONDER_CHECK(c.kind == ModelKind::TRM || c.pos_encodings != PosEncoding::None, a,
               "pos_encodings: HRM needs \"rope\" or \"learned\" (the reference raises on \"none\")");
  PONDER_CHECK(c.vocab_size >= 1, where, ".vocab_size: missing or not positive");
  PONDER_CHECK(c.seq_len >= 1, where, ".seq_len: missing or not positive");
  PONDER_CHECK(c.num_puzzle_identifiers >= 1, where,
               ".num_puzzle_identifiers: missing or not positive");
}

void write_model_config(const ModelConfig& c, nlohmann::json& root) {
  nlohmann::json arch = {
      {"name", to_string(c.kind)},
      {"loss", {{"name", "losses@ACTLossHead"}, {"loss_type", to_string(c.loss_type)}}},
      {"hidden_size", c.hidden_size},
      {"num_heads", c.num_heads},
      {"expansion", c.expansion},
      {"H_cycles", c.H_cycles},
      {"L_cycles", c.L_cycles},
      {"H_layers", c.H_layers},
      {"L_layers", c.L_layers},
      {"pos_encodings", to_string(c.pos_encodings)},
      {"puzzle_emb_ndim", c.puzzle_emb_ndim},
      {"halt_max_steps", c.halt_max_steps},
      {"halt_exploration_prob", c.halt_exploration_prob},
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"forward_dtype", c.forward_dtype},
  };
  if (c.kind == ModelKind::TRM) {
    arch["mlp_t"] = c.mlp_t;
    arch["puzzle_emb_len"] = c.puzzle_emb_len;
    arch["no_ACT_continue"] = c.no_ACT_continue;
  }
  root["arch"] = arch;
  root["vocab_size"] = c.vocab_size;
  root["seq_len"] = c.seq_len;
  root["num_puzzle_identifiers"] = c.num_puzzle_identifiers;
}

}  // namespace ponder
