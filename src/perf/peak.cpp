#include "perf/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ponder {
namespace {

using Clock = std::chrono::steady_clock;

// Independent chains, enough to cover the latency on every multiply-add port, in the widest
// vectors the build targets. GNU C++ contracts a·b + c into one FMA instruction.
constexpr int kChains = 16;
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

float lane_sum(Vec a) {
  float v[kLanes];
  std::memcpy(v, &a, sizeof v);
  float s = 0;
  for (float x : v) s += x;
  return s;
}

// The returned sums keep the loops from being optimised away.
float fma_loop(int64_t iters) {
  Vec acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = Vec{} + float(i);
  const Vec m = Vec{} + 0.9999999f, a = Vec{} + 1e-7f;
  for (int64_t k = 0; k < iters; ++k)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * m + a;
  float s = 0;
  for (int i = 0; i < kChains; ++i) s += lane_sum(acc[i]);
  return s;
}
constexpr double kFmaFlopsPerIter = 2.0 * kChains * kLanes;

#if defined(__x86_64__)
// The portable build level (x86-64-v4) has no AVX512-BF16, so this loop is compiled for it alone
// and run only where the CPU reports it.
__attribute__((target("avx512f,avx512bf16"))) float bf16_dot_loop(int64_t iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  // bf16 1.0 and ≈ 1e-7 (bit patterns): the sums grow by 2e-7 per step and stay finite.
  const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3F80);
  const __m512bh tiny = (__m512bh)_mm512_set1_epi16(0x33D7);
  for (int64_t k = 0; k < iters; ++k)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], one, tiny);
  float v[16], s = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm512_storeu_ps(v, acc[i]);
    for (float x : v) s += x;
  }
  return s;
}
constexpr double kBf16FlopsPerIter = 2.0 * 2 * kChains * 16;  // two products per fp32 lane
#endif

// The best FLOP/s of a few rounds of `loop` on every thread, each round about `seconds` long.
double measure_loop(float (*loop)(int64_t), double flops_per_iter, double seconds) {
  int64_t iters = 1 << 16;
  double best = 0;
  volatile float sink = 0;
  for (int round = 0; round < 4; ++round) {
    float total = 0;
    int threads = 1;
    const auto t0 = Clock::now();
#pragma omp parallel reduction(+ : total)
    {
#pragma omp single
      threads = omp_get_num_threads();
      total += loop(iters);
    }
    const double dt = seconds_since(t0);
    sink = sink + total;
    best = std::max(best, double(threads) * double(iters) * flops_per_iter / dt);
    if (round == 0) iters = std::max<int64_t>(iters, int64_t(double(iters) * seconds / dt));
  }
  return best;
}

// Iterations of `loop` that take about `seconds` on the calling thread.
int64_t iters_for(float (*loop)(int64_t), double seconds) {
  volatile float sink = 0;
  int64_t iters = 1 << 12;
  for (;;) {
    const auto t0 = Clock::now();
    sink = sink + loop(iters);
    const double dt = seconds_since(t0);
    if (dt >= seconds / 4) return std::max<int64_t>(1, int64_t(double(iters) * seconds / dt));
    iters *= 4;
  }
}

}  // namespace

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double measure_fp32_peak(double seconds) {
  return measure_loop(fma_loop, kFmaFlopsPerIter, seconds);
}

double measure_bf16_dot_peak(double seconds) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512bf16"))
    return measure_loop(bf16_dot_loop, kBf16FlopsPerIter, seconds);
#endif
  (void)seconds;
  return 0;
}

double bf16_dot_speedup(double seconds) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx512bf16")) return 0;
  constexpr int kPairs = 5;
  const double round = seconds / (2 * kPairs);
  const int64_t fma_iters = iters_for(fma_loop, round);
  const int64_t dot_iters = iters_for(bf16_dot_loop, round);
  volatile float sink = 0;
  const auto rate = [&](float (*loop)(int64_t), int64_t iters, double flops_per_iter) {
    const auto t0 = Clock::now();
    sink = sink + loop(iters);
    return double(iters) * flops_per_iter / seconds_since(t0);
  };
  std::vector<double> ratios;
  for (int i = 0; i < kPairs; ++i) {
    const double fma = rate(fma_loop, fma_iters, kFmaFlopsPerIter);
    ratios.push_back(rate(bf16_dot_loop, dot_iters, kBf16FlopsPerIter) / fma);
  }
  std::nth_element(ratios.begin(), ratios.begin() + kPairs / 2, ratios.end());
  return ratios[kPairs / 2];
#else
  (void)seconds;
  return 0;
#endif
}

bool bf16_dots_outrun_fp32(double speedup) {
  return speedup > 1.5;
}

double PeakReadings::highest() const {
  return all_.empty() ? 0 : *std::max_element(all_.begin(), all_.end());
}

double PeakReadings::lowest() const {
  return all_.empty() ? 0 : *std::min_element(all_.begin(), all_.end());
}

bool PeakReadings::spread_wide() const {
  return lowest() < 0.9 * highest();
}

}  // namespace ponder
