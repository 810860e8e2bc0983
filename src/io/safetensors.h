// safetensors: u64 little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the raw
// little-endian row-major data. Readers validate everything before trusting it; writers write to
// a temporary file and rename, so an existing file is never left half-written.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/dtype.h"

namespace ponder {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const { return shape_numel(shape); }
};

class SafetensorsReader {
 public:
  explicit SafetensorsReader(std::string path);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // error if absent

  // Raw bytes of a tensor into dst (exactly info.end - info.begin bytes).
  void read_raw(const TensorInfo& t, void* dst) const;

  // Typed reads that check the name exists, the dtype is one of those accepted and the shape is
  // the one expected (an empty `expected` accepts any shape). F32 accepts F32, F64 and BF16
  // (converted); the integer reads accept exactly their type.
  Array<float> read_f32(const std::string& name, const Shape& expected) const;
  Array<int32_t> read_i32(const std::string& name, const Shape& expected) const;
  Array<uint8_t> read_u8(const std::string& name, const Shape& expected) const;
  // CRC-32 of the whole data section (streamed; for checksums of checkpoints).
  uint32_t data_crc32() const;
  // Checks dtype and shape without reading; the message names the file and tensor.
  void expect(const std::string& name, std::initializer_list<DType> dtypes,
              const Shape& expected) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t data_start_ = 0;
  uint64_t data_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

class SafetensorsWriter {
 public:
  // The data pointer must stay valid until write(). Tensors are written in name order.
  void add(const std::string& name, DType dtype, const Shape& shape, const void* data);
  // Adds an fp32 tensor stored as `dtype` (F32 or BF16), converting on write.
  void add_f32_as(const std::string& name, DType dtype, const Shape& shape, const float* data);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  // CRC-32 of the data section write() will produce (tensors in name order).
  uint32_t data_crc32() const;
  void write(const std::string& path) const;

 private:
  struct Entry {
    DType dtype;
    Shape shape;
    const void* data;
    std::shared_ptr<std::vector<uint8_t>> owned;  // converted copies
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes `bytes` to path atomically: a temporary file beside it, fsync, rename.
void write_file_atomic(const std::string& path, const std::vector<std::pair<const void*, size_t>>& parts);

}  // namespace ponder
