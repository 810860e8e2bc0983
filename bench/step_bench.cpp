// Step-time benchmarks on the standard configurations (D = 512): one training supervision step
// (forward through all cycles, loss, backward through the gradient cycle, optimizer update) and
// one no-grad cycle (an evaluation step divided by H_cycles), with achieved matmul GFLOP/s.
//   build/bench/ponder_bench [--benchmark_filter=...]      (OMP_NUM_THREADS sets the threads)
#include <benchmark/benchmark.h>

#include <memory>

#include "model/flops.h"
#include "model/model.h"
#include "ops/ops.h"
#include "train/act.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace ponder {
namespace {

struct Standard {
  const char* name;
  const char* json;
  int64_t batch;
};

const Standard kConfigs[] = {
    {"trm_mlp_sudoku",
     R"({"arch": {"name": "trm", "mlp_t": true, "pos_encodings": "none"}, "vocab_size": 11,
         "seq_len": 81, "num_puzzle_identifiers": 1})", 64},
    {"trm_att_sudoku", R"({"arch": {"name": "trm"}, "vocab_size": 11, "seq_len": 81,
         "num_puzzle_identifiers": 1})", 64},
    {"trm_att_30x30_n4", R"({"arch": {"name": "trm", "L_cycles": 4}, "vocab_size": 12,
         "seq_len": 900, "num_puzzle_identifiers": 1})", 8},
    {"hrm_sudoku", R"({"arch": {"name": "hrm"}, "vocab_size": 11, "seq_len": 81,
         "num_puzzle_identifiers": 1})", 64},
};

Batch random_batch(const ModelConfig& c, int64_t B) {
  Batch b;
  b.B = B;
  b.L = c.seq_len;
  for (int64_t i = 0; i < B * c.seq_len; ++i) {
    b.inputs.push_back(int32_t(1 + i * 7 % (c.vocab_size - 1)));
    b.labels.push_back(int32_t(1 + i * 5 % (c.vocab_size - 1)));
  }
  b.puzzle_ids.assign(size_t(B), 0);
  return b;
}

void train_step(benchmark::State& state, const Standard& s) {
  RunConfig rc = parse_run_config(s.json, s.name);
  auto ops = make_cpu_ops();
  Model m(*ops, rc.model);
  m.init_weights(0);
  Optimizer opt(m, rc.train);
  Carry carry = make_carry(m, s.batch);
  Batch batch = random_batch(rc.model, s.batch);
  StepOptions so;
  so.grad_scale = 1.0 / double(s.batch);
  int64_t step = 0;
  for (auto _ : state) {
    opt.zero_grad();
    StepResult r = supervision_step(m, carry, batch, so, opt.grads());
    opt.update(++step, 1000, carry.data.puzzle_ids, r.dprefix.data());
  }
  const StepFlops f = count_step_flops(rc.model, s.batch);
  state.counters["GFLOP/s"] =
      benchmark::Counter(f.train_step * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = f.train_step * 1e-9;
}

void nograd_cycle(benchmark::State& state, const Standard& s) {
  RunConfig rc = parse_run_config(s.json, s.name);
  auto ops = make_cpu_ops();
  Model m(*ops, rc.model);
  m.init_weights(0);
  Carry carry = make_carry(m, s.batch);
  Batch batch = random_batch(rc.model, s.batch);
  StepOptions so;
  so.train = false;
  so.backward = false;
  for (auto _ : state) supervision_step(m, carry, batch, so, nullptr);
  const StepFlops f = count_step_flops(rc.model, s.batch);
  const double cycles = rc.model.H_cycles;
  state.counters["s/cycle"] = benchmark::Counter(
      cycles, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["GFLOP/s"] =
      benchmark::Counter(f.eval_step * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

int register_all() {
  for (const Standard& s : kConfigs) {
    benchmark::RegisterBenchmark((std::string("train_step/") + s.name).c_str(),
                                 [&s](benchmark::State& st) { train_step(st, s); })
        ->Unit(benchmark::kSecond)
        ->Iterations(3)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("nograd_cycle/") + s.name).c_str(),
                                 [&s](benchmark::State& st) { nograd_cycle(st, s); })
        ->Unit(benchmark::kSecond)
        ->Iterations(3)
        ->UseRealTime();
  }
  return 0;
}
const int registered = register_all();

}  // namespace
}  // namespace ponder

BENCHMARK_MAIN();
