// Model files: safetensors with the reference's tensor names and the run configuration as JSON
// under the `__metadata__` key "config".
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "io/host_tensor.h"
#include "model/model.h"
#include "train/run_config.h"

namespace ponder {

struct LoadedModel {
  RunConfig config;
  std::unique_ptr<Model> model;
};

RunConfig read_config_metadata(const SafetensorsReader& in);
// Tensors other than the model's are errors unless is_extra accepts them.
LoadedModel load_model_file(Ops& ops, const std::string& path,
                            const std::function<bool(const std::string&)>& is_extra = nullptr);
// Writes the model's weights (and any `extra` tensors) atomically.
void save_model_file(Model& m, const RunConfig& config, const std::string& path,
                     const TensorMap& extra = {});

}  // namespace ponder
