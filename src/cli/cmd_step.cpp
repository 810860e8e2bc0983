// `ponder step`: one training-mode supervision step on a batch file, writing logits, q, loss,
// the new carry and every gradient — the debugging tool for comparing against another engine.
#include "cli/commands.h"
#include "ops/ops.h"
#include "train/model_file.h"
#include "train/single_step.h"

namespace ponder::cli {

void add_step_command(CLI::App& app) {
  struct Options {
    std::string model, batch, out;
    SingleStepOptions step;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "step",
      "Run one supervision step on a batch and write outputs, the new carry and all gradients");
  cmd->add_option("--model", opt->model, "weights (safetensors, run config in __metadata__)")
      ->required();
  cmd->add_option("--batch", opt->batch,
                  "batch (safetensors): inputs, labels, puzzle_identifiers [, z_H, z_L, steps, "
                  "halted]")
      ->required();
  cmd->add_option("--out", opt->out, "output safetensors")->required();
  cmd->add_option("--optimizer-steps", opt->step.optimizer_steps,
                  "also run K training iterations on this batch and write param.<name>")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--eval", opt->step.eval, "evaluation mode: no halting by q, no gradients");
  cmd->add_option("--chain", opt->step.chain,
                  "with --eval: run N steps in a row and write the last")
      ->check(CLI::PositiveNumber);
  cmd->callback([opt] {
    auto ops = make_backend();
    LoadedModel lm = load_model_file(*ops, opt->model);
    StepInput in = read_step_input(opt->batch, lm.config.model);
    TensorMap out = run_single_step(*lm.model, lm.config.train, in, opt->step);
    write_tensors(opt->out, out);
  });
}

}  // namespace ponder::cli
