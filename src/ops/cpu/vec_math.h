// exp and atan2 for the fused CPU kernels, written so that GCC vectorises them (libm's expf and
// atan2f are scalar calls in a loop: expf measured a third of a TRM-MLP training step in SiLU
// alone, atan2f 11% of an HRM step in AdamATan2).
// The multiply-adds are explicit std::fma, so the result does not depend on where the compiler
// would contract (kernels.cpp is built without implicit contraction).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace ponder {

// exp, Cephes-style: range reduction x = n·ln2 + r with a two-part ln2, a degree-6 polynomial for
// e^r, and 2^n built in the exponent bits; within 2 ulp of expf over [-87.3, 88.37], clamped
// outside (e^-87.3 ≈ 1.2e-38; above 88.37, n would reach 128 and 2^n overflow the exponent field).
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

// atan2(y, x) with IEEE's signed zeros, infinities and NaNs: t = min/max of |y|, |x| in [0, 1],
// atan t = t·P(t²) with P of degree 9 (a near-minimax fit of atan(√z)/√z on [0, 1], 1e-8
// relative with its coefficients in float), then the octant and the sign of y. Within 2 ulp of
// atan2 (tests/vec_math_test.cpp; glibc's atan2f is within 1.5). Comparisons are written so that
// a NaN falls through them to the result.
inline float vatan2(float y, float x) {
  const uint32_t sign = 0x80000000u;
  const float a = std::fabs(y), b = std::fabs(x);
  const bool swap = a > b;
  const float num = swap ? b : a, den = swap ? a : b;
  // 0/0 and ∞/∞ are the only ratios of equal magnitudes that are not 1.
  const float q = num / den, same = den == 0.0f ? 0.0f : 1.0f;
  const float t = num == den ? same : q;
  const float z = t * t;
  float p = -1.7539296440e-03f;
  p = std::fma(p, z, 1.0726941829e-02f);
  p = std::fma(p, z, -3.0804593088e-02f);
  p = std::fma(p, z, 5.7552098125e-02f);
  p = std::fma(p, z, -8.3773152330e-02f);
  p = std::fma(p, z, 1.0942030595e-01f);
  p = std::fma(p, z, -1.4261933093e-01f);
  p = std::fma(p, z, 1.9998266040e-01f);
  p = std::fma(p, z, -3.3333283642e-01f);
  const float at = std::fma(p * z, t, t);
  // The octant: atan t, π/2 − atan t, π − atan t or π/2 + atan t, with π/2 = 1.5707963705062866
  // − 4.371139e-8 and π = 3.1415927410125732 − 8.742278e-8, the low part added first.
  const bool negative_x = std::bit_cast<uint32_t>(x) & sign;
  const float hi = swap ? 1.5707963705062866f : (negative_x ? 3.1415927410125732f : 0.0f);
  const float lo = swap ? -4.371139e-8f : (negative_x ? -8.742278e-8f : 0.0f);
  const float r = (lo + (swap != negative_x ? -at : at)) + hi;
  return std::bit_cast<float>(std::bit_cast<uint32_t>(r) | (std::bit_cast<uint32_t>(y) & sign));
}

}  // namespace ponder
