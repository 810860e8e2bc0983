#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace ponder {

double schedule_lr(double base, int64_t step, int64_t warmup_steps, int64_t total_steps,
                   double min_ratio) {
  if (step < warmup_steps) return base * double(step) / double(std::max<int64_t>(1, warmup_steps));
  const double progress =
      double(step - warmup_steps) / double(std::max<int64_t>(1, total_steps - warmup_steps));
  return base * (min_ratio + std::max(0.0, (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress))));
}

Optimizer::Optimizer(Model& m, const TrainConfig& t) : model_(m), t_(t) {
  Ops& ops = m.ops();
  const size_t n = m.layout().total();
  grads_ = DeviceArray<float>(ops, n);
  m_ = DeviceArray<float>(ops, n);
  v_ = DeviceArray<float>(ops, n);
  if (t_.ema) {
    ema_ = DeviceArray<float>(ops, n);
    ops.copy(ema_.data(), m.params(), n * sizeof(float));
  }
}

void Optimizer::zero_grad() { model_.ops().fill(grads_.data(), 0.0f, grads_.size()); }

void Optimizer::update(int64_t step, int64_t total_steps, const std::vector<int32_t>& ids,
                       const float* dprefix) {
  Ops& ops = model_.ops();
  const ModelConfig& c = model_.config();
  const int64_t ndim = c.puzzle_emb_ndim;
  auto lr_of = [&](double base) {
    return schedule_lr(base, step, t_.lr_warmup_steps, total_steps, t_.lr_min_ratio);
  };

  if (ndim > 0) {
    // Sum the gradients of duplicate ids in batch order, as scatter_add does.
    std::map<int32_t, std::vector<float>> rows;
    for (size_t r = 0; r < ids.size(); ++r) {
      auto [it, fresh] = rows.try_emplace(ids[r], std::vector<float>(size_t(ndim), 0.0f));
      for (int64_t j = 0; j < ndim; ++j) it->second[size_t(j)] += dprefix[r * size_t(ndim) + size_t(j)];
    }
    std::vector<int32_t> uniq;
    std::vector<float> flat;
    for (auto& [id, g] : rows) {
      uniq.push_back(id);
      flat.insert(flat.end(), g.begin(), g.end());
    }
    if (ids_dev_.size() < uniq.size()) {
      ids_dev_ = DeviceArray<int32_t>(ops, uniq.size());
      rows_dev_ = DeviceArray<float>(ops, flat.size());
    }
    ids_dev_.upload(uniq.data(), uniq.size());
    rows_dev_.upload(flat.data(), flat.size());
    ops.signsgd_rows(model_.puzzle_table(), ids_dev_.data(), rows_dev_.data(), int64_t(uniq.size()),
                     ndim, lr_of(t_.puzzle_emb_lr), t_.puzzle_emb_weight_decay);
  }

  last_lr_ = lr_of(t_.lr);
  if (!t_.freeze_weights) {
    // adam-atan2's kernel: scalars in double, rounded to fp32 once.
    adam_step_ += 1.0f;
    const double lr = last_lr_, b1 = t_.beta1, b2 = t_.beta2;
    const double bc1 = 1.0 - std::pow(b1, double(adam_step_));
    const double bc2 = 1.0 - std::pow(b2, double(adam_step_));
    ops.adam_atan2(model_.params(), grads_.data(), m_.data(), v_.data(), grads_.size(),
                   float(lr / bc1), float(1.0 - lr * t_.weight_decay), float(1.0 - b1),
                   float(1.0 - b2), float(std::sqrt(bc2)));
    model_.params_changed();
  }
  if (t_.ema) ops.ema_update(ema_.data(), model_.params(), ema_.size(), t_.ema_rate);
}

}  // namespace ponder
