#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "core/error.h"

namespace ponder {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr int64_t kMaxDim = int64_t(1) << 40;

std::string errno_str() { return std::strerror(errno); }

}  // namespace

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

SafetensorsReader::SafetensorsReader(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  PONDER_CHECK(fd_ >= 0, path_, ": cannot open: ", errno_str());
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    fail(path_, ": not a regular file");
  }
  try {
    const uint64_t file_size = uint64_t(st.st_size);
    PONDER_CHECK(file_size >= 8, path_, ": file is ", file_size,
                 " bytes; a safetensors file starts with an 8-byte header length");
    uint8_t len_bytes[8];
    PONDER_CHECK(::pread(fd_, len_bytes, 8, 0) == 8, path_, ": cannot read header length");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
    PONDER_CHECK(header_len <= kMaxHeaderBytes, path_, ": header length ", header_len,
                 " exceeds the ", kMaxHeaderBytes, "-byte limit (not a safetensors file?)");
    PONDER_CHECK(header_len <= file_size - 8, path_, ": header length ", header_len,
                 " exceeds the file size ", file_size, " (truncated file?)");
    std::string header(header_len, '\0');
    PONDER_CHECK(::pread(fd_, header.data(), header_len, 8) == ssize_t(header_len), path_,
                 ": cannot read the ", header_len, "-byte header");
    data_start_ = 8 + header_len;
    data_size_ = file_size - data_start_;

    nlohmann::json j;
    try {
      j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::parse_error& e) {
      fail(path_, ": header is not valid JSON: ", e.what());
    }
    PONDER_CHECK(j.is_object(), path_, ": header must be a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& name = it.key();
      const auto& v = it.value();
      if (name == "__metadata__") {
        PONDER_CHECK(v.is_object(), path_, ": __metadata__ must be an object of strings");
        for (auto m = v.begin(); m != v.end(); ++m) {
          PONDER_CHECK(m.value().is_string(), path_, ": __metadata__ key '", m.key(),
                       "' must map to a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      const std::string where = path_ + ": tensor '" + name + "'";
      PONDER_CHECK(v.is_object(), where, ": entry must be an object");
      for (auto f = v.begin(); f != v.end(); ++f)
        PONDER_CHECK(f.key() == "dtype" || f.key() == "shape" || f.key() == "data_offsets", where,
                     ": unknown field '", f.key(), "'");
      PONDER_CHECK(v.contains("dtype") && v["dtype"].is_string(), where,
                   ": missing string field 'dtype'");
      TensorInfo t;
      t.name = name;
      const std::string dt = v["dtype"].get<std::string>();
      PONDER_CHECK(dtype_parse(dt, &t.dtype), where, ": unsupported dtype '", dt,
                   "' (expected F32, F64, BF16, I32, I64 or U8)");
      PONDER_CHECK(v.contains("shape") && v["shape"].is_array(), where,
                   ": missing array field 'shape'");
      int64_t numel = 1;
      for (const auto& d : v["shape"]) {
        PONDER_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0 && d.get<int64_t>() <= kMaxDim,
                     where, ": shape entries must be integers in [0, 2^40], got ", d.dump());
        t.shape.push_back(d.get<int64_t>());
        numel *= t.shape.back();
        PONDER_CHECK(numel <= kMaxDim * 4, where, ": shape ", v["shape"].dump(), " is too large");
      }
      PONDER_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() &&
                       v["data_offsets"].size() == 2 && v["data_offsets"][0].is_number_unsigned() &&
                       v["data_offsets"][1].is_number_unsigned(),
                   where, ": 'data_offsets' must be two non-negative integers");
      t.begin = v["data_offsets"][0].get<uint64_t>();
      t.end = v["data_offsets"][1].get<uint64_t>();
      PONDER_CHECK(t.begin <= t.end, where, ": data_offsets [", t.begin, ", ", t.end,
                   "] end before they begin");
      const uint64_t need = uint64_t(numel) * dtype_size(t.dtype);
      PONDER_CHECK(t.end - t.begin == need, where, ": data_offsets [", t.begin, ", ", t.end,
                   "] span ", t.end - t.begin, " bytes but shape ", shape_str(t.shape), " of ", dt,
                   " needs ", need);
      PONDER_CHECK(t.end <= data_size_, where, ": data ends at byte ", t.end, " but the file has only ",
                   data_size_, " bytes of data (truncated file?)");
      index_[name] = tensors_.size();
      tensors_.push_back(std::move(t));
    }
    std::vector<const TensorInfo*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* a, auto* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i)
      PONDER_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end || by_offset[i]->begin == by_offset[i]->end,
                   path_, ": tensors '", by_offset[i - 1]->name, "' and '", by_offset[i]->name,
                   "' overlap");
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

SafetensorsReader::~SafetensorsReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool SafetensorsReader::has(const std::string& name) const { return index_.count(name) != 0; }

const TensorInfo& SafetensorsReader::info(const std::string& name) const {
  auto it = index_.find(name);
  PONDER_CHECK(it != index_.end(), path_, ": missing tensor '", name, "'");
  return tensors_[it->second];
}

void SafetensorsReader::read_raw(const TensorInfo& t, void* dst) const {
  uint64_t remaining = t.end - t.begin, done = 0;
  auto* out = static_cast<uint8_t*>(dst);
  while (remaining > 0) {
    ssize_t got = ::pread(fd_, out + done, std::min<uint64_t>(remaining, 1ull << 30),
                          off_t(data_start_ + t.begin + done));
    PONDER_CHECK(got > 0, path_, ": reading tensor '", t.name, "' failed: ",
                 got < 0 ? errno_str() : std::string("unexpected end of file"));
    done += uint64_t(got);
    remaining -= uint64_t(got);
  }
}

