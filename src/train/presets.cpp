#include "train/presets.h"

#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/json_reader.h"

namespace ponder {

namespace {

using nlohmann::json;

// The reference's training settings for Sudoku and mazes (REFERENCE.md §7.4): batch 768, lr 1e-4
// with 2000 warmup steps, weight decay 1.0 for weights and puzzle embedding.
json recipe(json arch, int epochs, int eval_interval, bool ema) {
  json j = {{"arch", std::move(arch)},
            {"global_batch_size", 768},
            {"epochs", epochs},
            {"eval_interval", eval_interval},
            {"lr", 1e-4},
            {"lr_min_ratio", 1.0},
            {"lr_warmup_steps", 2000},
            {"weight_decay", 1.0},
            {"beta1", 0.9},
            {"beta2", 0.95},
            {"puzzle_emb_lr", 1e-4},
            {"puzzle_emb_weight_decay", 1.0},
            {"ema", ema},
            {"seed", 0}};
  if (ema) j["ema_rate"] = 0.999;
  return j;
}

const json kLoss = {{"name", "losses@ACTLossHead"}, {"loss_type", "stablemax_cross_entropy"}};

// TRM on Sudoku: 50k epochs evaluated every 5k, EMA 0.999.
json trm_sudoku(bool mlp_t) {
  return recipe({{"name", "trm"},
                 {"hidden_size", 512},
                 {"num_heads", 8},
                 {"expansion", 4},
                 {"H_cycles", 3},
                 {"L_cycles", 6},
                 {"H_layers", 0},
                 {"L_layers", 2},
                 {"mlp_t", mlp_t},
                 {"pos_encodings", mlp_t ? "none" : "rope"},
                 {"puzzle_emb_ndim", 512},
                 {"puzzle_emb_len", 16},
                 {"halt_max_steps", 16},
                 {"halt_exploration_prob", 0.1},
                 {"no_ACT_continue", true},
                 {"forward_dtype", "bfloat16"},
                 {"loss", kLoss}},
                50000, 5000, true);
}

// HRM on Sudoku: 4 + 4 layers, 2 × 2 cycles, 20k epochs evaluated every 2k, no EMA.
json hrm_sudoku() {
  return recipe({{"name", "hrm"},
                 {"hidden_size", 512},
                 {"num_heads", 8},
                 {"expansion", 4},
                 {"H_cycles", 2},
                 {"L_cycles", 2},
                 {"H_layers", 4},
                 {"L_layers", 4},
                 {"pos_encodings", "rope"},
                 {"puzzle_emb_ndim", 512},
                 {"halt_max_steps", 16},
                 {"halt_exploration_prob", 0.1},
                 {"forward_dtype", "bfloat16"},
                 {"loss", kLoss}},
                20000, 2000, false);
}

// Maze-Hard: attention with n = 4 (REFERENCE.md §7.4, §11), otherwise the Sudoku recipe.
json trm_maze() {
  json j = trm_sudoku(false);
  j["arch"]["L_cycles"] = 4;
  return j;
}

// ARC-AGI-1/2: 100k epochs evaluated every 10k, weight decay 0.1, and a puzzle embedding learned
// 100× faster (1e-2) since each version's row sees few examples.
json arc_recipe(json j) {
  j["epochs"] = 100000;
  j["eval_interval"] = 10000;
  j["weight_decay"] = 0.1;
  j["puzzle_emb_lr"] = 1e-2;
  j["puzzle_emb_weight_decay"] = 0.1;
  return j;
}
json trm_arc() {
  return arc_recipe(trm_maze());
}  // n = 4
json hrm_arc() {
  return arc_recipe(hrm_sudoku());
}

// The CPU presets shrink a recipe to D = 128 with the optimiser settings that train it in minutes.
json cpu_scale(json j, int batch) {
  j["arch"]["hidden_size"] = 128;
  j["arch"]["num_heads"] = 4;
  j["arch"]["puzzle_emb_ndim"] = 128;
  j["global_batch_size"] = batch;
  j["epochs"] = 1000;
  j["eval_interval"] = 1000;
  j["lr"] = 1e-3;
  j["lr_warmup_steps"] = 50;
  j["weight_decay"] = 0.1;
  j["puzzle_emb_weight_decay"] = 0.1;
  j["ema_rate"] = 0.99;
  return j;
}

// Sudoku on a 2-core CPU in minutes: TRM-MLP at D = 128, T = 2, n = 2, batch 64.
json sudoku_cpu() {
  json j = cpu_scale(trm_sudoku(true), 64);
  j["arch"]["num_heads"] = 2;
  j["arch"]["H_cycles"] = 2;
  j["arch"]["L_cycles"] = 2;
  j["puzzle_emb_lr"] = 1e-3;
  return j;
}

const std::map<std::string, json (*)()>& presets() {
  static const std::map<std::string, json (*)()> p = {
      {"sudoku-mlp", [] { return trm_sudoku(true); }},
      {"sudoku-att", [] { return trm_sudoku(false); }},
      {"hrm-sudoku", hrm_sudoku},
      {"sudoku-cpu", sudoku_cpu},
      {"maze", trm_maze},
      {"hrm-maze", hrm_sudoku},
      {"arc1", trm_arc},
      {"arc2", trm_arc},
      {"hrm-arc", hrm_arc},
      {"maze-cpu",
       [] {
         json j = cpu_scale(trm_maze(), 32);
         j["lr"] = 3e-4;  // 1e-3 diverged on 8×8 mazes (docs/RESULTS.md)
         j["lr_warmup_steps"] = 100;
         return j;
       }},
      {"arc-cpu",
       [] {
         json j = cpu_scale(trm_arc(), 16);
         j["arch"]["H_cycles"] = 2;
         j["arch"]["L_cycles"] = 2;
         j["puzzle_emb_lr"] = 1e-2;
         return j;
       }},
  };
  return p;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : presets()) names.push_back(name);
  return names;
}

nlohmann::json preset_config(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    std::string all;
    for (const auto& n : preset_names()) all += (all.empty() ? "" : ", ") + n;
    fail("unknown preset '", name, "' (presets: ", all, "; or give a JSON config file)");
  }
  return it->second();
}

nlohmann::json load_config_arg(const std::string& arg) {
  if (presets().count(arg)) return preset_config(arg);
  if (!std::filesystem::is_regular_file(arg)) {
    std::string all;
    for (const auto& n : preset_names()) all += (all.empty() ? "" : ", ") + n;
    fail("'", arg, "' is neither a preset (", all, ") nor a config file");
  }
  return read_json_file(arg);
}

}  // namespace ponder
