#include "perf/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "data/arc.h"
#include "data/sudoku_dataset.h"
#include "model/flops.h"
#include "model/model.h"
#include "ops/ops.h"
#include "train/act.h"
#include "train/optimizer.h"
#include "train/presets.h"

namespace ponder {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

RunConfig with_data_fields(json j, int vocab, int seq_len, const std::string& name) {
  j["vocab_size"] = vocab;
  j["seq_len"] = seq_len;
  j["num_puzzle_identifiers"] = 1;
  return parse_run_config(j.dump(), "bench case " + name);
}

// Each run ends when the backend has finished it (a GPU runs ops asynchronously).
Timing timed(Ops& ops, const std::function<void()>& fn, int warmup, int repeats,
             const std::function<void()>& after_warmup = {}) {
  for (int i = 0; i < warmup; ++i) fn();
  ops.synchronize();
  if (after_warmup) after_warmup();
  Timing t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    fn();
    ops.synchronize();
    t.runs.push_back(seconds_since(t0));
  }
  return t;
}

// The resident-set high-water mark is reset per case through /proc/self/clear_refs (Linux ≥ 4.0);
// where that is unavailable the process-wide maximum from getrusage is reported instead.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}

double peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) * 1024.0;
}

Batch random_batch(const ModelConfig& c, int64_t B) {
  Batch b;
  b.B = B;
  b.L = c.seq_len;
  for (int64_t i = 0; i < B * c.seq_len; ++i) {
    b.inputs.push_back(int32_t(1 + i * 7 % (c.vocab_size - 1)));
    b.labels.push_back(int32_t(1 + i * 5 % (c.vocab_size - 1)));
  }
  b.puzzle_ids.assign(static_cast<size_t>(B), 0);
  return b;
}

}  // namespace

std::vector<BenchCase> standard_bench_cases() {
  const json trm_mlp = {{"arch", {{"name", "trm"}, {"mlp_t", true}, {"pos_encodings", "none"}}}};
  const json trm_att = {{"arch", {{"name", "trm"}}}};
  const json trm_att_n4 = {{"arch", {{"name", "trm"}, {"L_cycles", 4}}}};
  const json hrm = {{"arch", {{"name", "hrm"}}}};
  std::vector<BenchCase> cases = {
      {"trm_mlp_sudoku", with_data_fields(trm_mlp, kSudokuVocab, 81, "trm_mlp_sudoku"), 64},
      {"trm_att_sudoku", with_data_fields(trm_att, kSudokuVocab, 81, "trm_att_sudoku"), 64},
      {"trm_att_30x30_n4", with_data_fields(trm_att_n4, kArcVocab, kArcSeqLen, "trm_att_30x30_n4"),
       8},
      {"hrm_sudoku", with_data_fields(hrm, kSudokuVocab, 81, "hrm_sudoku"), 16},
  };
  RunConfig cpu = with_data_fields(preset_config("sudoku-cpu"), kSudokuVocab, 81, "sudoku-cpu");
  const int64_t batch = cpu.train.global_batch_size.value_or(64);
  cases.push_back({"sudoku-cpu", std::move(cpu), batch});
  return cases;
}

double Timing::median() const {
  std::vector<double> s = runs;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  if (n == 0) return 0;
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double Timing::min() const {
  return runs.empty() ? 0 : *std::min_element(runs.begin(), runs.end());
}

double BenchResult::puzzles_per_second() const {
  const double t = eval_step.median();
  return t > 0 ? double(batch) / (double(halt_max_steps) * t) : 0;
}

double measure_gemm_peak(Ops& ops, int64_t n, int rounds) {
  DeviceArray<float> a(ops, size_t(n * n)), b(ops, size_t(n * n)), c(ops, size_t(n * n));
  ops.fill(a.data(), 0.5f, a.size());
  ops.fill(b.data(), 0.25f, b.size());
  GemmArgs g;
  g.M = g.N = g.K = n;
  g.A = a.data();
  g.B = b.data();
  g.C = c.data();
  g.lda = g.ldb = g.ldc = n;
  const Timing t = timed(
      ops, [&] { ops.gemm(g); }, 1, rounds);
  return 2.0 * double(n) * double(n) * double(n) / t.min();
}

BenchResult run_bench_case(const BenchCase& c, int warmup, int repeats,
                           const std::function<std::unique_ptr<Ops>()>& make_ops, bool profile) {
  const ModelConfig& mc = c.config.model;
  BenchResult r;
  r.name = c.name;
  r.batch = c.batch;
  r.halt_max_steps = mc.halt_max_steps;
  const StepFlops f = count_step_flops(mc, c.batch);
  r.train_flops = f.train_step;
  r.eval_flops = f.eval_step;
  reset_peak_rss();
  {
    std::unique_ptr<Ops> ops = make_ops();
    ProfileOps* profiler = nullptr;
    if (profile) {
      auto p = std::make_unique<ProfileOps>(std::move(ops));
      profiler = p.get();
      ops = std::move(p);
    }
    Model m(*ops, mc);
    m.init_weights(0);
    Optimizer opt(m, c.config.train);
    const Batch batch = random_batch(mc, c.batch);
    Carry carry = make_carry(m, c.batch);
    StepOptions train;
    train.grad_scale = 1.0 / double(c.batch);
    int64_t step = 0;
    r.train_step = timed(
        *ops,
        [&] {
          opt.zero_grad();
          StepResult s = supervision_step(m, carry, batch, train, opt.grads());
          opt.update(++step, 1000, batch.puzzle_ids, s.dprefix.data());
        },
        warmup, repeats,
        [&] {
          if (profiler) profiler->reset();
        });
    if (profiler) {
      r.train_profile = profiler->rows();
      for (OpTime& t : r.train_profile) {
        t.calls /= double(repeats);
        t.seconds /= repeats;
        t.flops /= repeats;
      }
    }
    StepOptions eval;
    eval.train = false;
    eval.backward = false;
    Carry eval_carry = make_carry(m, c.batch);
    r.eval_step = timed(
        *ops, [&] { supervision_step(m, eval_carry, batch, eval, nullptr); }, warmup, repeats);
  }
  r.peak_rss_bytes = peak_rss_bytes();
  return r;
}

}  // namespace ponder
