// `ponder eval MODEL DATA`: exact and token accuracy, mean steps and halting accuracy after
// halt_max_steps steps and with ACT halting, the accuracy after each supervision step, as a table,
// JSON and an SVG plot; for ARC, pass@k after voting across versions and a submission file; for
// mazes, how many predicted paths are valid shortest paths.
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "data/sources.h"
#include "eval/evaluate.h"
#include "eval/halting.h"
#include "eval/plot.h"
#include "eval/task_metrics.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include "train/model_file.h"

namespace ponder::cli {

namespace {

struct Options {
  std::string model, data, json, plot, submission, halt, halt_plot;
  int64_t batch = 64, max_puzzles = -1;
  bool skip_bad = false, arc = false, static_batches = false;
};

// Each halting rule of --halt over the same puzzles: a table, JSON and the accuracy-against-compute
// plot, beside the curve of stopping every puzzle after k steps.
nlohmann::json run_halting_rules(Model& m, const DatasetSplit& data, const Options& o,
                                 const EvalResult& fixed) {
  HaltOptions ho;
  ho.batch_size = o.batch;
  ho.max_examples = o.max_puzzles;
  ho.continuous = !o.static_batches;
  const Verifier verify = task_verifier(m.config());
  std::vector<HaltResult> results;
  std::string rules = o.halt;
  for (size_t at = 0; at <= rules.size();) {
    const size_t comma = std::min(rules.find(',', at), rules.size());
    const HaltRule rule = parse_halt_rule(rules.substr(at, comma - at));
    PONDER_CHECK(rule.kind != HaltRule::Verify || verify,
                 "halting rule 'verify': this task has no verifier "
                 "(Sudoku and mazes have one)");
    std::fprintf(stderr, "halting rule %s…\n", rule.name().c_str());
    results.push_back(infer_with_halting(m, data, rule, verify, ho));
    at = comma + 1;
  }
  std::printf("%s batches of %lld: %-12s %8s %8s %10s %10s %8s\n",
              ho.continuous ? "continuous" : "static", (long long)o.batch, "rule", "exact", "token",
              "mean steps", "puzzles/s", "speed-up");
  nlohmann::json j = nlohmann::json::array();
  for (const auto& h : results) {
    std::printf("%*s%-12s %8.4f %8.4f %10.2f %10.1f %7.2fx\n", ho.continuous ? 28 : 24, "",
                h.rule.c_str(), h.exact_accuracy, h.token_accuracy, h.mean_steps,
                h.puzzles_per_second, h.puzzles_per_second / results[0].puzzles_per_second);
    j.push_back(h.to_json());
  }
  if (!o.halt_plot.empty()) {
    PlotSpec p;
    p.title = "Accuracy against compute";
    p.x_label = "mean supervision steps per puzzle";
    p.y_label = "exact accuracy";
    PlotSeries every{"all puzzles stop after k steps", {}, fixed.per_step_exact_accuracy};
    for (size_t k = 0; k < every.y.size(); ++k) every.x.push_back(double(k + 1));
    p.series.push_back(every);
    for (const auto& h : results)
      p.series.push_back({"rule " + h.rule, {h.mean_steps}, {h.exact_accuracy}});
    write_svg_plot(o.halt_plot, p);
  }
  return j;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("eval", "Evaluate a model on a dataset's test split or a puzzle file");
  cmd->add_option("model", o->model, "model file (model.safetensors of a run)")->required();
  cmd->add_option("data", o->data, "dataset directory (its test split) or a puzzle file")
      ->required();
  cmd->add_option("--json", o->json, "write all metrics as JSON");
  cmd->add_option("--plot", o->plot, "write the accuracy-per-step curve as SVG");
  cmd->add_option("--batch-size", o->batch, "puzzles per batch (default 64)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-puzzles", o->max_puzzles, "evaluate the first N puzzles only");
  cmd->add_flag("--skip-bad", o->skip_bad, "skip bad rows of a puzzle file");
  cmd->add_flag(
      "--arc", o->arc,
      "ARC scoring: vote across versions, pass@k (automatic for ARC models on a dataset folder)");
  cmd->add_option("--submission", o->submission,
                  "ARC: write a Kaggle-style submission.json (two attempts per test input)");
  cmd->add_option("--halt", o->halt,
                  "also run with early halting, comma-separated rules: fixed, q, stable:K, verify "
                  "(e.g. fixed,q,stable:2,verify); reports accuracy, mean steps and puzzles/s");
  cmd->add_option("--halt-plot", o->halt_plot,
                  "write accuracy against supervision steps per rule as SVG");
  cmd->add_flag(
      "--static-batches", o->static_batches,
      "with --halt: a batch waits for its slowest puzzle instead of refilling stopped rows");
  cmd->callback([o] {
    auto ops = make_backend();
    LoadedModel lm = load_model_file(*ops, o->model);
    SourceOptions so;
    so.skip_bad = o->skip_bad;
    DatasetSplit data = load_split(o->data, "test", so);
    const ModelConfig& c = lm.config.model;
    PONDER_CHECK(data.meta.seq_len == c.seq_len && data.meta.vocab_size == c.vocab_size, o->data,
                 ": sequences of ", data.meta.seq_len, " tokens over ", data.meta.vocab_size,
                 " symbols, but the model takes ", c.seq_len, " over ", c.vocab_size);
    PONDER_CHECK(data.meta.num_puzzle_identifiers <= c.num_puzzle_identifiers, o->data, ": has ",
                 data.meta.num_puzzle_identifiers, " puzzle identifiers, the model knows ",
                 c.num_puzzle_identifiers);
    EvalOptions eo;
    eo.batch_size = o->batch;
    eo.max_examples = o->max_puzzles;
    TaskMetrics task(c, o->data, o->arc);
    PONDER_CHECK(task.arc() || o->submission.empty(),
                 "--submission is for ARC models and datasets");
    task.attach(eo);
    eo.progress = [](int64_t done, int64_t total) {
      std::fprintf(stderr, "\revaluating %lld/%lld", (long long)done, (long long)total);
      if (done == total) std::fprintf(stderr, "\n");
    };
    EvalResult r = evaluate(*lm.model, data, eo);
    std::printf("%lld puzzles, %.1f s\n", (long long)r.count, r.seconds);
    std::printf("%-26s %8s %8s %10s %8s\n", "", "exact", "token", "mean steps", "halting");
    const std::string all = "all " + std::to_string(c.halt_max_steps) + " steps (reference)";
    for (auto [name, h] : {std::pair{all.c_str(), &r.fixed}, {"ACT halting (q_halt)", &r.act}})
      std::printf("%-26s %8.4f %8.4f %10.2f %8.4f\n", name, h->exact_accuracy, h->token_accuracy,
                  h->mean_steps, h->halting_accuracy);
    std::printf("exact accuracy after each supervision step:\n");
    for (size_t k = 0; k < r.per_step_exact_accuracy.size(); ++k)
      std::printf("  step %2zu: %.4f\n", k + 1, r.per_step_exact_accuracy[k]);
    nlohmann::json j = r.to_json();
    task.finish(j, data, true);
    if (!o->submission.empty()) {
      const std::string text = task.arc_result().submission.dump() + "\n";
      write_file_atomic(o->submission, {{text.data(), text.size()}});
      std::printf("wrote %s\n", o->submission.c_str());
    }
    if (!o->halt.empty()) j["halting"] = run_halting_rules(*lm.model, data, *o, r);
    if (!o->json.empty()) {
      const std::string text = j.dump(2) + "\n";
      write_file_atomic(o->json, {{text.data(), text.size()}});
    }
    if (!o->plot.empty()) {
      PlotSpec p;
      p.title = "Accuracy after each supervision step";
      p.x_label = "supervision step";
      p.y_label = "accuracy";
      PlotSeries exact{"exact (puzzle solved)", {}, r.per_step_exact_accuracy};
      PlotSeries token{"token (cells right)", {}, r.per_step_token_accuracy};
      for (size_t k = 0; k < r.per_step_exact_accuracy.size(); ++k) {
        exact.x.push_back(double(k + 1));
        token.x.push_back(double(k + 1));
      }
      p.series = {exact, token};
      write_svg_plot(o->plot, p);
    }
  });
}

}  // namespace ponder::cli
