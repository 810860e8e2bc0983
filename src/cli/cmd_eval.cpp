// `ponder eval MODEL DATA`: exact and token accuracy, mean steps and halting accuracy after
// halt_max_steps steps and with ACT halting, the accuracy after each supervision step, as a table,
// JSON and an SVG plot; for ARC, pass@k after voting across versions and a submission file; for
// mazes, how many predicted paths are valid shortest paths.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "data/arc.h"
#include "data/maze.h"
#include "data/sources.h"
#include "eval/evaluate.h"
#include "eval/plot.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include "train/model_file.h"

namespace ponder::cli {

void add_eval_command(CLI::App& app) {
  struct Options {
    std::string model, data, json, plot, submission;
    int64_t batch = 64, max_puzzles = -1;
    bool skip_bad = false, arc = false;
  };
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
  cmd->callback([o] {
    auto ops = make_cpu_ops();
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
    const bool arc = o->arc || (c.vocab_size == kArcVocab && c.seq_len == kArcSeqLen &&
                                std::filesystem::exists(o->data + "/identifiers.json"));
    PONDER_CHECK(!arc || std::filesystem::is_directory(o->data), o->data,
                 ": ARC scoring needs a dataset folder built by `ponder data arc`");
    PONDER_CHECK(arc || o->submission.empty(), "--submission is for ARC models");
    std::optional<ArcVoter> voter;
    if (arc) {
      voter.emplace(read_identifiers(o->data));
      eo.on_final = [&](const DataBatch& b, const StepResult& s) {
        for (int64_t r = 0; r < b.real; ++r)
          voter->add(b.puzzle_ids[size_t(r)], &b.inputs[size_t(r * b.L)],
                     &s.loss.preds[size_t(r * b.L)],
                     1.0 / (1.0 + std::exp(-double(s.q_halt[size_t(r)]))));
      };
    }
    // Mazes: a prediction may differ from the label and still be a shortest path.
    const int side = int(std::lround(std::sqrt(double(c.seq_len))));
    const bool maze = c.vocab_size == kMazeVocab && side * side == c.seq_len;
    int64_t maze_rows = 0, maze_valid = 0;
    if (maze)
      eo.on_final = [&](const DataBatch& b, const StepResult& s) {
        for (int64_t r = 0; r < b.real; ++r) {
          const std::string q = maze_from_tokens(&b.inputs[size_t(r * b.L)], side);
          maze_rows++;
          maze_valid +=
              maze_valid_path(q, maze_from_tokens(&s.loss.preds[size_t(r * b.L)], side), side);
        }
      };
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
    if (maze) {
      j["valid_shortest_path"] = double(maze_valid) / double(std::max<int64_t>(maze_rows, 1));
      std::printf("predicted paths that are valid shortest paths: %.4f (%lld of %lld)\n",
                  j["valid_shortest_path"].get<double>(), (long long)maze_valid,
                  (long long)maze_rows);
    }
    if (voter) {
      const DatasetSplit& test = data;
      ArcVoter::Result a =
          voter->result(arc_test_puzzles(o->data, test, read_identifiers(o->data)));
      std::printf(
          "ARC: %lld tasks, %lld test inputs%s\n", (long long)a.tasks, (long long)a.test_inputs,
          a.unanswered ? (", " + std::to_string(a.unanswered) + " without predictions").c_str()
                       : "");
      std::printf("  %-8s %14s %16s\n", "", "per test input", "whole task (HRM)");
      for (size_t k = 0; k < a.ks.size(); ++k)
        std::printf("  pass@%-4d %13.4f %16.4f\n", a.ks[k], a.pass_trm[k], a.pass_hrm[k]);
      j["arc"] = a.to_json();
      if (!o->submission.empty()) {
        const std::string text = a.submission.dump() + "\n";
        write_file_atomic(o->submission, {{text.data(), text.size()}});
        std::printf("wrote %s\n", o->submission.c_str());
      }
    }
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
