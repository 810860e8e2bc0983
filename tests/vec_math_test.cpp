// The vectorised exp of the fused CPU kernels (src/ops/cpu/vec_math.h): within 2 ulp of the exact
// value over its range, finite and clamped outside it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

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

}  // namespace
}  // namespace ponder
