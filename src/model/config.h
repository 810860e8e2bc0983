// The model's configuration, with the reference's field names (all_config.yaml: `arch.*` plus the
// dataset fields vocab_size, seq_len, num_puzzle_identifiers), and the quantities derived from it.
// Paper symbols are mapped here, once: y = z_H, z = z_L, T = H_cycles, n = L_cycles,
// N_sup = halt_max_steps, P = puzzle-prefix length, S = P + seq_len.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ponder {

class JsonReader;

enum class ModelKind { TRM, HRM };
enum class PosEncoding { Rope, Learned, None };
enum class LossType { Stablemax, Softmax };

struct ModelConfig {
  ModelKind kind = ModelKind::TRM;
  int hidden_size = 512;   // D
  int num_heads = 8;
  double expansion = 4.0;
  int H_cycles = 3;        // T
  int L_cycles = 6;        // n
  int H_layers = 0;        // HRM's H net; TRM ignores it
  int L_layers = 2;
  bool mlp_t = false;      // TRM-MLP: token-mixing SwiGLU instead of attention
  PosEncoding pos_encodings = PosEncoding::Rope;
  int puzzle_emb_ndim = 512;
  int puzzle_emb_len = 16;  // TRM only; 0 means ceil(ndim / D)
  int halt_max_steps = 16;  // N_sup
  double halt_exploration_prob = 0.1;
  bool no_ACT_continue = true;  // TRM only; HRM always trains q_continue
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::string forward_dtype = "bfloat16";  // the GPU computes in it; the CPU computes in fp32
  LossType loss_type = LossType::Stablemax;
  // dataset fields
  int vocab_size = 0;   // V
  int seq_len = 0;      // L
  int num_puzzle_identifiers = 0;

  // ---- derived
  int prefix_len() const;  // P
  int seq_total() const { return seq_len + prefix_len(); }  // S
  int head_dim() const { return hidden_size / num_heads; }
  int mlp_inter() const;    // SwiGLU width over channels
  int mlp_t_inter() const;  // SwiGLU width over the sequence (MLP-t)
  // Whether q_continue is trained with the bootstrapped target (HRM; TRM with no_ACT_continue off).
  bool act_continue() const { return kind == ModelKind::HRM || !no_ACT_continue; }
  bool has_H_net() const { return kind == ModelKind::HRM; }
  bool forward_bf16() const { return forward_dtype == "bfloat16"; }
};

// SwiGLU intermediate size: 256·ceil(round(expansion·h·2/3) / 256), Python's round-half-even.
int swiglu_inter(double expansion, int h);

// Reads `arch` and the dataset fields from a run config's root object (marking them read), with
// the reference's defaults for the chosen model, and validates the combination.
ModelConfig parse_model_config(JsonReader& root);
// Writes the same fields into `root`.
void write_model_config(const ModelConfig& c, nlohmann::json& root);
void validate(const ModelConfig& c, const std::string& where);

const char* to_string(ModelKind k);
const char* to_string(PosEncoding p);
const char* to_string(LossType l);

}  // namespace ponder
