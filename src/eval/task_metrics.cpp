#include "eval/task_metrics.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "data/maze.h"

namespace ponder {

TaskMetrics::TaskMetrics(const ModelConfig& c, const std::string& data, bool force_arc)
    : data_(data) {
  namespace fs = std::filesystem;
  if (force_arc || (is_arc_model(c.vocab_size, c.seq_len) &&
                    fs::exists(data + "/identifiers.json") && fs::exists(data + "/test"))) {
    PONDER_CHECK(fs::is_directory(data), data,
                 ": ARC scoring needs a dataset folder built by `ponder data arc`");
    voter_ = std::make_unique<ArcVoter>(read_identifiers(data));
  }
  maze_side_ = maze_side(c.vocab_size, c.seq_len);
}

void TaskMetrics::attach(EvalOptions& eo) {
  if (voter_)
    eo.on_final = [this](const DataBatch& b, const StepResult& s) {
      for (int64_t r = 0; r < b.real; ++r)
        voter_->add(b.puzzle_ids[size_t(r)], &b.inputs[size_t(r * b.L)],
                    &s.loss.preds[size_t(r * b.L)],
                    1.0 / (1.0 + std::exp(-double(s.q_halt[size_t(r)]))));
    };
  // Mazes: a prediction may differ from the label and still be a shortest path.
  if (maze_side_)
    eo.on_final = [this](const DataBatch& b, const StepResult& s) {
      for (int64_t r = 0; r < b.real; ++r) {
        const std::string q = maze_from_tokens(&b.inputs[size_t(r * b.L)], maze_side_);
        maze_rows_++;
        maze_valid_ += maze_valid_path(
            q, maze_from_tokens(&s.loss.preds[size_t(r * b.L)], maze_side_), maze_side_);
      }
    };
}

void TaskMetrics::finish(nlohmann::json& j, const DatasetSplit& split, bool print) {
  if (maze_side_) {
    j["valid_shortest_path"] = double(maze_valid_) / double(std::max<int64_t>(maze_rows_, 1));
    if (print)
      std::printf("predicted paths that are valid shortest paths: %.4f (%lld of %lld)\n",
                  j["valid_shortest_path"].get<double>(), (long long)maze_valid_,
                  (long long)maze_rows_);
  }
  if (!voter_) return;
  arc_result_ = voter_->result(arc_test_puzzles(data_, split, voter_->identifiers()));
  const ArcVoter::Result& a = arc_result_;
  j["arc"] = a.to_json();
  if (!print) return;
  std::printf("ARC: %lld tasks, %lld test inputs", (long long)a.tasks, (long long)a.test_inputs);
  if (a.unanswered) std::printf(", %lld without predictions", (long long)a.unanswered);
  std::printf("\n  %-9s %14s %16s\n", "", "per test input", "whole task (HRM)");
  for (size_t k = 0; k < a.ks.size(); ++k)
    std::printf("  pass@%-4d %14.4f %16.4f\n", a.ks[k], a.pass_trm[k], a.pass_hrm[k]);
}

}  // namespace ponder
