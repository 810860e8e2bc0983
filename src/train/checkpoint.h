// Training checkpoints: everything needed to continue a run bit-identically — weights, AdamATan2
// moments and step, the EMA, the carry with its rows' data, the schedule position and the data
// order (the batcher's counters; all randomness is counter-based). One safetensors file, written
// atomically, with a CRC-32 of its data in the metadata so that a corrupted or truncated file is
// refused instead of resumed from.
#pragma once

#include <cstdint>
#include <string>

#include "data/batcher.h"
#include "model/model.h"
#include "train/act.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace ponder {

struct TrainProgress {
  int64_t step = 0;         // optimizer steps taken
  int64_t total_steps = 0;  // the reference's int(epochs·groups·mean_examples / batch)
  TrainBatcher::State batcher;
  double elapsed_seconds = 0;  // training wall time over all sessions
  bool finished = false;
};

// `carry` is the carry of the whole global batch (all ranks' rows).
void save_checkpoint(const std::string& path, Model& m, const RunConfig& config, Optimizer& opt,
                     const HostCarry& carry, const TrainProgress& progress);

// Restores into an existing model/optimizer of the checkpoint's configuration and returns the
// progress and the carry of the whole global batch (of `batch` rows). The config stored in the
// checkpoint is read with read_checkpoint_config first.
RunConfig read_checkpoint_config(const std::string& path);
TrainProgress load_checkpoint(const std::string& path, Model& m, Optimizer& opt, int64_t batch,
                              HostCarry* carry);

}  // namespace ponder
