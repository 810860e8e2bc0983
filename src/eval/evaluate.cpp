#include "eval/evaluate.h"

#include <algorithm>
#include <chrono>

namespace ponder {

bool wants_halt(const ModelConfig& c, float q_halt, float q_continue) {
  return c.act_continue() ? q_halt > q_continue : q_halt > 0.0f;
}

nlohmann::json EvalResult::to_json() const {
  auto halt = [](const HaltMetrics& h) {
    return nlohmann::json{{"exact_accuracy", h.exact_accuracy},
                          {"token_accuracy", h.token_accuracy},
                          {"mean_steps", h.mean_steps},
                          {"halting_accuracy", h.halting_accuracy}};
  };
  nlohmann::json j = halt(fixed);
  j["count"] = count;
  j["per_step_exact_accuracy"] = per_step_exact_accuracy;
  j["per_step_token_accuracy"] = per_step_token_accuracy;
  j["act"] = halt(act);
  j["seconds"] = seconds;
  return j;
}

EvalResult evaluate(Model& m, const DatasetSplit& split, const EvalOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& c = m.config();
  const int N = c.halt_max_steps;
  const int64_t L = c.seq_len;
  // A split smaller than one batch runs in one batch of its own size, not padded to batch_size.
  int64_t n_examples = split.examples();
  if (o.max_examples >= 0) n_examples = std::min(n_examples, o.max_examples);
  const int64_t batch_size = std::clamp<int64_t>(n_examples, 1, o.batch_size);
  EvalBatcher batcher(split, batch_size, o.max_examples);
  Carry carry = make_carry(m, batch_size);
  StepOptions so;
  so.train = false;
  so.backward = false;
  EvalResult r;
  std::vector<double> step_exact(size_t(N), 0.0), step_token(size_t(N), 0.0);
  HaltMetrics fixed, act;
  DataBatch batch;
  Batch b;
  int64_t done = 0;
  while (batcher.next(&batch)) {
    if (o.cancelled && o.cancelled()) {
      r.cancelled = true;
      break;
    }
    b.B = batch.B;
    b.L = batch.L;
    b.inputs = batch.inputs;
    b.labels = batch.labels;
    b.puzzle_ids = batch.puzzle_ids;
    std::fill(carry.halted.begin(), carry.halted.end(), 1);
    std::vector<uint8_t> stopped(size_t(batch.B), 0);
    std::vector<int64_t> n_valid(size_t(batch.B), 0);
    for (int64_t row = 0; row < batch.B; ++row)
      for (int64_t t = 0; t < L; ++t) n_valid[size_t(row)] += b.labels[size_t(row * L + t)] != -100;
    for (int k = 1; k <= N; ++k) {
      StepResult s = supervision_step(m, carry, b, so, nullptr);
      for (int64_t row = 0; row < batch.real; ++row) {
        if (n_valid[size_t(row)] == 0) continue;
        int64_t right = 0;
        for (int64_t t = 0; t < L; ++t) {
          const int32_t y = b.labels[size_t(row * L + t)];
          right += y != -100 && s.loss.preds[size_t(row * L + t)] == y;
        }
        const double tok = double(right) / double(n_valid[size_t(row)]);
        const bool exact = s.loss.seq_correct[size_t(row)];
        step_exact[size_t(k - 1)] += exact;
        step_token[size_t(k - 1)] += tok;
        const float qh = s.q_halt[size_t(row)], qc = s.q_continue[size_t(row)];
        const double halt_ok = (qh >= 0) == exact;
        if (k == N) {
          fixed.exact_accuracy += exact;
          fixed.token_accuracy += tok;
          fixed.mean_steps += N;
          fixed.halting_accuracy += halt_ok;
        }
        if (!stopped[size_t(row)] && (wants_halt(c, qh, qc) || k == N)) {
          stopped[size_t(row)] = 1;
          act.exact_accuracy += exact;
          act.token_accuracy += tok;
          act.mean_steps += k;
          act.halting_accuracy += halt_ok;
        }
      }
      if (k == N && o.on_final) o.on_final(batch, s);
    }
    for (int64_t row = 0; row < batch.real; ++row) r.count += n_valid[size_t(row)] > 0;
    done += batch.real;
    if (o.progress) o.progress(done, batcher.examples());
  }
  const double n = double(std::max<int64_t>(r.count, 1));
  for (HaltMetrics* h : {&fixed, &act}) {
    h->exact_accuracy /= n;
    h->token_accuracy /= n;
    h->mean_steps /= n;
    h->halting_accuracy /= n;
  }
  r.fixed = fixed;
  r.act = act;
  for (int k = 0; k < N; ++k) {
    r.per_step_exact_accuracy.push_back(step_exact[size_t(k)] / n);
    r.per_step_token_accuracy.push_back(step_token[size_t(k)] / n);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace ponder
