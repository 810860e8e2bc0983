// What `ponder step` runs: one supervision step (or a few) on a batch file, with everything a
// parity check needs written out — logits, q, loss, the new carry, every gradient, and the
// parameters after K optimizer steps. Exploration is off, so the result is deterministic.
#pragma once

#include <string>
#include <vector>

#include "core/array.h"
#include "io/host_tensor.h"
#include "model/model.h"
#include "train/act.h"
#include "train/run_config.h"

namespace ponder {

// A batch file: inputs (B, L) I32, labels (B, L) I32 (−100 = ignore), puzzle_identifiers (B) I32,
// and optionally a carry z_H, z_L (B, S, D) F32, steps (B) I32, halted (B) U8 — all four or none.
struct StepInput {
  Batch batch;
  bool has_carry = false;
  Array<float> zH, zL;
  std::vector<int32_t> steps;
  std::vector<uint8_t> halted;
};

StepInput read_step_input(const std::string& path, const ModelConfig& c);

struct SingleStepOptions {
  int optimizer_steps = 0;  // K training iterations on the same batch, the carry persisting
  bool eval = false;        // evaluation mode: no q halting, no gradients
  int chain = 1;            // evaluation only: steps run in a row; the last one is written
};

// The batch is the current data of every row; a fresh carry resets every row on the first step.
TensorMap run_single_step(Model& m, const TrainConfig& t, const StepInput& in,
                          const SingleStepOptions& o);

}  // namespace ponder
