// Model weights to and from safetensors, with the reference's tensor names (REFERENCE.md §10):
// every parameter of ParamLayout, `puzzle_emb.weights` (num_puzzle_identifiers, ndim) and
// `H_init`, `L_init` (D) — BF16 when forward_dtype is bfloat16, as the reference creates them.
#pragma once

#include <functional>
#include <string>

#include "core/array.h"
#include "io/safetensors.h"
#include "model/model.h"

namespace ponder {

// Host copies of everything a weights file holds; they must outlive the writer they are added to.
struct HostWeights {
  Array<float> params;  // ParamLayout order
  Array<float> table;
  Array<float> H_init, L_init;
};

HostWeights download_weights(Model& m);
// Adds the weights under their reference names, each parameter under `prefix + name`.
void add_weights(const Model& m, const HostWeights& w, SafetensorsWriter& out,
                 const std::string& prefix = "");

// Loads every weight the model needs from `in`, checking dtypes and shapes. Tensors the model does
// not know are errors unless `is_extra(name)` accepts them (checkpoints carry optimizer state).
void load_weights(Model& m, const SafetensorsReader& in,
                  const std::function<bool(const std::string&)>& is_extra = nullptr);

// Reads parameter tensors named `prefix + name` into a layout-shaped host buffer.
Array<float> read_param_buffer(const Model& m, const SafetensorsReader& in,
                               const std::string& prefix);

}  // namespace ponder
