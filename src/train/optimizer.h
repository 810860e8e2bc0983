// Optimisation (REFERENCE.md §7): AdamATan2 on every parameter, sparse SignSGD on the puzzle-table
// rows of the batch, an EMA of the parameters, and the warmup + cosine learning-rate schedule.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "train/run_config.h"

namespace ponder {

// Learning rate at `step` (1-based, as the reference increments before use): linear warmup, then
// cosine from base down to base·min_ratio at total_steps (constant when min_ratio = 1).
double schedule_lr(double base, int64_t step, int64_t warmup_steps, int64_t total_steps,
                   double min_ratio);

class Optimizer {
 public:
  Optimizer(Model& m, const TrainConfig& t);

  float* grads() { return grads_.data(); }
  void zero_grad();
  // One optimizer step after a backward: SignSGD on the rows of `ids` with the gradient rows
  // dprefix (B, ndim, host; duplicates summed), then AdamATan2, then the EMA update.
  void update(int64_t step, int64_t total_steps, const std::vector<int32_t>& ids,
              const float* dprefix);

  const float* ema() const { return ema_.data(); }  // null when the EMA is off
  float* ema() { return ema_.data(); }
  float* adam_m() { return m_.data(); }
  float* adam_v() { return v_.data(); }
  float adam_step() const { return adam_step_; }
  void set_adam_step(float t) { adam_step_ = t; }
  double last_lr() const { return last_lr_; }

 private:
  Model& model_;
  TrainConfig t_;
  DeviceArray<float> grads_, m_, v_, ema_;
  DeviceArray<int32_t> ids_dev_;
  DeviceArray<float> rows_dev_;
  float adam_step_ = 0.0f;  // the reference keeps it in fp32
  double last_lr_ = 0.0;
};

}  // namespace ponder
