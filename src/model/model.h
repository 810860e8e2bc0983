// The reasoning model: TRM and HRM as configurations of one engine. A Model owns the parameters
// (one buffer, ParamLayout), the puzzle table, H_init/L_init and the workspaces; forward() runs
// one supervision step of the inner model (REFERENCE.md §4) and backward() its gradient cycle.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "core/array.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/params.h"
#include "ops/ops.h"

namespace ponder {

// One application of a reasoning net: the latent update z_L ← net(z_L + z_H + x), or the answer
// update z_H ← net(z_H + z_L). net 0 is L_level (TRM uses it for both), 1 is H_level (HRM).
struct NetCall {
  int net = 0;
  bool latent = true;
};

// The recursion of one supervision step as a list of net calls: those run without gradient, then
// those backpropagated through. TRM: (T−1)·(n latent + 1 answer) without, n + 1 with gradient.
// HRM: H_cycles·L_cycles − 1 latent and H_cycles − 1 answer updates without, then one of each.
struct Schedule {
  std::vector<NetCall> no_grad;
  std::vector<NetCall> grad;
};
Schedule make_schedule(const ModelConfig& c);

class Model {
 public:
  Model(Ops& ops, const ModelConfig& c);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const ParamLayout& layout() const { return layout_; }
  const Schedule& schedule() const { return schedule_; }
  Ops& ops() { return ops_; }
  Dims dims(int64_t B) const;

  float* params() { return params_.data(); }           // layout().total() floats
  float* puzzle_table() { return table_.data(); }      // (num_puzzle_identifiers, ndim)
  size_t puzzle_table_size() const { return table_.size(); }
  float* H_init() { return H_init_.data(); }           // (D)
  float* L_init() { return L_init_.data(); }           // (D)

  // REFERENCE.md §3.8: truncated-normal weights, zero q_head weight, q_head bias −5, zero puzzle
  // table, H_init/L_init ~ truncated normal σ = 1 (rounded to bf16 when forward_dtype is bf16).
  void init_weights(uint64_t seed);
  // Must be called after parameters change (optimizer step, load): drops packed weight copies.
  void params_changed() { ops_.weights_changed(); }

  // One supervision step of the inner model on device data: z_H, z_L (B, S, D) are read and
  // replaced by the new carry; tokens (B, L) and puzzle_ids (B) are int32. Writes logits (B, L, V)
  // and q (B, 2) = (q_halt, q_continue). With `grad`, keeps the gradient cycle's activations for
  // backward(); without, touches only scratch buffers (so an extra no-grad forward between a
  // forward(grad) and its backward() is allowed).
  void forward(float* zH, float* zL, const int32_t* tokens, const int32_t* puzzle_ids, int64_t B,
               bool grad);
  const float* logits(int64_t B);
  const float* q(int64_t B);

  // Backward of the last forward(grad = true), given dlogits (B, L, V) and dq (B, 2) on the
  // device: accumulates parameter gradients into `grads` (layout()) and writes the gradient of
  // the per-row puzzle embeddings into dprefix (B, ndim).
  void backward(const float* dlogits, const float* dq, float* grads, float* dprefix);

 private:
  struct CallActs {
    float* h0 = nullptr;  // (B·S, D) net input: state + injection
    std::vector<BlockActs> blocks;
  };
  struct Workspace;
  Workspace& workspace(int64_t B, bool grad);
  void run_call(const NetCall& call, const Dims& d, Workspace& ws, float* zH, float* zL,
                CallActs* saved);
  const float* net_backward(const NetCall& call, const Dims& d, Workspace& ws, CallActs& c,
                            const float* dout, ModelParams& g);

  Ops& ops_;
  ModelConfig cfg_;
  ParamLayout layout_;
  Schedule schedule_;
  DeviceArray<float> params_, table_, H_init_, L_init_, rope_cos_, rope_sin_;
  ModelParams w_;
  std::map<int64_t, std::unique_ptr<Workspace>> workspaces_;
  Workspace* last_grad_ = nullptr;
  const int32_t* last_tokens_ = nullptr;
};

}  // namespace ponder
