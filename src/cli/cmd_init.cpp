// `ponder init`: a freshly initialised model file (REFERENCE.md §3.8) from a run configuration.
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "ops/ops.h"
#include "train/model_file.h"
#include "train/presets.h"

namespace ponder::cli {

void add_init_command(CLI::App& app) {
  struct Options {
    std::string config, out;
    std::vector<std::string> overrides;
    int64_t seed = 0;
    bool force = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("init", "Write a freshly initialised model");
  cmd->add_option("config", opt->config,
                  "preset, or run configuration (JSON shaped like the reference's all_config.yaml); "
                  "give the dataset fields as overrides with a preset")
      ->required();
  cmd->add_option("overrides", opt->overrides, "key=value overrides, e.g. arch.L_cycles=4");
  cmd->add_option("--out", opt->out, "model file to write (safetensors)")->required();
  cmd->add_option("--seed", opt->seed, "initialisation seed");
  cmd->add_flag("--force", opt->force, "overwrite an existing output file");
  cmd->callback([opt] {
    nlohmann::json j = load_config_arg(opt->config);
    for (const auto& o : opt->overrides) apply_override(j, o);
    RunConfig cfg = parse_run_config(j.dump(), opt->config);
    PONDER_CHECK(opt->force || !std::filesystem::exists(opt->out), opt->out,
                 ": exists; pass --force to overwrite it");
    auto ops = make_backend();
    Model m(*ops, cfg.model);
    m.init_weights(uint64_t(opt->seed));
    save_model_file(m, cfg, opt->out);
    std::printf("%s: %s model, %zu parameters (+ %d×%d puzzle table)\n", opt->out.c_str(),
                to_string(cfg.model.kind), m.layout().count(), cfg.model.num_puzzle_identifiers,
                cfg.model.puzzle_emb_ndim);
  });
}

}  // namespace ponder::cli
