// Evaluation on a dataset split (REFERENCE.md §5–6): every batch starts from a fresh carry and
// runs halt_max_steps supervision steps in evaluation mode. Reported: the reference's step-N_sup
// metrics, the accuracy after each supervision step, and the same metrics when each row stops
// on its own halting signal (TRM: q_halt > 0; HRM: q_halt > q_continue) — ACT halting.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/batcher.h"
#include "data/dataset.h"
#include "model/model.h"
#include "train/act.h"

namespace ponder {

struct EvalOptions {
  int64_t batch_size = 64;
  int64_t max_examples = -1;  // evaluate only the first N examples of the split
  // Called after each batch with (examples done, examples total).
  std::function<void(int64_t, int64_t)> progress;
  // Called after the last supervision step of each batch with its rows (padding rows last) and
  // their predictions, for task metrics such as ARC voting or maze path checks.
  std::function<void(const DataBatch&, const StepResult&)> on_final;
  // Checked before each batch: when it returns true, evaluation stops with `cancelled` set.
  std::function<bool()> cancelled;
};

struct HaltMetrics {
  double exact_accuracy = 0, token_accuracy = 0, mean_steps = 0, halting_accuracy = 0;
};

struct EvalResult {
  int64_t count = 0;  // evaluated rows (padding and rows without labels excluded)
  HaltMetrics fixed;  // after halt_max_steps steps, as the reference reports
  HaltMetrics act;    // each row stopped at its own halting step
  std::vector<double> per_step_exact_accuracy, per_step_token_accuracy;  // after step 1..N_sup
  double seconds = 0;
  bool cancelled = false;
  nlohmann::json to_json() const;
};

EvalResult evaluate(Model& m, const DatasetSplit& split, const EvalOptions& o);

// Whether a row wants to stop, from its q logits.
bool wants_halt(const ModelConfig& c, float q_halt, float q_continue);

}  // namespace ponder
