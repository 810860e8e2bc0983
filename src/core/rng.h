// Counter-based random numbers (Philox4x32-10). A draw is a pure function of (seed, stream,
// index), so results do not depend on thread count, call order, process or device, and a resumed
// run draws exactly what the uninterrupted run would have.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ponder {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

class RandomStream {
 public:
  RandomStream(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  uint32_t u32(uint64_t index) const;
  uint64_t u64(uint64_t index) const;
  // Uniform in the open interval (0, 1), 53 random bits.
  double uniform(uint64_t index) const;
  // Uniform integer in [lo, hi] (inclusive), without modulo bias beyond 2^-64.
  int64_t integer(uint64_t index, int64_t lo, int64_t hi) const;

 private:
  uint64_t seed_;
  uint64_t stream_;
};

double erfinv(double y);

// JAX-style truncated normal with the corrected standard deviation (REFERENCE.md §3.8): the
// realised std is exactly `std` and values stay within ±2·1.1368472·std. std = 0 gives zeros.
void fill_truncated_normal(float* out, size_t n, double std, const RandomStream& rng);

}  // namespace ponder
