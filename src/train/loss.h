// The ACT loss head (REFERENCE.md §6), on the host: stablemax cross-entropy in fp64 (or softmax
// CE) normalised per row, BCE halting losses, the reference's metrics, and the gradient of
// loss·grad_scale with respect to the logits and the q logits.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace ponder {

constexpr int32_t kIgnoreLabel = -100;

struct LossInputs {
  int64_t B = 0, L = 0, V = 0;
  const float* logits = nullptr;            // (B, L, V)
  const int32_t* labels = nullptr;          // (B, L), kIgnoreLabel = not supervised
  const float* q = nullptr;                 // (B, 2): q_halt, q_continue
  const float* target_q_continue = nullptr; // (B) or null: no q_continue loss
  const uint8_t* halted = nullptr;          // (B) after this step: selects the metric rows
  const int32_t* steps = nullptr;           // (B) after this step
  LossType type = LossType::Stablemax;
};

// Sums, as the reference's metrics dict holds them before normalisation.
struct LossMetrics {
  double count = 0, accuracy = 0, exact_accuracy = 0, q_halt_accuracy = 0, steps = 0;
  double lm_loss = 0, q_halt_loss = 0, q_continue_loss = 0;
};

struct LossResult {
  double total = 0;  // lm_loss + 0.5·(q_halt_loss + q_continue_loss), before grad_scale
  LossMetrics metrics;
  std::vector<uint8_t> seq_correct;  // (B) every supervised token predicted right
  std::vector<int32_t> preds;        // (B, L) argmax, first index on ties
};

// With dlogits (B, L, V) and dq (B, 2) non-null, writes the gradient of total·grad_scale.
LossResult act_loss(const LossInputs& in, double grad_scale, float* dlogits, float* dq);

}  // namespace ponder
