// `ponder bench`: step times, GFLOP/s against the measured fp32 peak, peak memory and inference
// puzzles/s on the standard configurations (src/perf/bench.h). --json keeps every run and each
// case's run configuration, which bench/compare_pytorch.sh hands to the PyTorch reference.
#include <omp.h>

#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "perf/bench.h"

namespace ponder::cli {
namespace {

struct Options {
  std::vector<std::string> only;
  int repeats = 5, warmup = 1;
  int64_t batch = 0;  // 0: each case's own
  double peak_seconds = 0.5;
  std::string json;
  bool list = false;
  bool profile = false;
};

std::vector<BenchCase> selected_cases(const Options& o) {
  std::vector<BenchCase> all = standard_bench_cases(), out;
  std::string names;
  for (const BenchCase& c : all) names += (names.empty() ? "" : ", ") + c.name;
  for (const std::string& n : o.only) {
    auto it = std::find_if(all.begin(), all.end(), [&](const BenchCase& c) { return c.name == n; });
    PONDER_CHECK(it != all.end(), "--case: no bench case named '", n, "' (cases: ", names, ")");
  }
  for (BenchCase& c : all)
    if (o.only.empty() || std::find(o.only.begin(), o.only.end(), c.name) != o.only.end()) {
      if (o.batch > 0) c.batch = o.batch;
      out.push_back(std::move(c));
    }
  return out;
}

// The ops that take ≥ 0.5% of a training step, then the rest in one line.
void print_profile(const std::vector<OpTime>& rows) {
  double total = 0;
  for (const OpTime& r : rows) total += r.seconds;
  std::printf("  %-44s %6s %10s %6s %8s\n", "op (one training step)", "calls", "time", "share",
              "GFLOP/s");
  const auto share = [&](double s) { return total > 0 ? 100 * s / total : 0.0; };
  double rest = 0, rest_calls = 0;
  for (const OpTime& r : rows) {
    if (r.seconds < 0.005 * total) {
      rest += r.seconds;
      rest_calls += r.calls;
      continue;
    }
    std::printf("  %-44s %6.1f %9.1fms %5.1f%%", r.op.c_str(), r.calls, r.seconds * 1e3,
                share(r.seconds));
    if (r.flops > 0 && r.seconds > 0) std::printf(" %8.1f", r.flops / r.seconds * 1e-9);
    std::printf("\n");
  }
  std::printf("  %-44s %6.1f %9.1fms %5.1f%%\n", "(the rest)", rest_calls, rest * 1e3, share(rest));
}

nlohmann::json timing_json(const Timing& t) {
  return {{"median_s", t.median()}, {"min_s", t.min()}, {"runs", t.runs}};
}

void run(const Options& o) {
  const std::vector<BenchCase> cases = selected_cases(o);
  if (o.list) {
    for (const BenchCase& c : cases)
      std::printf("%-18s batch %-3lld %s\n", c.name.c_str(), (long long)c.batch,
                  nlohmann::json::parse(run_config_json(c.config)).dump().c_str());
    return;
  }
  const int threads = omp_get_max_threads();
  const bool gpu = device() == Device::Cuda;
  const char* matmul = matmul_precision_name(matmul_precision());
  // The peak each step is held against: the CPU's fp32 FMA rate, or the GPU's own GEMM rate at
  // the chosen precision. It is read before the first case and after every case, and each case
  // is held against the highest reading so far (PeakReadings).
  const std::string peak_source = gpu ? std::string("cuBLAS 8192³ GEMM, ") + matmul
                                      : std::string("fp32 FMA loop on every thread");
  PeakReadings peak;
  const auto read_peak = [&] {
    peak.add(gpu ? measure_gemm_peak(*make_backend(), 8192, 5) : measure_fp32_peak(o.peak_seconds));
  };
  read_peak();
  // Which precision is faster on a CPU: bf16 where it has AMX, or where its bf16 dot products
  // outrun its FMAs (docs/PERF.md v0.8, v0.13).
  std::string where = "cuda";
  double bf16_dot_peak = 0;
  if (!gpu) {
    where = std::string("cpu (oneDNN ISA ") + cpu_matmul_isa() + ")";
    bf16_dot_peak = measure_bf16_dot_peak(o.peak_seconds);
    if (bf16_dot_peak > 0) {
      char dots[64];
      std::snprintf(dots, sizeof dots, ", bf16 dot products %.1f GFLOP/s", bf16_dot_peak * 1e-9);
      where += dots;
    }
  }
  std::printf(
      "device %s, threads %d, matmul %s, measured peak (%s) %.1f GFLOP/s, read again "
      "after each case\n",
      where.c_str(), threads, matmul, peak_source.c_str(), peak.highest() * 1e-9);
  // "peak" holds the median step against the peak, "best" the fastest one: other tenants of a
  // shared machine only ever slow a step, and they slow the GEMMs (through the caches they share)
  // more than the FMA loop, so the fastest step is the closer reading of what the code achieves
  // (docs/PERF.md v0.10). bench/compare_pytorch.sh skips these two header lines.
  std::printf("%-18s %5s %10s %10s %8s %6s %6s %10s %8s %9s %10s\n", "case", "batch", "train med",
              "train min", "GFLOP/s", "peak", "best", "eval step", "GFLOP/s", "puzzles/s",
              "peak RSS");
  nlohmann::json out = {{"device", gpu ? "cuda" : "cpu"},
                        {"cpu_isa", gpu ? "" : cpu_matmul_isa()},
                        {"bf16_dot_peak_flops", bf16_dot_peak},
                        {"threads", threads},
                        {"matmul", matmul},
                        {"peak_source", peak_source},
                        // Profiled step times include the profiler's per-op waits.
                        {"profiled", o.profile},
                        {"cases", nlohmann::json::array()}};
  for (const BenchCase& c : cases) {
    const BenchResult r = run_bench_case(c, o.warmup, o.repeats, make_backend, o.profile);
    read_peak();
    const double held = peak.highest();
    const double train_rate = r.train_flops / r.train_step.median();
    const double best_rate = r.train_flops / r.train_step.min();
    const double eval_rate = r.eval_flops / r.eval_step.median();
    std::printf("%-18s %5lld %9.3fs %9.3fs %8.1f %5.1f%% %5.1f%% %9.3fs %8.1f %9.1f %8.0fMB\n",
                c.name.c_str(), (long long)c.batch, r.train_step.median(), r.train_step.min(),
                train_rate * 1e-9, 100 * train_rate / held, 100 * best_rate / held,
                r.eval_step.median(), eval_rate * 1e-9, r.puzzles_per_second(),
                r.peak_rss_bytes / 1e6);
    if (o.profile) print_profile(r.train_profile);
    std::fflush(stdout);
    nlohmann::json profile = nlohmann::json::array();
    for (const OpTime& t : r.train_profile)
      profile.push_back(
          {{"op", t.op}, {"calls", t.calls}, {"seconds", t.seconds}, {"flops", t.flops}});
    out["cases"].push_back({{"name", c.name},
                            {"batch", c.batch},
                            {"config", nlohmann::json::parse(run_config_json(c.config))},
                            {"train_step", timing_json(r.train_step)},
                            {"eval_step", timing_json(r.eval_step)},
                            {"train_step_flops", r.train_flops},
                            {"eval_step_flops", r.eval_flops},
                            {"peak_flops", held},
                            {"train_fraction_of_peak", train_rate / held},
                            {"train_best_fraction_of_peak", best_rate / held},
                            {"eval_fraction_of_peak", eval_rate / held},
                            {"peak_rss_bytes", r.peak_rss_bytes},
                            {"inference_steps", r.halt_max_steps},
                            {"inference_puzzles_per_s", r.puzzles_per_second()},
                            {"train_profile", profile}});
  }
  // The last line gives the peak the run ended with, and how far the readings spread.
  const char* why = gpu ? ": the GPU was busy or its clocks changed during the run"
                        : ": other work took this machine's cores during the run, so its step "
                          "times may be slower than on a quiet machine";
  std::printf("peak readings %.1f-%.1f GFLOP/s%s\n", peak.lowest() * 1e-9, peak.highest() * 1e-9,
              peak.spread_wide() ? why : "");
  out[gpu ? "gemm_peak_flops" : "fp32_peak_flops"] = peak.highest();
  out["peak_readings_flops"] = peak.all();
  if (!o.json.empty()) {
    const std::string text = out.dump(1) + "\n";
    write_file_atomic(o.json, {{text.data(), text.size()}});
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("bench",
                                     "Time training and inference steps on the standard "
                                     "configurations against the measured fp32 peak");
  cmd->add_option("--case", o->only, "run only these cases (repeatable; see --list)");
  cmd->add_option("--repeats", o->repeats, "timed runs per step kind (median and min are reported)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--warmup", o->warmup, "untimed runs first")->check(CLI::Range(0, 1000));
  cmd->add_option("--batch", o->batch, "batch size of every case (default: each case's own)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--peak-seconds", o->peak_seconds, "length of each FMA-loop round")
      ->check(CLI::Range(0.01, 60.0));
  cmd->add_option("--json", o->json,
                  "write every run, each case's run config and the peak as JSON");
  cmd->add_flag("--profile", o->profile,
                "also print where a training step's time goes, op by op (waits for every op)");
  cmd->add_flag("--list", o->list, "print the cases and their run configurations, and stop");
  cmd->callback([o] { run(*o); });
}

}  // namespace ponder::cli
