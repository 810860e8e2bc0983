// NumPy .npy files (format versions 1.0–3.0), as the references' dataset builders write them:
// little-endian, C order. Readers validate the magic, header, dtype and size and name the file in
// every error; writers are atomic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/safetensors.h"

namespace ponder {

struct NpyArray {
  std::string descr;  // numpy dtype string as written, e.g. "|u1", "<i4"
  DType dtype = DType::U8;
  Shape shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const { return shape_numel(shape); }
  // Converts any integer array to int32, checking every value fits.
  std::vector<int32_t> to_i32(const std::string& path) const;
};

NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, DType dtype, const Shape& shape, const void* data);

}  // namespace ponder
