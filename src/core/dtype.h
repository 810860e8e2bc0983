// Element types of tensors on disk and in memory, and bf16 conversion.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ponder {

enum class DType : uint8_t { F32, F64, BF16, I32, I64, U8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);             // safetensors spelling: "F32", "BF16", ...
bool dtype_parse(std::string_view s, DType* out);

// bf16 is the upper half of an fp32; rounding is to nearest even, NaN stays NaN.
// Branch-free, so that loops over it vectorise.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

inline float bf16_to_float(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

}  // namespace ponder