void SafetensorsReader::expect(const std::string& name, std::initializer_list<DType> dtypes,
                               const Shape& expected) const {
  const TensorInfo& t = info(name);
  bool ok = false;
  std::string names;
  for (DType d : dtypes) {
    ok |= d == t.dtype;
    names += (names.empty() ? "" : " or ") + std::string(dtype_name(d));
  }
  PONDER_CHECK(ok, path_, ": tensor '", name, "' has dtype ", dtype_name(t.dtype), ", expected ",
               names);
  PONDER_CHECK(expected.empty() || t.shape == expected, path_, ": tensor '", name, "' has shape ",
               shape_str(t.shape), ", expected ", shape_str(expected));
}

Array<float> SafetensorsReader::read_f32(const std::string& name, const Shape& expected) const {
  expect(name, {DType::F32, DType::BF16, DType::F64}, expected);
  const TensorInfo& t = info(name);
  Array<float> out(size_t(t.numel()));
  if (t.dtype == DType::F32) {
    read_raw(t, out.data());
  } else if (t.dtype == DType::BF16) {
    Array<uint16_t> raw(out.size());
    read_raw(t, raw.data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = bf16_to_float(raw[i]);
  } else {
    Array<double> raw(out.size());
    read_raw(t, raw.data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = float(raw[i]);
  }
  return out;
}

Array<int32_t> SafetensorsReader::read_i32(const std::string& name, const Shape& expected) const {
  expect(name, {DType::I32}, expected);
  Array<int32_t> out(size_t(info(name).numel()));
  read_raw(info(name), out.data());
  return out;
}

Array<uint8_t> SafetensorsReader::read_u8(const std::string& name, const Shape& expected) const {
  expect(name, {DType::U8}, expected);
  Array<uint8_t> out(size_t(info(name).numel()));
  read_raw(info(name), out.data());
  return out;
}

uint32_t SafetensorsReader::data_crc32() const {
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<uint8_t> buf(size_t(1) << 22);
  uint64_t done = 0;
  while (done < data_size_) {
    const size_t want = size_t(std::min<uint64_t>(buf.size(), data_size_ - done));
    const ssize_t got = ::pread(fd_, buf.data(), want, off_t(data_start_ + done));
    PONDER_CHECK(got > 0, path_, ": read failed while checking the checksum");
    crc = crc32(crc, buf.data(), uInt(got));
    done += uint64_t(got);
  }
  return uint32_t(crc);
}

uint32_t SafetensorsWriter::data_crc32() const {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, e] : entries_) {
    const auto* p = static_cast<const uint8_t*>(e.data);
    size_t left = size_t(shape_numel(e.shape)) * dtype_size(e.dtype);
    while (left > 0) {
      const size_t n = std::min<size_t>(left, size_t(1) << 30);
      crc = crc32(crc, p, uInt(n));
      p += n;
      left -= n;
    }
  }
  return uint32_t(crc);
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape,
                            const void* data) {
  PONDER_CHECK(name != "__metadata__" && !name.empty(), "invalid tensor name '", name, "'");
  entries_[name] = Entry{dtype, shape, data, nullptr};
}

void SafetensorsWriter::add_f32_as(const std::string& name, DType dtype, const Shape& shape,
                                   const float* data) {
  if (dtype == DType::F32) return add(name, dtype, shape, data);
  PONDER_CHECK(dtype == DType::BF16, "tensor '", name, "': cannot store fp32 data as ",
               dtype_name(dtype));
  const size_t n = size_t(shape_numel(shape));
  auto owned = std::make_shared<std::vector<uint8_t>>(n * 2);
  auto* out = reinterpret_cast<uint16_t*>(owned->data());
  for (size_t i = 0; i < n; ++i) out[i] = float_to_bf16(data[i]);
  entries_[name] = Entry{dtype, shape, owned->data(), owned};
}

void SafetensorsWriter::write(const std::string& path) const {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  std::vector<std::pair<const void*, size_t>> parts;
  for (const auto& [name, e] : entries_) {
    const uint64_t bytes = uint64_t(shape_numel(e.shape)) * dtype_size(e.dtype);
    header[name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  parts.push_back({len_bytes, 8});
  parts.push_back({text.data(), text.size()});
  for (const auto& [name, e] : entries_)
    parts.push_back({e.data, size_t(shape_numel(e.shape)) * dtype_size(e.dtype)});
  write_file_atomic(path, parts);
}

void write_file_atomic(const std::string& path,
                       const std::vector<std::pair<const void*, size_t>>& parts) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  PONDER_CHECK(fd >= 0, path, ": cannot create temporary file ", tmp, ": ", errno_str());
  auto abandon = [&](const std::string& what) {
    const std::string why = errno_str();
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, ": ", what, ": ", why);
  };
  for (const auto& [data, size] : parts) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd, p + done, std::min<size_t>(size - done, 1u << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) abandon("write failed");
      done += size_t(n);
    }
  }
  if (::fsync(fd) != 0) abandon("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(path, ": close failed: ", errno_str());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_str();
    ::unlink(tmp.c_str());
    fail(path, ": cannot rename temporary file into place: ", why);
  }
}

}  // namespace ponder
