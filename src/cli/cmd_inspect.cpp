// `ponder inspect`: what a safetensors file holds — its metadata and, per tensor, dtype, shape
// and summary statistics.
#include <cmath>

#include "cli/commands.h"
#include "core/dtype.h"
#include "io/safetensors.h"

namespace ponder::cli {

void add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show the tensors and metadata of a safetensors file");
  cmd->add_option("file", *path, "safetensors file")->required();
  cmd->callback([path] {
    SafetensorsReader in(*path);
    for (const auto& [k, v] : in.metadata()) std::printf("metadata %s: %s\n", k.c_str(), v.c_str());
    for (const TensorInfo& t : in.tensors()) {
      std::printf("%-60s %-5s %-20s", t.name.c_str(), dtype_name(t.dtype), shape_str(t.shape).c_str());
      if (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F64) {
        Array<float> v = in.read_f32(t.name, {});
        double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
        for (float x : v) {
          sum += x;
          sq += double(x) * x;
          lo = std::min(lo, double(x));
          hi = std::max(hi, double(x));
        }
        const double n = double(std::max<size_t>(v.size(), 1));
        std::printf(" mean %+.4e rms %.4e min %+.4e max %+.4e", sum / n, std::sqrt(sq / n), lo, hi);
      }
      std::printf("\n");
    }
  });
}

}  // namespace ponder::cli
