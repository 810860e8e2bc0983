// The vectorised exp and atan2 of the fused CPU kernels (src/ops/cpu/vec_math.h): within 2 ulp of
// the exact value, exp finite and clamped outside its range, atan2 as IEEE's at zeros, infinities
// and NaNs.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "ops/cpu/vec_math.h"

namespace ponder {
namespace {

TEST(VecMath, vexp_is_within_2_ulp_over_its_range_and_finite_outside) {
  double worst = 0;  // in ulps of the exact value
  for (int i = 0; i <= 2000000; ++i) {
    const float x = std::min(88.37f, float(-87.3 + (88.37 + 87.3) * i / 2000000.0));
    const double exact = std::exp(double(x));
    const double ulp = std::ldexp(1.0, std::ilogb(exact) - 23);
    worst = std::max(worst, std::abs(double(vexp(x)) - exact) / ulp);
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(vexp(89.0f), vexp(88.37f));
  EXPECT_LT(vexp(1000.0f), std::numeric_limits<float>::max());
  EXPECT_EQ(vexp(-1000.0f), vexp(-87.3f));
  EXPECT_GT(vexp(-1000.0f), 0.0f);
  EXPECT_EQ(vsigmoid(-1000.0f), 1.0f / (1.0f + vexp(88.37f)));  // tiny, not 0 or NaN
}

TEST(VecMath, vatan2_is_within_2_ulp_and_ieee_at_zeros_infinities_and_nans) {
  double worst = 0;  // in ulps of the exact value (of the smallest normal below it)
  auto ulps = [](float y, float x) {
    const double exact = std::atan2(double(y), double(x));
    const double ulp = std::ldexp(1.0, std::max(std::ilogb(exact), -126) - 23);
    return std::abs(double(vatan2(y, x)) - exact) / ulp;
  };
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> angle(-3.2f, 3.2f), log2_radius(-40.0f, 40.0f);
  for (int i = 0; i < 1000000; ++i) {  // every direction, magnitudes 2^±40
    const float th = angle(rng), r = std::exp2(log2_radius(rng));
    worst = std::max(worst, ulps(r * std::sin(th), r * std::cos(th)));
  }
  for (int i = 0; i < 200000; ++i)  // near the diagonals, where |y| and |x| swap roles
    for (float sy : {1.0f, -1.0f})
      for (float sx : {1.0f, -1.0f}) {
        const float x = std::exp2(log2_radius(rng));
        worst = std::max(worst, ulps(sy * x * (1.0f + 1e-3f * angle(rng)), sx * x));
      }
  for (int i = 0; i < 1000000; ++i) {  // any bits: subnormals, huge and tiny ratios, infinities
    const float y = std::bit_cast<float>(uint32_t(rng())),
                x = std::bit_cast<float>(uint32_t(rng()));
    if (!std::isnan(y) && !std::isnan(x)) worst = std::max(worst, ulps(y, x));
  }
  EXPECT_LE(worst, 2.0);

  // Results that IEEE fixes exactly (0, ±π/2, ±π, the tiny ratio itself), bit for bit.
  const float inf = std::numeric_limits<float>::infinity(), tiny = 1e-45f;
  const float specials[] = {0.0f, -0.0f, tiny, -tiny, 1.0f, -1.0f, -3e38f, inf, -inf};
  for (float y : specials)
    for (float x : specials) {
      const bool exact =
          y == 0.0f || std::isinf(y) != std::isinf(x) || (x == 1.0f && std::fabs(y) == tiny);
      if (exact)
        EXPECT_EQ(std::bit_cast<uint32_t>(vatan2(y, x)), std::bit_cast<uint32_t>(std::atan2(y, x)))
            << y << ", " << x;
      else
        EXPECT_LE(ulps(y, x), 2.0) << y << ", " << x;
    }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float v : specials) {
    EXPECT_TRUE(std::isnan(vatan2(nan, v))) << v;
    EXPECT_TRUE(std::isnan(vatan2(v, nan))) << v;
  }
}

}  // namespace
}  // namespace ponder
