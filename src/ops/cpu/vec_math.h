// exp for the fused CPU kernels, written so that GCC vectorises it (libm's expf is a scalar call
// in a loop, which measured a third of a TRM-MLP training step in SiLU alone). Cephes-style: range
// reduction x = n·ln2 + r with a two-part ln2, a degree-6 polynomial for e^r, and 2^n built in the
// exponent bits; within 2 ulp of expf over [-87.3, 88.37], clamped outside (e^-87.3 ≈ 1.2e-38;
// above 88.37, n would reach 128 and 2^n overflow the exponent field).
// The multiply-adds are explicit std::fma, so the result does not depend on where the compiler
// would contract (kernels.cpp is built without implicit contraction).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace ponder {

inline float vexp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.37f ? 88.37f : x;
  // n = round(x / ln2) by the add-and-subtract trick, which vectorises where nearbyint does not.
  const float shifter = 12582912.0f;  // 1.5·2^23
  const float n = std::fma(x, 1.44269504088896341f, shifter) - shifter;
  const float r = std::fma(n, 2.12194440e-4f, std::fma(n, -0.693359375f, x));
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p * r, r, r) + 1.0f;
  const int32_t e = (int32_t(n) + 127) << 23;
  return p * std::bit_cast<float>(e);
}

inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

}  // namespace ponder
