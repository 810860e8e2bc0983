#include "train/loss.h"

#include <cmath>

namespace ponder {

namespace {

// s(x) = x + 1 for x ≥ 0, 1/(1 − x) for x < 0 (with the reference's 1e-30), and its derivative.
inline double stablemax_s(double x) { return x < 0 ? 1.0 / (1.0 - x + 1e-30) : x + 1.0; }
inline double stablemax_ds(double x) {
  if (x >= 0) return 1.0;
  const double u = 1.0 - x + 1e-30;
  return 1.0 / (u * u);
}

// BCE with logits: max(x, 0) − x·z + log(1 + exp(−|x|)); d/dx = σ(x) − z.
inline double bce(double x, double z) { return std::max(x, 0.0) - x * z + std::log1p(std::exp(-std::fabs(x))); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

LossResult act_loss(const LossInputs& in, double grad_scale, float* dlogits, float* dq) {
  const int64_t B = in.B, L = in.L, V = in.V;
  LossResult r;
  r.seq_correct.assign(size_t(B), 0);
  r.preds.assign(size_t(B * L), 0);
  std::vector<double> p(static_cast<size_t>(V));
  for (int64_t b = 0; b < B; ++b) {
    int64_t n_valid = 0, n_correct = 0;
    for (int64_t t = 0; t < L; ++t) {
      const float* x = in.logits + (b * L + t) * V;
      int32_t best = 0;
      for (int32_t v = 1; v < V; ++v) best = x[v] > x[best] ? v : best;
      r.preds[size_t(b * L + t)] = best;
      const int32_t y = in.labels[b * L + t];
      if (y != kIgnoreLabel) {
        ++n_valid;
        n_correct += best == y;
      }
    }
    const bool correct = n_correct == n_valid;
    r.seq_correct[size_t(b)] = correct;
    const double divisor = double(std::max<int64_t>(n_valid, 1));

    double row_ce = 0;
    for (int64_t t = 0; t < L; ++t) {
      const float* x = in.logits + (b * L + t) * V;
      float* dx = dlogits ? dlogits + (b * L + t) * V : nullptr;
      const int32_t y = in.labels[b * L + t];
      if (y == kIgnoreLabel) {
        if (dx)
          for (int64_t v = 0; v < V; ++v) dx[v] = 0.0f;
        continue;
      }
      const double w = grad_scale / divisor;
      if (in.type == LossType::Stablemax) {
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += (p[size_t(v)] = stablemax_s(double(x[v])));
        row_ce -= std::log(p[size_t(y)] / sum);
        if (dx) {
          // ∂/∂x_v [log Σ s − log s_y] = s'(x_v)/Σ s − [v = y]·s'(x_y)/s(x_y)
          for (int64_t v = 0; v < V; ++v) {
            double g = stablemax_ds(double(x[v])) / sum;
            if (v == y) g -= stablemax_ds(double(x[v])) / p[size_t(v)];
            dx[v] = float(w * g);
          }
        }
      } else {
        double mx = x[0];
        for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(x[v]));
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += (p[size_t(v)] = std::exp(double(x[v]) - mx));
        row_ce -= double(x[y]) - mx - std::log(sum);
        if (dx)
          for (int64_t v = 0; v < V; ++v)
            dx[v] = float(w * (p[size_t(v)] / sum - (v == y ? 1.0 : 0.0)));
      }
    }
    r.metrics.lm_loss += row_ce / divisor;

    const double q_halt = in.q[2 * b], q_cont = in.q[2 * b + 1];
    r.metrics.q_halt_loss += bce(q_halt, correct ? 1.0 : 0.0);
    double d_halt = 0.5 * grad_scale * (sigmoid(q_halt) - (correct ? 1.0 : 0.0)), d_cont = 0.0;
    if (in.target_q_continue) {
      const double z = in.target_q_continue[b];
      r.metrics.q_continue_loss += bce(q_cont, z);
      d_cont = 0.5 * grad_scale * (sigmoid(q_cont) - z);
    }
    if (dq) {
      dq[2 * b] = float(d_halt);
      dq[2 * b + 1] = float(d_cont);
    }

    if (in.halted[b] && n_valid > 0) {
      r.metrics.count += 1;
      r.metrics.accuracy += double(n_correct) / divisor;
      r.metrics.exact_accuracy += correct;
      r.metrics.q_halt_accuracy += (q_halt >= 0) == correct;
      r.metrics.steps += in.steps[b];
    }
  }
  r.total = r.metrics.lm_loss + 0.5 * (r.metrics.q_halt_loss + r.metrics.q_continue_loss);
  return r;
}

}  // namespace ponder
