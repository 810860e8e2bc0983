// `ponder bench`: time of a training supervision step and of an evaluation step on the standard
// configurations, achieved matmul GFLOP/s against this machine's fp32 peak measured in the same
// run, peak memory, and inference puzzles/s of the fixed 16-step procedure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "perf/op_profile.h"
#include "perf/peak.h"
#include "train/run_config.h"

namespace ponder {

struct BenchCase {
  std::string name;
  RunConfig config;  // with the dataset fields filled in
  int64_t batch;
};

// TRM-MLP Sudoku D 512 batch 64, TRM-Att Sudoku batch 64, TRM-Att 30×30 n 4 batch 8, HRM Sudoku
// batch 16, and the `sudoku-cpu` preset at its batch.
std::vector<BenchCase> standard_bench_cases();

// FLOP/s of the backend's own GEMM on an n×n×n product at its matmul precision, the best of
// `rounds`: a GPU's attainable matrix peak (tensor cores in bf16).
double measure_gemm_peak(Ops& ops, int64_t n, int rounds);

struct Timing {
  std::vector<double> runs;  // seconds
  double median() const;
  double min() const;
};

struct BenchResult {
  std::string name;
  int64_t batch = 0;
  Timing train_step, eval_step;
  double train_flops = 0, eval_flops = 0;  // matmul FLOPs per step
  double peak_rss_bytes = 0;               // high-water mark of this case (train + eval)
  int64_t halt_max_steps = 0;
  // Fixed-16-step inference: batch / (halt_max_steps · median eval step).
  double puzzles_per_second() const;
  // With profiling: the ops of one training step (averaged over the timed runs), slowest first.
  std::vector<OpTime> train_profile;
};

// `make_ops` makes a fresh backend for the case, so that its memory is measured from zero.
// `profile` times every op of the training steps (ProfileOps; it waits for each op, so on a GPU
// the step times then include those waits).
BenchResult run_bench_case(const BenchCase& c, int warmup, int repeats,
                           const std::function<std::unique_ptr<Ops>()>& make_ops,
                           bool profile = false);

}  // namespace ponder
