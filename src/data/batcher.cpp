#include "data/batcher.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace ponder {

int32_t model_label(const DatasetMeta& m, uint8_t stored) {
  return m.ignore_label_id && int(stored) == *m.ignore_label_id ? -100 : int32_t(stored);
}

namespace {

void append_example(const DatasetSplit& d, int64_t example, int32_t puzzle_id, DataBatch* out) {
  const int64_t L = d.meta.seq_len;
  const uint8_t* in = d.inputs.data() + example * L;
  const uint8_t* lb = d.labels.data() + example * L;
  for (int64_t t = 0; t < L; ++t) {
    out->inputs.push_back(in[t]);
    out->labels.push_back(model_label(d.meta, lb[t]));
  }
  out->puzzle_ids.push_back(puzzle_id);
}

void start_batch(DataBatch* out, int64_t B, int64_t L) {
  out->B = B;
  out->L = L;
  out->real = 0;
  out->inputs.clear();
  out->labels.clear();
  out->puzzle_ids.clear();
  out->inputs.reserve(size_t(B * L));
  out->labels.reserve(size_t(B * L));
}

}  // namespace

TrainBatcher::TrainBatcher(const DatasetSplit& data, int64_t global_batch, int64_t epochs_per_chunk,
                           uint64_t seed, int rank, int world)
    : d_(data), global_batch_(global_batch), epochs_per_chunk_(epochs_per_chunk), seed_(seed),
      rank_(rank), world_(world) {
  PONDER_CHECK(global_batch >= 1, "global_batch_size must be at least 1");
  PONDER_CHECK(global_batch % world == 0, "global_batch_size ", global_batch,
               " must be a multiple of the number of ranks ", world);
  PONDER_CHECK(d_.groups() >= 1, "the training split has no puzzles");
  start_chunk(1);
}

void TrainBatcher::start_chunk(int64_t chunk) {
  st_ = State{chunk, 0, 0};
  perm_epoch_ = -1;
}

void TrainBatcher::restore(const State& s) {
  st_ = s;
  perm_epoch_ = -1;
}

int32_t TrainBatcher::group_at(int64_t position) {
  const int64_t G = d_.groups(), epoch = position / G;
  if (epoch != perm_epoch_) {
    // Fisher–Yates, its draws keyed by (seed, 2·chunk, epoch·G + i).
    const RandomStream rng(seed_, uint64_t(2 * st_.chunk));
    perm_.resize(size_t(G));
    std::iota(perm_.begin(), perm_.end(), 0);
    for (int64_t i = G - 1; i > 0; --i)
      std::swap(perm_[size_t(i)], perm_[size_t(rng.integer(uint64_t(epoch * G + i), 0, i))]);
    perm_epoch_ = epoch;
  }
  return perm_[size_t(position % G)];
}

bool TrainBatcher::next(DataBatch* out) {
  const int64_t total = d_.groups() * epochs_per_chunk_;
  const RandomStream rng(seed_, uint64_t(2 * st_.chunk + 1));
  std::vector<std::pair<int64_t, int32_t>> rows;  // (example, puzzle id) of the global batch
  rows.reserve(size_t(global_batch_));
  while (st_.position < total && int64_t(rows.size()) < global_batch_) {
    const int32_t g = group_at(st_.position++);
    const int32_t p0 = d_.group_indices[size_t(g)], p1 = d_.group_indices[size_t(g) + 1];
    const int32_t puzzle = p1 - p0 > 1 ? int32_t(rng.integer(uint64_t(st_.draws++), p0, p1 - 1)) : p0;
    const int32_t e0 = d_.puzzle_indices[size_t(puzzle)], size = d_.puzzle_indices[size_t(puzzle) + 1] - e0;
    const int64_t take = std::min<int64_t>(size, global_batch_ - int64_t(rows.size()));
    // The first `take` of a random permutation of the puzzle's examples.
    std::vector<int32_t> order(static_cast<size_t>(size));
    std::iota(order.begin(), order.end(), e0);
    for (int64_t i = 0; i < take && size > 1; ++i)
      std::swap(order[size_t(i)], order[size_t(rng.integer(uint64_t(st_.draws++), i, size - 1))]);
    for (int64_t i = 0; i < take; ++i) rows.push_back({order[size_t(i)], d_.puzzle_identifiers[size_t(puzzle)]});
  }
  if (int64_t(rows.size()) < global_batch_) return false;  // the chunk's last, short batch
  const int64_t local = global_batch_ / world_;
  start_batch(out, local, d_.meta.seq_len);
  for (int64_t r = rank_ * local; r < (rank_ + 1) * local; ++r)
    append_example(d_, rows[size_t(r)].first, rows[size_t(r)].second, out);
  out->real = local;
  return true;
}

int64_t TrainBatcher::batches_per_chunk_estimate() const {
  return int64_t(double(d_.groups() * epochs_per_chunk_) * d_.meta.mean_puzzle_examples) / global_batch_;
}

EvalBatcher::EvalBatcher(const DatasetSplit& data, int64_t global_batch, int64_t max_examples,
                         int rank, int world)
    : d_(data), global_batch_(global_batch), rank_(rank), world_(world) {
  PONDER_CHECK(global_batch % world == 0, "global_batch_size ", global_batch,
               " must be a multiple of the number of ranks ", world);
  total_ = d_.examples();
  if (max_examples >= 0) total_ = std::min(total_, max_examples);
}

bool EvalBatcher::next(DataBatch* out) {
  if (start_ >= total_) return false;
  const int64_t local = global_batch_ / world_, L = d_.meta.seq_len;
  const int64_t lo = start_ + rank_ * local, hi = std::min(start_ + (rank_ + 1) * local, total_);
  start_batch(out, local, L);
  // The puzzle of example e: the last puzzle whose first example is ≤ e.
  auto it = std::upper_bound(d_.puzzle_indices.begin(), d_.puzzle_indices.end(), int32_t(lo));
  int64_t puzzle = std::max<int64_t>(0, (it - d_.puzzle_indices.begin()) - 1);
  for (int64_t e = lo; e < hi; ++e) {
    while (d_.puzzle_indices[size_t(puzzle) + 1] <= e) ++puzzle;
    append_example(d_, e, d_.puzzle_identifiers[size_t(puzzle)], out);
  }
  out->real = std::max<int64_t>(0, hi - lo);
  for (int64_t r = out->real; r < local; ++r) {
    for (int64_t t = 0; t < L; ++t) {
      out->inputs.push_back(d_.meta.pad_id);
      out->labels.push_back(-100);
    }
    out->puzzle_ids.push_back(d_.meta.blank_identifier_id);
  }
  start_ += global_batch_;
  return true;
}

}  // namespace ponder
