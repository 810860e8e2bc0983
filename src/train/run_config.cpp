#include "train/run_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_reader.h"

namespace ponder {

RunConfig parse_run_config(const std::string& json_text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(where, ": not valid JSON: ", e.what());
  }
  JsonReader root(j, where);
  RunConfig c;
  c.model = parse_model_config(root);
  TrainConfig& t = c.train;
  root.get("global_batch_size", t.global_batch_size);
  root.get("epochs", t.epochs);
  root.get("eval_interval", t.eval_interval);
  root.get("min_eval_interval", t.min_eval_interval);
  root.get("lr", t.lr);
  root.get("lr_min_ratio", t.lr_min_ratio);
  root.get("lr_warmup_steps", t.lr_warmup_steps);
  root.get("weight_decay", t.weight_decay);
  root.get("beta1", t.beta1);
  root.get("beta2", t.beta2);
  root.get("puzzle_emb_lr", t.puzzle_emb_lr);
  root.get("puzzle_emb_weight_decay", t.puzzle_emb_weight_decay);
  root.get("ema", t.ema);
  root.get("ema_rate", t.ema_rate);
  root.get("freeze_weights", t.freeze_weights);
  root.get("seed", t.seed);
  root.get("checkpoint_every_eval", t.checkpoint_every_eval);
  root.get("data_paths", t.data_paths);
  root.get("data_paths_test", t.data_paths_test);
  root.get("eval_save_outputs", t.eval_save_outputs);
  root.get("data_path", t.data_path);
  root.get("project_name", t.project_name);
  root.get("run_name", t.run_name);
  root.get("load_checkpoint", t.load_checkpoint);
  root.get("checkpoint_path", t.checkpoint_path);
  root.accept("evaluators");  // the reference's evaluator list; ponder chooses evaluators by task
  root.finish();

  PONDER_CHECK(!t.global_batch_size || *t.global_batch_size >= 1, root.field("global_batch_size"),
               ": must be at least 1");
  PONDER_CHECK(t.epochs >= 1, root.field("epochs"), ": must be at least 1");
  PONDER_CHECK(!t.eval_interval || *t.eval_interval >= 1, root.field("eval_interval"),
               ": must be at least 1");
  PONDER_CHECK(t.lr >= 0, root.field("lr"), ": must not be negative");
  PONDER_CHECK(t.lr_min_ratio >= 0 && t.lr_min_ratio <= 1, root.field("lr_min_ratio"),
               ": must be in [0, 1]");
  PONDER_CHECK(t.lr_warmup_steps >= 0, root.field("lr_warmup_steps"), ": must not be negative");
  PONDER_CHECK(t.weight_decay >= 0, root.field("weight_decay"), ": must not be negative");
  PONDER_CHECK(t.beta1 >= 0 && t.beta1 < 1, root.field("beta1"), ": must be in [0, 1)");
  PONDER_CHECK(t.beta2 >= 0 && t.beta2 < 1, root.field("beta2"), ": must be in [0, 1)");
  PONDER_CHECK(t.puzzle_emb_lr >= 0, root.field("puzzle_emb_lr"), ": must not be negative");
  PONDER_CHECK(t.puzzle_emb_weight_decay >= 0, root.field("puzzle_emb_weight_decay"),
               ": must not be negative");
  PONDER_CHECK(t.ema_rate >= 0 && t.ema_rate <= 1, root.field("ema_rate"), ": must be in [0, 1]");
  return c;
}

void apply_override(nlohmann::json& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  PONDER_CHECK(eq != std::string::npos && eq > 0, "override '", assignment,
               "': expected key=value, e.g. arch.L_cycles=4");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error&) {
    value = text;
  }
  nlohmann::json* node = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    PONDER_CHECK(!part.empty(), "override '", assignment, "': empty name in '", key, "'");
    PONDER_CHECK(node->is_object() || node->is_null(), "override '", assignment, "': '",
                 key.substr(0, start ? start - 1 : 0), "' is not an object");
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    node = &(*node)[part];
    start = dot + 1;
  }
}

std::string run_config_json(const RunConfig& c) {
  nlohmann::json j;
  write_model_config(c.model, j);
  const TrainConfig& t = c.train;
  if (t.global_batch_size) j["global_batch_size"] = *t.global_batch_size;
  j["epochs"] = t.epochs;
  if (t.eval_interval) j["eval_interval"] = *t.eval_interval;
  j["min_eval_interval"] = t.min_eval_interval;
  j["lr"] = t.lr;
  j["lr_min_ratio"] = t.lr_min_ratio;
  j["lr_warmup_steps"] = t.lr_warmup_steps;
  j["weight_decay"] = t.weight_decay;
  j["beta1"] = t.beta1;
  j["beta2"] = t.beta2;
  j["puzzle_emb_lr"] = t.puzzle_emb_lr;
  j["puzzle_emb_weight_decay"] = t.puzzle_emb_weight_decay;
  j["ema"] = t.ema;
  j["ema_rate"] = t.ema_rate;
  j["freeze_weights"] = t.freeze_weights;
  j["seed"] = t.seed;
  j["checkpoint_every_eval"] = t.checkpoint_every_eval;
  if (!t.data_paths.empty()) j["data_paths"] = t.data_paths;
  if (!t.data_paths_test.empty()) j["data_paths_test"] = t.data_paths_test;
  if (!t.eval_save_outputs.empty()) j["eval_save_outputs"] = t.eval_save_outputs;
  if (t.data_path) j["data_path"] = *t.data_path;
  if (t.project_name) j["project_name"] = *t.project_name;
  if (t.run_name) j["run_name"] = *t.run_name;
  if (t.load_checkpoint) j["load_checkpoint"] = *t.load_checkpoint;
  if (t.checkpoint_path) j["checkpoint_path"] = *t.checkpoint_path;
  return j.dump(1);
}

}  // namespace ponder
