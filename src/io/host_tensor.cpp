#include "io/host_tensor.h"

namespace ponder {

void write_tensors(const std::string& path, const TensorMap& tensors,
                   const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w;
  for (const auto& [name, t] : tensors) w.add(name, t.dtype, t.shape, t.bytes.data());
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  w.write(path);
}

}  // namespace ponder
