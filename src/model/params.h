// Parameters live in one contiguous buffer with named views, in the reference's state-dict names
// (prefix `_orig_mod.model.inner.` stripped). Gradients, optimizer moments and the EMA mirror the
// layout, so each of them is one buffer too. The puzzle table and H_init/L_init are buffers in the
// reference, not parameters, and live outside it.
#pragma once

#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/config.h"

namespace ponder {

struct ParamInfo {
  std::string name;
  Shape shape;
  size_t offset = 0;  // in floats, 16-float (64-byte) aligned
  size_t numel = 0;
  double init_std = 0.0;    // truncated normal σ (REFERENCE.md §3.8)
  float init_value = 0.0f;  // used when init_std is 0 (q_head bias: −5)
};

class ParamLayout {
 public:
  explicit ParamLayout(const ModelConfig& c);
  const std::vector<ParamInfo>& params() const { return params_; }
  size_t total() const { return total_; }  // floats, padding included
  size_t count() const;                    // parameters, padding excluded
  const ParamInfo* find(const std::string& name) const;

 private:
  void add(std::string name, Shape shape, double init_std, float init_value = 0.0f);
  std::vector<ParamInfo> params_;
  size_t total_ = 0;
};

// Pointers into a buffer with ParamLayout's layout; the same struct views parameters and
// gradients. Shapes are in comments; D hidden, I SwiGLU width, It MLP-t width, S = P + L.
struct BlockParams {
  float* qkv = nullptr;           // (3D, D)   attention only
  float* o = nullptr;             // (D, D)
  float* mlp_t_gate_up = nullptr; // (2·It, S) MLP-t only
  float* mlp_t_down = nullptr;    // (S, It)
  float* gate_up = nullptr;       // (2I, D)
  float* down = nullptr;          // (D, I)
};

struct ModelParams {
  float* embed_tokens = nullptr;  // (V, D)
  float* lm_head = nullptr;       // (V, D)
  float* q_head_w = nullptr;      // (2, D)
  float* q_head_b = nullptr;      // (2)
  float* embed_pos = nullptr;     // (S, D)  learned positions only
  std::vector<BlockParams> L_blocks;
  std::vector<BlockParams> H_blocks;  // HRM only
};

ModelParams bind_params(const ModelConfig& c, const ParamLayout& layout, float* base);

}  // namespace ponder
