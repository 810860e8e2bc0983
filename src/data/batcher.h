// Batches from a dataset split, with the references' semantics (REFERENCE.md §8.2).
// Training, per chunk of `epochs_per_chunk` epochs: one permutation of the groups per epoch;
// each group contributes one uniformly chosen version (puzzle), whose examples are appended in
// random order until the batch holds exactly global_batch_size (the last puzzle may be cut);
// a chunk's final short batch is dropped. Draws come from a counter-based RNG keyed by
// (seed, chunk, draw), so the batcher's whole state is three integers. Evaluation: consecutive
// slices in file order, the last one padded.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "data/dataset.h"

namespace ponder {

struct DataBatch {
  int64_t B = 0, L = 0;
  std::vector<int32_t> inputs, labels, puzzle_ids;  // labels: ignore_label_id → −100
  int64_t real = 0;                                 // rows that are not padding
};

class TrainBatcher {
 public:
  struct State {
    int64_t chunk = 0;     // 1-based, as the reference counts iterations
    int64_t position = 0;  // groups consumed in this chunk
    int64_t draws = 0;     // RNG draws used in this chunk
  };

  TrainBatcher(const DatasetSplit& data, int64_t global_batch, int64_t epochs_per_chunk,
               uint64_t seed, int rank = 0, int world = 1);
  // The next batch of the current chunk (this rank's slice), or false when the chunk is done.
  bool next(DataBatch* out);
  void start_chunk(int64_t chunk);
  State state() const { return st_; }
  void restore(const State& s);
  int64_t batches_per_chunk_estimate() const;

 private:
  int32_t group_at(int64_t position);
  const DatasetSplit& d_;
  int64_t global_batch_, epochs_per_chunk_;
  uint64_t seed_;
  int rank_, world_;
  State st_;
  int64_t perm_epoch_ = -1;
  std::vector<int32_t> perm_;
};

class EvalBatcher {
 public:
  EvalBatcher(const DatasetSplit& data, int64_t global_batch, int64_t max_examples = -1,
              int rank = 0, int world = 1);
  bool next(DataBatch* out);
  int64_t examples() const { return total_; }

 private:
  const DatasetSplit& d_;
  int64_t global_batch_, total_, start_ = 0;
  int rank_, world_;
};

// Converts stored labels (uint8) for the model: ignore_label_id becomes −100.
int32_t model_label(const DatasetMeta& m, uint8_t stored);

}  // namespace ponder
