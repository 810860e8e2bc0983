// A run's configuration, shaped like the reference's all_config.yaml: `arch` and the dataset
// fields (model/config.h) plus the training fields below. Missing fields take the reference's
// defaults (config/cfg_pretrain.yaml); unknown or ill-typed fields are errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace ponder {

struct TrainConfig {
  std::optional<int> global_batch_size;  // the reference default is 768; `ponder step` uses B
  int epochs = 100000;
  std::optional<int> eval_interval;
  int min_eval_interval = 0;
  double lr = 1e-4;
  double lr_min_ratio = 1.0;
  int lr_warmup_steps = 2000;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double puzzle_emb_lr = 1e-2;
  double puzzle_emb_weight_decay = 0.1;
  bool ema = false;
  double ema_rate = 0.999;
  bool freeze_weights = false;
  int64_t seed = 0;
  bool checkpoint_every_eval = false;
  // Reference bookkeeping fields, accepted so that a converted all_config.yaml loads.
  std::vector<std::string> data_paths, data_paths_test, eval_save_outputs;
  std::optional<std::string> data_path, project_name, run_name, load_checkpoint, checkpoint_path;
};

struct RunConfig {
  ModelConfig model;
  TrainConfig train;
};

// `where` prefixes error messages (e.g. "model.safetensors: config").
RunConfig parse_run_config(const std::string& json_text, const std::string& where);
std::string run_config_json(const RunConfig& c);

// Applies a `key=value` override with the reference's dotted names (`arch.L_cycles=4`,
// `lr=1e-4`, `ema=true`) to a config's JSON tree. The value is read as JSON when it parses as
// JSON, otherwise as a string.
void apply_override(nlohmann::json& root, const std::string& assignment);

}  // namespace ponder
