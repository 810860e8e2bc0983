#include "io/npy.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace ponder {

namespace {

// Maps a numpy descr to a dtype; '=' and '|' mean native/irrelevant order (little-endian here).
bool parse_descr(const std::string& d, DType* out) {
  if (d.size() < 3) return false;
  const char order = d[0];
  const std::string kind = d.substr(1);
  if (order != '<' && order != '|' && order != '=' && order != '>') return false;
  if (order == '>' && kind != "u1" && kind != "b1") return false;  // byte order matters beyond 1 byte
  if (kind == "u1" || kind == "b1") return *out = DType::U8, true;
  if (kind == "i4") return *out = DType::I32, true;
  if (kind == "i8") return *out = DType::I64, true;
  if (kind == "f4") return *out = DType::F32, true;
  if (kind == "f8") return *out = DType::F64, true;
  return false;
}

std::string descr_of(DType t) {
  switch (t) {
    case DType::U8: return "|u1";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    default: fail("npy: cannot write dtype ", dtype_name(t));
  }
}

// Extracts the value text of `'key': value` from a numpy header dict.
std::string header_value(const std::string& header, const std::string& key,
                         const std::string& path) {
  const std::string k = "'" + key + "'";
  size_t p = header.find(k);
  PONDER_CHECK(p != std::string::npos, path, ": npy header has no '", key, "': ", header);
  p = header.find(':', p + k.size());
  PONDER_CHECK(p != std::string::npos, path, ": malformed npy header: ", header);
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  size_t end = p;
  if (header[p] == '(') {
    end = header.find(')', p);
    PONDER_CHECK(end != std::string::npos, path, ": malformed npy shape: ", header);
    return header.substr(p, end - p + 1);
  }
  if (header[p] == '\'') {
    end = header.find('\'', p + 1);
    PONDER_CHECK(end != std::string::npos, path, ": malformed npy header: ", header);
    return header.substr(p + 1, end - p - 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(p, end - p);
}

}  // namespace

std::vector<int32_t> NpyArray::to_i32(const std::string& path) const {
  const int64_t n = numel();
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t v;
    switch (dtype) {
      case DType::U8: v = bytes[size_t(i)]; break;
      case DType::I32: v = reinterpret_cast<const int32_t*>(bytes.data())[i]; break;
      case DType::I64: v = reinterpret_cast<const int64_t*>(bytes.data())[i]; break;
      default: fail(path, ": expected an integer array, got dtype '", descr, "'");
    }
    PONDER_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
                 path, ": value ", v, " at index ", i, " does not fit in int32");
    out[size_t(i)] = int32_t(v);
  }
  return out;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  PONDER_CHECK(f, path, ": cannot open");
  f.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(f.tellg());
  f.seekg(0);
  char magic[8];
  PONDER_CHECK(size >= 10 && f.read(magic, 8) && std::string(magic, 6) == "\x93NUMPY", path,
               ": not a .npy file (bad magic)");
  const int major = uint8_t(magic[6]);
  PONDER_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy version ", major);
  uint64_t hlen = 0;
  if (major == 1) {
    uint8_t b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (uint64_t(b[1]) << 8);
  } else {
    uint8_t b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (uint64_t(b[1]) << 8) | (uint64_t(b[2]) << 16) | (uint64_t(b[3]) << 24);
  }
  const uint64_t data_start = (major == 1 ? 10 : 12) + hlen;
  PONDER_CHECK(f && hlen <= 1 << 20 && data_start <= size, path, ": npy header length ", hlen,
               " is larger than the file (truncated?)");
  std::string header(hlen, '\0');
  f.read(header.data(), std::streamsize(hlen));
  NpyArray a;
  a.descr = header_value(header, "descr", path);
  PONDER_CHECK(parse_descr(a.descr, &a.dtype), path, ": unsupported npy dtype '", a.descr,
               "' (expected uint8, int32, int64, float32 or float64, little-endian)");
  const std::string fortran = header_value(header, "fortran_order", path);
  PONDER_CHECK(fortran == "False", path, ": Fortran-ordered arrays are not supported");
  std::string shape = header_value(header, "shape", path);
  PONDER_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')', path,
               ": malformed npy shape ", shape);
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    PONDER_CHECK(!item.empty() && item.find_first_not_of("0123456789") == std::string::npos &&
                     item.size() < 13,
                 path, ": malformed npy shape ", shape);
    a.shape.push_back(std::stoll(item));
  }
  const uint64_t need = uint64_t(a.numel()) * dtype_size(a.dtype);
  PONDER_CHECK(size - data_start == need, path, ": holds ", size - data_start,
               " bytes of data but shape ", shape, " of ", a.descr, " needs ", need,
               " (truncated or corrupted file?)");
  a.bytes.resize(need);
  f.read(reinterpret_cast<char*>(a.bytes.data()), std::streamsize(need));
  PONDER_CHECK(f, path, ": read failed");
  return a;
}

void write_npy(const std::string& path, DType dtype, const Shape& shape, const void* data) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i) sh += std::to_string(shape[i]) + (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  sh += ")";
  std::string header = "{'descr': '" + descr_of(dtype) + "', 'fortran_order': False, 'shape': " + sh + ", }";
  // Pad with spaces so that the data starts on a 64-byte boundary, ending with a newline.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string prefix = "\x93NUMPY";
  prefix += char(1);
  prefix += char(0);
  prefix += char(header.size() & 0xff);
  prefix += char(header.size() >> 8);
  const size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  write_file_atomic(path, {{prefix.data(), prefix.size()}, {header.data(), header.size()}, {data, bytes}});
}

}  // namespace ponder
