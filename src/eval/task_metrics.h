// Scores a task adds to evaluate()'s: ARC voting with pass@k (REFERENCE.md §9) for ARC models on
// an ARC dataset folder, and path validity for mazes. One TaskMetrics per evaluation, so votes
// never carry over from an earlier one.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "data/arc.h"
#include "eval/evaluate.h"

namespace ponder {

class TaskMetrics {
 public:
  // `data` is what the split was loaded from; `force_arc` asks for ARC scoring explicitly.
  TaskMetrics(const ModelConfig& c, const std::string& data, bool force_arc = false);
  bool arc() const { return voter_ != nullptr; }
  bool maze() const { return maze_side_ > 0; }
  // Sets eo.on_final to collect this task's predictions.
  void attach(EvalOptions& eo);
  // Adds the scores to `j` (`arc.pass@k`, `valid_shortest_path`) and prints them when `print`.
  void finish(nlohmann::json& j, const DatasetSplit& split, bool print);
  const ArcVoter::Result& arc_result() const { return arc_result_; }

 private:
  std::string data_;
  std::unique_ptr<ArcVoter> voter_;
  ArcVoter::Result arc_result_;
  int maze_side_ = 0;
  int64_t maze_rows_ = 0, maze_valid_ = 0;
};

}  // namespace ponder
