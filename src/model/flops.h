// Matmul FLOPs of a supervision step, counted analytically from the shapes (multiply-adds × 2),
// for benchmark reporting. Elementwise work is not counted.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace ponder {

struct StepFlops {
  double forward_block = 0;   // one block application, forward
  double backward_block = 0;  // its backward (input and weight gradients)
  double heads = 0;           // lm_head + q_head forward
  double train_step = 0;      // all no-grad calls + grad calls forward and backward + heads
  double eval_step = 0;       // every call forward, no backward
};

StepFlops count_step_flops(const ModelConfig& c, int64_t B);

}  // namespace ponder
