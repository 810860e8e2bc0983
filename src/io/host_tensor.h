// HostTensor: a named-free, owning tensor on the host (dtype, shape, bytes), used to pass whole
// sets of outputs around (e.g. everything `ponder step` writes) and to compare them in tests.
#pragma once

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/safetensors.h"

namespace ponder {

struct HostTensor {
  DType dtype = DType::F32;
  Shape shape;
  std::vector<uint8_t> bytes;

  template <class T>
  static HostTensor of(DType dtype, Shape shape, const T* data) {
    HostTensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.resize(size_t(shape_numel(t.shape)) * sizeof(T));
    if (!t.bytes.empty()) std::memcpy(t.bytes.data(), data, t.bytes.size());
    return t;
  }
  static HostTensor f32(Shape shape, const float* data) { return of(DType::F32, std::move(shape), data); }
  static HostTensor i32(Shape shape, const int32_t* data) { return of(DType::I32, std::move(shape), data); }
  static HostTensor u8(Shape shape, const uint8_t* data) { return of(DType::U8, std::move(shape), data); }
  static HostTensor scalar(float v) { return of(DType::F32, {}, &v); }

  int64_t numel() const { return shape_numel(shape); }
  template <class T>
  const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
};

using TensorMap = std::map<std::string, HostTensor>;

void write_tensors(const std::string& path, const TensorMap& tensors,
                   const std::map<std::string, std::string>& metadata = {});

}  // namespace ponder
