// Counter-based RNG and the truncated-normal initialiser.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"

namespace ponder {

TEST(Rng, philox_matches_the_known_answer) {
  // Random123's published known-answer test for Philox4x32-10 (counter 0, key 0).
  auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

TEST(Rng, draws_are_a_pure_function_of_seed_stream_index) {
  RandomStream a(7, 3), b(7, 3), c(8, 3), d(7, 4);
  EXPECT_EQ(a.u64(12345), b.u64(12345));
  EXPECT_NE(a.u64(12345), c.u64(12345));
  EXPECT_NE(a.u64(12345), d.u64(12345));
  for (uint64_t i = 0; i < 1000; ++i) {
    double u = a.uniform(i);
    EXPECT_GT(u, 0.0);
    EXPECT_LT(u, 1.0);
    int64_t k = a.integer(i, 2, 16);
    EXPECT_GE(k, 2);
    EXPECT_LE(k, 16);
  }
}

TEST(Rng, erfinv_inverts_erf) {
  for (double x = -3.5; x <= 3.5; x += 0.01) EXPECT_NEAR(erfinv(std::erf(x)), x, 1e-9) << x;
}

TEST(Rng, truncated_normal_has_the_requested_std_and_bounds) {
  const size_t n = 200000;
  std::vector<float> v(n);
  fill_truncated_normal(v.data(), n, 0.5, RandomStream(1, 2));
  double sum = 0, sq = 0, lo = 1e9, hi = -1e9;
  for (float x : v) {
    sum += x;
    sq += double(x) * x;
    lo = std::min(lo, double(x));
    hi = std::max(hi, double(x));
  }
  const double mean = sum / n, std = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(std, 0.5, 0.005);  // the corrected std: realised σ equals the requested one
  EXPECT_GE(lo, -2 * 1.1368472 * 0.5 - 1e-6);
  EXPECT_LE(hi, 2 * 1.1368472 * 0.5 + 1e-6);
  EXPECT_LT(lo, -1.1);  // and the tails do reach out towards ±2.27σ
  EXPECT_GT(hi, 1.1);
  std::vector<float> zeros(10, 1.0f);
  fill_truncated_normal(zeros.data(), zeros.size(), 0.0, RandomStream(1, 2));
  for (float z : zeros) EXPECT_EQ(z, 0.0f);
}

}  // namespace ponder
