#include "core/dtype.h"

namespace ponder {

namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "F32", 4}, {DType::F64, "F64", 8}, {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4}, {DType::I64, "I64", 8}, {DType::U8, "U8", 1},
};
}  // namespace

size_t dtype_size(DType t) { return kTypes[size_t(t)].size; }
const char* dtype_name(DType t) { return kTypes[size_t(t)].name; }

bool dtype_parse(std::string_view s, DType* out) {
  for (const auto& info : kTypes) {
    if (s == info.name) {
      *out = info.type;
      return true;
    }
  }
  return false;
}

}  // namespace ponder
