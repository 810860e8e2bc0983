#include "train/model_file.h"

#include "core/error.h"
#include "model/weights_io.h"

namespace ponder {

RunConfig read_config_metadata(const SafetensorsReader& in) {
  auto it = in.metadata().find("config");
  PONDER_CHECK(it != in.metadata().end(), in.path(),
               ": no \"config\" in __metadata__ (expected the run configuration as JSON)");
  return parse_run_config(it->second, in.path() + ": config");
}

LoadedModel load_model_file(Ops& ops, const std::string& path,
                            const std::function<bool(const std::string&)>& is_extra) {
  SafetensorsReader in(path);
  LoadedModel lm;
  lm.config = read_config_metadata(in);
  lm.model = std::make_unique<Model>(ops, lm.config.model);
  load_weights(*lm.model, in, is_extra);
  return lm;
}

void save_model_file(Model& m, const RunConfig& config, const std::string& path,
                     const TensorMap& extra) {
  HostWeights w = download_weights(m);
  SafetensorsWriter out;
  add_weights(m, w, out);
  for (const auto& [name, t] : extra) out.add(name, t.dtype, t.shape, t.bytes.data());
  out.set_metadata("config", run_config_json(config));
  out.set_metadata("format", "ponder");
  out.write(path);
}

}  // namespace ponder
