// The ACT wrapper (REFERENCE.md §5): the carry that persists across supervision steps, and one
// supervision step — reset halted rows, run the inner model, count steps, decide halting, the
// loss and its gradient.
#pragma once

#include <cstdint>
#include <vector>

#include "core/array.h"
#include "model/model.h"
#include "train/loss.h"

namespace ponder {

// A batch on the host: inputs and labels (B, L), puzzle ids (B).
struct Batch {
  int64_t B = 0, L = 0;
  std::vector<int32_t> inputs, labels, puzzle_ids;
};
// Rows [first, first + n) of a batch (a rank's part of the global batch).
Batch rows_of(const Batch& b, int64_t first, int64_t n);

struct Carry {
  int64_t B = 0;
  DeviceArray<float> zH, zL;    // (B, S, D): y and z
  std::vector<int32_t> steps;   // (B) supervision steps taken by the row's current puzzle
  std::vector<uint8_t> halted;  // (B) a halted row is reset on the next step
  Batch data;                   // the puzzle each row is working on
  // device staging, sized once
  DeviceArray<int32_t> tokens_dev, ids_dev;
  DeviceArray<float> dlogits_dev, dq_dev, dprefix_dev, zH_tmp, zL_tmp;
};

// A fresh carry: every row halted, so the first step resets them all.
Carry make_carry(Model& m, int64_t B);

// A carry's state on the host — for checkpoints, and for rows moving between the ranks of a
// data-parallel run (rank r holds rows [r·B, (r+1)·B) of the global batch).
struct HostCarry {
  int64_t B = 0;
  std::vector<float> zH, zL;    // (B, S, D)
  std::vector<int32_t> steps;   // (B)
  std::vector<uint8_t> halted;  // (B)
  Batch data;
};
HostCarry download_carry(const Carry& c);
// Sets every row of `c` from rows [first, first + c.B) of `h`.
void upload_carry(Carry& c, const HostCarry& h, int64_t first);

struct StepOptions {
  bool train = true;     // training mode: halting by q, and the q_continue target
  bool explore = false;  // exploration (training only); off gives deterministic halting
  uint64_t seed = 0;     // exploration draws are keyed by (seed, step, row)
  uint64_t step = 0;
  int64_t first_row = 0;    // this carry's first row in the global batch (exploration draws)
  bool backward = true;     // accumulate gradients (training only)
  double grad_scale = 1.0;  // 1 / global_batch_size
};

struct StepResult {
  Array<float> logits;                    // (B, L, V)
  std::vector<float> q_halt, q_continue;  // (B)
  std::vector<float> target_q_continue;   // (B), empty when not computed
  LossResult loss;
  Array<float> dprefix;  // (B, ndim) with backward
};

// `grads` (device, the model's layout) receives += gradients when opt.backward.
StepResult supervision_step(Model& m, Carry& carry, const Batch& incoming, const StepOptions& opt,
                            float* grads);

}  // namespace ponder
