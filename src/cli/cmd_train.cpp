// `ponder train PRESET|CONFIG [key=value …] --data PATH --out DIR`: deep-supervision training with
// evaluation, checkpoints and resume.
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "data/sources.h"
#include "dist/comm.h"
#include "eval/evaluate.h"
#include "eval/task_metrics.h"
#include "ops/ops.h"
#include "train/checkpoint.h"
#include "train/presets.h"
#include "train/trainer.h"

namespace ponder::cli {

namespace {

struct TrainCli {
  std::string config, data, eval_data;
  std::vector<std::string> overrides;
  TrainerOptions trainer;
  int64_t eval_examples = -1;
  int num_aug = 0;
  bool skip_bad = false;
};

// The run configuration: preset or file, overrides, and the dataset fields from the data.
RunConfig make_config(const TrainCli& o, const DatasetMeta& meta) {
  nlohmann::json j = load_config_arg(o.config);
  for (const auto& kv : o.overrides) apply_override(j, kv);
  const std::pair<const char*, int> fields[] = {
      {"vocab_size", meta.vocab_size},
      {"seq_len", meta.seq_len},
      {"num_puzzle_identifiers", meta.num_puzzle_identifiers}};
  for (const auto& [key, value] : fields) {
    PONDER_CHECK(!j.contains(key) || j[key] == value, o.config, ": ", key, " = ", j[key].dump(),
                 " but the data has ", value);
    j[key] = value;
  }
  if (!j.contains("global_batch_size")) j["global_batch_size"] = 768;  // cfg_pretrain.yaml
  return parse_run_config(j.dump(), o.config);
}

void run(const TrainCli& o) {
  SourceOptions so;
  so.num_aug = o.num_aug;
  so.skip_bad = o.skip_bad;
  DatasetSplit train = load_split(o.data, "train", so);
  RunConfig cfg = make_config(o, train.meta);
  if (o.trainer.resume) {
    // The checkpoint's configuration rules; a different one on the command line is a mistake.
    RunConfig saved = read_checkpoint_config(o.trainer.out + "/checkpoint.safetensors");
    PONDER_CHECK(run_config_json(saved) == run_config_json(cfg), o.trainer.out,
                 "/checkpoint.safetensors: was trained with a different configuration than the "
                 "command line gives; resume with the same preset and overrides");
  }
  std::string eval_path = o.eval_data;
  if (eval_path.empty() && std::filesystem::is_directory(o.data) && has_split(o.data, "test"))
    eval_path = o.data;
  std::shared_ptr<DatasetSplit> test;
  if (!eval_path.empty() && o.eval_examples != 0)
    test = std::make_shared<DatasetSplit>(load_split(eval_path, "test", {}));
  const Comm& comm = Comm::world();
  if (comm.rank() == 0) {
    std::string where =
        test ? "evaluating on " +
                   std::to_string(o.eval_examples >= 0 ? std::min(o.eval_examples, test->examples())
                                                       : test->examples()) +
                   " test examples"
             : "no evaluation data";
    if (comm.size() > 1)
      where += "; data-parallel over " + std::to_string(comm.size()) + " processes";
    std::fprintf(stderr, "training %s (%zu parameters) on %lld groups; %s\n",
                 to_string(cfg.model.kind), ParamLayout(cfg.model).count(),
                 (long long)train.groups(), where.c_str());
  }
  Evaluator evaluator;
  if (test) {
    evaluator = [test, &o, &cfg, eval_path](Model& m) {
      EvalOptions eo;
      TaskMetrics task(cfg.model, eval_path);
      task.attach(eo);
      eo.batch_size = *cfg.train.global_batch_size;
      eo.max_examples = o.eval_examples;
      eo.progress = [](int64_t done, int64_t total) {
        std::fprintf(stderr, "\revaluating %lld/%lld", (long long)done, (long long)total);
        if (done == total) std::fprintf(stderr, "\n");
      };
      eo.cancelled = stop_requested;
      const EvalResult r = evaluate(m, *test, eo);
      if (r.cancelled) return nlohmann::json();  // interrupted: no partial scores in the log
      nlohmann::json j = r.to_json();
      task.finish(j, *test, false);
      return j;
    };
  }
  auto ops = make_backend();
  Trainer t(*ops, cfg, train, o.trainer, evaluator);
  const TrainExit e = t.run();
  if (e == TrainExit::Interrupted) std::exit(130);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainCli>();
  CLI::App* cmd = app.add_subcommand("train", "Train a TRM or HRM with deep supervision");
  std::string names;
  for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("config", o->config, "preset (" + names + ") or JSON config")->required();
  cmd->add_option("overrides", o->overrides, "key=value overrides, e.g. arch.L_cycles=4 lr=3e-4");
  cmd->add_option("--data", o->data, "dataset directory (ponder data …) or a puzzle file")
      ->required();
  cmd->add_option("--eval-data", o->eval_data,
                  "evaluation data (default: the dataset's test split)");
  cmd->add_option("--out", o->trainer.out,
                  "run directory: checkpoints, metrics.jsonl, model.safetensors")
      ->required();
  cmd->add_option("--minutes", o->trainer.minutes, "stop training after this many minutes");
  cmd->add_option("--max-steps", o->trainer.max_steps, "stop after this many optimizer steps");
  cmd->add_option("--eval-examples", o->eval_examples,
                  "evaluate on the first N test examples only (0: no evaluation)");
  cmd->add_option("--checkpoint-every", o->trainer.checkpoint_minutes,
                  "minutes between checkpoints (default 10)");
  cmd->add_option("--num-aug", o->num_aug,
                  "augmented versions per puzzle when --data is a puzzle file");
  cmd->add_flag("--skip-bad", o->skip_bad, "skip bad rows of a puzzle file");
  cmd->add_flag("--resume", o->trainer.resume, "continue the run in --out from its checkpoint");
  cmd->add_flag("--force", o->trainer.force, "start over in an --out that holds a run");
  cmd->add_flag("!--no-progress", o->trainer.progress, "no live progress line");
  cmd->callback([o] { run(*o); });
}

}  // namespace ponder::cli
