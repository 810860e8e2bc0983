// The CPU's attainable arithmetic peaks, measured by loops of independent multiply-adds on every
// thread, and the readings of a peak taken during one `ponder bench` run.
#pragma once

#include <chrono>
#include <vector>

namespace ponder {

// Seconds on the steady clock since `t0`: what every timing in src/perf/ reads.
double seconds_since(std::chrono::steady_clock::time_point t0);

// fp32 FLOP/s of an FMA loop on every thread of the OpenMP team (the best of a few rounds of
// about `seconds` each): the machine's attainable fp32 matmul peak.
double measure_fp32_peak(double seconds);
// FLOP/s of AVX512-BF16 dot products (vdpbf16ps: two bf16 products added into each fp32 lane) on
// every thread, measured the same way; 0 where the CPU has no such instruction.
double measure_bf16_dot_peak(double seconds);
// How many times the fp32 FMA rate this CPU's bf16 dot products run at, on one core; 0 without
// AVX512-BF16. The median of alternating rounds on the calling thread, about `seconds` in all, so
// that another tenant holding the core for a moment slows both sides of a pair alike.
double bf16_dot_speedup(double seconds);
// Whether bf16 GEMMs without AMX, on the vector units, outrun fp32 ones: where the dot products
// run well above the FMA rate. Intel's cores issue them at the FMA rate (bf16 training steps
// 1.5-1.8× slower there, docs/PERF.md v0.8); AMD Zen 5 at twice it (measured 1.87-1.94×, steps
// 1.6-1.9× faster, v0.13). The threshold sits between.
bool bf16_dots_outrun_fp32(double speedup);

// The readings of the peak taken during one bench run. Another tenant can take a core for a
// moment, and a reading taken then is half the machine's (docs/PERF.md v0.11), while nothing makes
// a reading too high: a step is held against the highest reading so far.
class PeakReadings {
 public:
  void add(double flops) { all_.push_back(flops); }
  const std::vector<double>& all() const { return all_; }
  double highest() const;  // 0 before the first reading
  double lowest() const;   // 0 before the first reading
  // The readings differ by more than 10%: the machine was busy during the run.
  bool spread_wide() const;

 private:
  std::vector<double> all_;
};

}  // namespace ponder
