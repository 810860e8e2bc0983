#include "core/rng.h"

#include <cmath>

namespace ponder {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kM0) * c[0];
    uint64_t p1 = uint64_t(kM1) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1],
         uint32_t(p0)};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

uint64_t RandomStream::u64(uint64_t index) const {
  auto r = philox4x32({uint32_t(index), uint32_t(index >> 32), uint32_t(stream_),
                       uint32_t(stream_ >> 32)},
                      {uint32_t(seed_), uint32_t(seed_ >> 32)});
  return (uint64_t(r[0]) << 32) | r[1];
}

uint32_t RandomStream::u32(uint64_t index) const { return uint32_t(u64(index) >> 32); }

double RandomStream::uniform(uint64_t index) const {
  return (double(u64(index) >> 11) + 0.5) * 0x1.0p-53;
}

int64_t RandomStream::integer(uint64_t index, int64_t lo, int64_t hi) const {
  uint64_t span = uint64_t(hi - lo) + 1;
  // 128-bit multiply maps 64 random bits onto [0, span) with negligible bias.
  unsigned __int128 m = (unsigned __int128)u64(index) * span;
  return lo + int64_t(uint64_t(m >> 64));
}

double erfinv(double y) {
  if (y <= -1.0) return -INFINITY;
  if (y >= 1.0) return INFINITY;
  // Giles' single-precision approximation, then Newton steps on erf to full double precision.
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * y;
  }
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 3; ++i) {
    double err = std::erf(x) - y;
    x -= err / (two_over_sqrt_pi * std::exp(-x * x));
  }
  return x;
}

void fill_truncated_normal(float* out, size_t n, double std, const RandomStream& rng) {
  if (std == 0.0) {
    for (size_t i = 0; i < n; ++i) out[i] = 0.0f;
    return;
  }
  const double lower = -2.0, upper = 2.0, sqrt2 = std::sqrt(2.0);
  const double a = std::erf(lower / sqrt2), b = std::erf(upper / sqrt2);
  const double z = (b - a) / 2.0;
  const double c = 1.0 / std::sqrt(2.0 * M_PI);
  const double pdf_lo = c * std::exp(-0.5 * lower * lower);
  const double pdf_hi = c * std::exp(-0.5 * upper * upper);
  const double comp_std =
      std / std::sqrt(1.0 - (upper * pdf_lo - lower * pdf_hi) / z -
                      ((pdf_lo - pdf_hi) / z) * ((pdf_lo - pdf_hi) / z));
  for (size_t i = 0; i < n; ++i) {
    double u = a + (b - a) * rng.uniform(i);
    double v = sqrt2 * comp_std * erfinv(u);
    v = v < lower * comp_std ? lower * comp_std : v;
    v = v > upper * comp_std ? upper * comp_std : v;
    out[i] = float(v);
  }
}

}  // namespace ponder
