// `ponder bench` through the CLI: a case runs and reports consistent numbers (and the CPU's
// matmul ISA, with a note where bf16 is the slower precision), its op profile accounts for every
// GEMM, unknown cases are refused naming the known ones, and the PyTorch side
// (tools/reference/bench.py) times the cases that `ponder bench --json` describes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "perf/bench.h"
#include "perf/op_profile.h"
#include "perf/peak.h"
#include "test_util.h"

namespace ponder {
namespace {

// `ponder bench <args>` with a short peak measurement and its JSON in `dir`/b.json: its output,
// and the JSON (null if it failed).
std::pair<std::string, nlohmann::json> run_bench(const std::string& args, const std::string& dir) {
  auto r = test::run_ponder("bench --peak-seconds 0.05 " + args + " --json " + dir + "/b.json");
  EXPECT_EQ(r.status, 0) << r.output;
  nlohmann::json j;
  if (r.status == 0) j = nlohmann::json::parse(std::ifstream(dir + "/b.json"));
  return {r.output, j};
}

TEST(BenchCli, a_case_reports_step_times_flops_peak_and_memory) {
  const std::string dir = test::temp_dir();
  for (const char* m : {"fp32", "bf16"}) {
    const auto [output, j] =
        run_bench(std::string("--case sudoku-cpu --repeats 2 --warmup 0 --matmul ") + m, dir);
    ASSERT_FALSE(j.is_null()) << output;
    EXPECT_NE(output.find("sudoku-cpu"), std::string::npos) << output;
    EXPECT_EQ(j.at("matmul"), m);
    EXPECT_EQ(j.at("cpu_isa"), cpu_matmul_isa());
#if defined(__x86_64__)
    EXPECT_EQ(j.at("bf16_dot_peak_flops").get<double>() > 0,
              bool(__builtin_cpu_supports("avx512bf16")));
#endif
    EXPECT_NE(output.find(std::string("oneDNN ISA ") + cpu_matmul_isa()), std::string::npos);
    // bf16 without AMX is slower than fp32 where bf16 dot products do not outrun FMAs, and the
    // user is told so (the note measures both rates itself).
    const bool note = output.find("bf16 GEMMs run slower") != std::string::npos;
    if (std::string(m) == "fp32" || cpu_has_amx())
      EXPECT_FALSE(note) << output;
    else
      EXPECT_EQ(note, !bf16_dots_outrun_fp32(bf16_dot_speedup(0.2))) << output;
    // The peak is read before the case and after it, and the case is held against the higher.
    const auto readings = j.at("peak_readings_flops").get<std::vector<double>>();
    ASSERT_EQ(readings.size(), 2u);
    const double peak = std::max(readings[0], readings[1]);
    EXPECT_GT(peak, 1e9);
    EXPECT_EQ(j.at("fp32_peak_flops").get<double>(), peak);
    ASSERT_EQ(j.at("cases").size(), 1u);
    const auto& c = j.at("cases")[0];
    EXPECT_EQ(c.at("peak_flops").get<double>(), peak);
    EXPECT_NEAR(
        c.at("train_fraction_of_peak").get<double>() * peak,
        c.at("train_step_flops").get<double>() / c.at("train_step").at("median_s").get<double>(),
        1e-6 * peak);
    EXPECT_EQ(c.at("name"), "sudoku-cpu");
    EXPECT_EQ(c.at("batch"), 64);
    EXPECT_EQ(c.at("config").at("arch").at("hidden_size"), 128);
    ASSERT_EQ(c.at("train_step").at("runs").size(), 2u);
    const double med = c.at("train_step").at("median_s"), lo = c.at("train_step").at("min_s");
    EXPECT_GT(lo, 0);
    EXPECT_GE(med, lo);
    // The fastest step's fraction of the peak, against the median's.
    EXPECT_NEAR(c.at("train_best_fraction_of_peak").get<double>() /
                    c.at("train_fraction_of_peak").get<double>(),
                med / lo, 1e-9);
    // A training step does the evaluation step's forward and more.
    EXPECT_GT(c.at("train_step_flops").get<double>(), c.at("eval_step_flops").get<double>());
    EXPECT_GT(c.at("peak_rss_bytes").get<double>(), 1e6);
    EXPECT_NEAR(c.at("inference_puzzles_per_s").get<double>(),
                64.0 / (16 * c.at("eval_step").at("median_s").get<double>()), 1e-9);
  }
  std::filesystem::remove_all(dir);
}

// `ponder bench --case sudoku-cpu <args>`: its output, and the case's JSON (null if it failed).
std::pair<std::string, nlohmann::json> bench_sudoku_cpu(const std::string& args) {
  const std::string dir = test::temp_dir();
  const auto [output, j] = run_bench("--case sudoku-cpu " + args, dir);
  std::filesystem::remove_all(dir);
  return {output, j.is_null() ? j : j.at("cases")[0]};
}

TEST(BenchCli, batch_sets_every_cases_batch) {
  const auto [output, c] = bench_sudoku_cpu("--batch 16 --repeats 1 --warmup 0");
  ASSERT_FALSE(c.is_null()) << output;
  EXPECT_EQ(c.at("batch"), 16);
  EXPECT_NEAR(c.at("inference_puzzles_per_s").get<double>(),
              16.0 / (16 * c.at("eval_step").at("median_s").get<double>()), 1e-9);
}

// The dot-product loops run where the CPU has AVX512-BF16, and their speedup over the FMA loop
// decides the bf16 note: 1× on Intel's cores (by their instruction tables), 2× on AMD Zen 5.
TEST(Peaks, bf16_dot_products_are_measured_where_the_cpu_has_them) {
  EXPECT_GT(measure_fp32_peak(0.05), 1e9);
  const double peak = measure_bf16_dot_peak(0.05), speedup = bf16_dot_speedup(0.2);
#if defined(__x86_64__)
  const bool has = __builtin_cpu_supports("avx512bf16");
  EXPECT_EQ(peak > 0, has);
  EXPECT_EQ(speedup > 0, has);
#endif
  // A core measured at a whole multiple of its FMA rate, give or take the noise.
  if (speedup > 0) {
    EXPECT_TRUE(speedup > 0.7 && speedup < 2.8) << speedup;
  }
  EXPECT_FALSE(bf16_dots_outrun_fp32(0));
  EXPECT_FALSE(bf16_dots_outrun_fp32(1.05));
  EXPECT_TRUE(bf16_dots_outrun_fp32(1.95));
}

// A reading taken while another tenant holds a core is low, and nothing makes one too high: a
// step is held against the highest reading so far.
TEST(PeakReadings, hold_steps_against_the_highest_reading_so_far) {
  PeakReadings p;
  EXPECT_EQ(p.highest(), 0);
  EXPECT_FALSE(p.spread_wide());
  EXPECT_EQ(p.lowest(), 0);
  p.add(300e9);
  EXPECT_EQ(p.highest(), 300e9);
  p.add(280e9);  // within 10%
  EXPECT_EQ(p.highest(), 300e9);
  EXPECT_EQ(p.lowest(), 280e9);
  EXPECT_FALSE(p.spread_wide());
  p.add(186e9);  // a core taken away
  EXPECT_EQ(p.highest(), 300e9);
  EXPECT_TRUE(p.spread_wide());
  p.add(360e9);
  EXPECT_EQ(p.highest(), 360e9);
  EXPECT_EQ(p.all(), std::vector<double>({300e9, 280e9, 186e9, 360e9}));
}

// The CLI reads the peak before the first case and after each one.
TEST(BenchCli, each_case_is_held_against_the_highest_peak_reading_so_far) {
  const std::string dir = test::temp_dir();
  const auto [output, j] =
      run_bench("--case sudoku-cpu --case trm_mlp_sudoku --batch 2 --repeats 1 --warmup 0", dir);
  ASSERT_FALSE(j.is_null()) << output;
  const auto readings = j.at("peak_readings_flops").get<std::vector<double>>();
  ASSERT_EQ(readings.size(), 3u);
  ASSERT_EQ(j.at("cases").size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(j.at("cases")[i].at("peak_flops").get<double>(),
              *std::max_element(readings.begin(), readings.begin() + i + 2));
  EXPECT_EQ(j.at("fp32_peak_flops").get<double>(),
            *std::max_element(readings.begin(), readings.end()));
  // The last line gives the readings' range, and says why where they spread.
  const auto [low, high] = std::minmax_element(readings.begin(), readings.end());
  char range[64];
  std::snprintf(range, sizeof range, "peak readings %.1f-%.1f GFLOP/s", *low * 1e-9, *high * 1e-9);
  EXPECT_NE(output.find(range), std::string::npos) << output;
  EXPECT_EQ(output.find("other work took this machine's cores") != std::string::npos,
            *low < 0.9 * *high)
      << output;
  std::filesystem::remove_all(dir);
}

// The profile sees every GEMM the model runs: its FLOPs add up to the analytic count of
// src/model/flops.cpp (sudoku-cpu has no attention, whose products are not GEMM calls).
TEST(BenchCli, profile_lists_the_ops_of_a_training_step) {
  const auto [output, c] = bench_sudoku_cpu("--batch 8 --repeats 2 --warmup 1 --profile");
  ASSERT_FALSE(c.is_null()) << output;
  EXPECT_NE(output.find("op (one training step)"), std::string::npos) << output;
  double flops = 0;
  std::map<std::string, double> calls;
  for (const auto& row : c.at("train_profile")) {
    flops += row.at("flops").get<double>();
    calls[row.at("op")] = row.at("calls");
  }
  EXPECT_NEAR(flops, c.at("train_step_flops").get<double>(), 1e-9 * flops);
  EXPECT_EQ(calls["adam_atan2"], 1);  // one optimizer update per step
  // The channel SwiGLU's gate/up projection: 8 puzzles × (81 + 16) tokens, 128 → 2·512.
  EXPECT_GT(calls["linear 776x1024x128"], 0) << output;
}

TEST(ProfileOps, forwards_every_op_and_counts_its_calls_and_flops) {
  ProfileOps ops(make_cpu_ops());
  DeviceArray<float> a(ops, 6), b(ops, 12), c(ops, 8);
  const std::vector<float> ha = {1, 2, 3, 4, 5, 6}, hb(12, 1.0f);
  a.upload(ha.data(), 6);
  b.upload(hb.data(), 12);
  ops.reset();
  for (int i = 0; i < 2; ++i)
    ops.gemm({.M = 2, .N = 4, .K = 3, .A = a.data(), .lda = 3, .B = b.data(), .ldb = 4,
              .C = c.data(), .ldc = 4});
  ops.scale(c.data(), 2.0f, 8);
  std::vector<float> hc(8);
  c.download(hc.data(), 8);
  EXPECT_EQ(hc, std::vector<float>({12, 12, 12, 12, 30, 30, 30, 30}));
  std::map<std::string, OpTime> rows;
  for (const OpTime& t : ops.rows()) rows[t.op] = t;
  ASSERT_EQ(rows.size(), 3u);  // the two GEMMs share a row; scale; download
  EXPECT_EQ(rows["gemm 2x4x3"].calls, 2);
  EXPECT_EQ(rows["gemm 2x4x3"].flops, 2 * 2.0 * 2 * 4 * 3);
  EXPECT_EQ(rows["scale"].calls, 1);
  EXPECT_EQ(rows["scale"].flops, 0);
  EXPECT_EQ(rows["download"].calls, 1);
  ops.reset();
  EXPECT_TRUE(ops.rows().empty());
}

TEST(BenchCli, an_unknown_case_is_refused_naming_the_cases) {
  auto r = test::run_ponder("bench --case trm_huge");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--case: no bench case named 'trm_huge' (cases: trm_mlp_sudoku, "
                          "trm_att_sudoku, trm_att_30x30_n4, hrm_sudoku, sudoku-cpu)"),
            std::string::npos)
      << r.output;
}

TEST(BenchCli, the_pytorch_reference_times_the_cases_ponder_describes) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "PyTorch (python3-torch) is not installed";
  const std::string dir = test::temp_dir();
  const auto [output, j] = run_bench("--case sudoku-cpu --repeats 1 --warmup 0", dir);
  ASSERT_FALSE(j.is_null()) << output;
  const std::string cmd =
      "/usr/bin/python3 " + test::source_path("tools/reference/bench.py") + " --cases " + dir +
      "/b.json --repeats 1 --warmup 0 --dtype bfloat16 --json " + dir + "/t.json >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto t = nlohmann::json::parse(std::ifstream(dir + "/t.json"));
  ASSERT_EQ(t.at("results").size(), 1u);
  EXPECT_EQ(t.at("results")[0].at("name"), "sudoku-cpu");
  EXPECT_GT(t.at("results")[0].at("train_step").at("median_s").get<double>(), 0);
  // A file that is not `ponder bench --json` output is refused, naming it.
  std::ofstream(dir + "/other.json") << R"({"results": []})";
  const std::string bad = "/usr/bin/python3 " + test::source_path("tools/reference/bench.py") +
                          " --cases " + dir + "/other.json 2>" + dir + "/err.txt";
  EXPECT_NE(std::system(bad.c_str()), 0);
  const std::string err = test::read_file(dir + "/err.txt");
  EXPECT_NE(err.find(dir + "/other.json: not a `ponder bench --json` file"), std::string::npos)
      << err;
  std::filesystem::remove_all(dir);
}

// bench/compare_pytorch.sh takes turns between the engines and reports per-round ratios ("Live":
// it runs PyTorch, so the sanitizer run leaves it out).
TEST(BenchCli, Live_compare_pytorch_takes_turns_and_gives_per_round_ratios) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "PyTorch (python3-torch) is not installed";
  const std::string dir = test::temp_dir();
  const std::string build = std::filesystem::path(PONDER_BINARY).parent_path().string();
  const std::string cmd = "BUILD=" + build + " " + test::source_path("bench/compare_pytorch.sh") +
                          " --rounds 2 --repeats 1 --warmup 0 --case sudoku-cpu --dtypes bfloat16" +
                          " --out " + dir + " >" + dir + "/log.txt 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // The engines take turns, round by round.
  std::istringstream log(test::read_file(dir + "/log.txt"));
  std::string order;
  int rows = 0;  // ponder's result line of each run (it ends in the peak RSS), above its last line
  for (std::string line; std::getline(log, line);) {
    if (line.rfind("-- round ", 0) == 0) order += line + "\n";
    if (line.rfind("sudoku-cpu ", 0) == 0 && line.ends_with("MB")) ++rows;
  }
  EXPECT_EQ(rows, 4);
  EXPECT_EQ(order,
            "-- round 1, sudoku-cpu: ponder fp32\n-- round 1, sudoku-cpu: ponder bf16\n"
            "-- round 1, sudoku-cpu: PyTorch bfloat16\n-- round 2, sudoku-cpu: ponder fp32\n"
            "-- round 2, sudoku-cpu: ponder bf16\n-- round 2, sudoku-cpu: PyTorch bfloat16\n");
  // The summary holds each round's own medians, and their ratios.
  auto median = [&](int round, const std::string& file, const char* kind) {
    const auto f = nlohmann::json::parse(
        std::ifstream(dir + "/round" + std::to_string(round) + "/" + file + ".json"));
    const auto& entry = f.contains("cases") ? f.at("cases")[0] : f.at("results")[0];
    return entry.at(kind).at("median_s").get<double>();
  };
  const auto j = nlohmann::json::parse(std::ifstream(dir + "/summary.json"));
  EXPECT_EQ(j.at("rounds"), 2);
  EXPECT_EQ(j.at("cpu_isa"), cpu_matmul_isa());
  for (const char* kind : {"train_step", "eval_step"}) {
    const auto& k = j.at("cases").at("sudoku-cpu").at(kind);
    using Names = std::initializer_list<std::pair<const char*, const char*>>;
    for (const auto& [engine, file] : Names{{"ponder bf16", "ponder-bf16-sudoku-cpu"},
                                            {"ponder fp32", "ponder-fp32-sudoku-cpu"},
                                            {"torch bfloat16", "torch-bfloat16-sudoku-cpu"}})
      for (int r = 0; r < 2; ++r)
        EXPECT_EQ(k.at("seconds").at(engine)[r].get<double>(), median(r + 1, file, kind)) << engine;
    for (const auto& [pair, ponder] : Names{{"torch bfloat16 / ponder bf16", "ponder bf16"},
                                            {"torch bfloat16 / ponder fp32", "ponder fp32"}}) {
      const auto& ratios = k.at("ratios").at(pair);
      ASSERT_EQ(ratios.size(), 2u);
      for (int r = 0; r < 2; ++r)
        EXPECT_NEAR(ratios[r].get<double>(),
                    k.at("seconds").at("torch bfloat16")[r].get<double>() /
                        k.at("seconds").at(ponder)[r].get<double>(),
                    1e-9)
            << pair;
    }
    EXPECT_FALSE(k.at("ratios").contains("torch float32 / ponder fp32"));  // not asked for
  }
  // A bad argument is refused before anything runs.
  const std::string bad =
      test::source_path("bench/compare_pytorch.sh") + " --rounds two 2>" + dir + "/err.txt";
  EXPECT_NE(std::system(bad.c_str()), 0);
  const std::string err = test::read_file(dir + "/err.txt");
  EXPECT_NE(err.find("--rounds, --repeats and --warmup take a number, not 'two'"),
            std::string::npos)
      << err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ponder
