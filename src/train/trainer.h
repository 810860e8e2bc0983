// The training loop (REFERENCE.md §5–7): deep supervision with a carry that persists across
// optimizer steps, the reference's batching in chunks of eval_interval epochs, SignSGD +
// AdamATan2 + EMA with the warmup/cosine schedule, evaluation with the EMA weights after each
// chunk, JSON-lines metrics, a live progress line, and checkpoints at intervals, at evaluations
// and on SIGINT/SIGTERM, from which a run resumes bit-identically (same thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.h"
#include "model/model.h"
#include "train/run_config.h"

namespace ponder {

struct TrainerOptions {
  std::string out;                 // the run directory
  double minutes = 0;              // wall-time budget for training (0: none)
  int64_t max_steps = -1;          // stop after this optimizer step (-1: none)
  bool resume = false;             // continue the run in `out`
  bool force = false;              // start over in an `out` that holds a run
  double checkpoint_minutes = 10;  // periodic checkpoints
  bool progress = true;            // the live progress line on stderr
};

// Evaluates the given model (EMA weights in place) and returns the record to log, or null
// when there is no evaluation data.
using Evaluator = std::function<nlohmann::json(Model&)>;

enum class TrainExit { Finished, Budget, Interrupted };

class Trainer {
 public:
  Trainer(Ops& ops, RunConfig config, const DatasetSplit& train, TrainerOptions options,
          Evaluator evaluate);
  ~Trainer();
  TrainExit run();
  Model& model();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Steps the reference runs: int(epochs · total_groups · mean_puzzle_examples / global_batch_size).
// Whether SIGINT or SIGTERM arrived during Trainer::run(), for work (evaluation) that should stop early.
bool stop_requested();

int64_t total_train_steps(const TrainConfig& t, const DatasetMeta& m);

}  // namespace ponder
