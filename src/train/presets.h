// Presets: run configurations named after the references' recipes (REFERENCE.md §7.4), plus
// small ones that train in minutes on a CPU. The dataset fields come from the data at run time.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ponder {

// The preset's run-config JSON; fails with the list of presets when `name` is unknown.
nlohmann::json preset_config(const std::string& name);
std::vector<std::string> preset_names();
// A preset name, or a path to a JSON run config: either gives the JSON tree.
nlohmann::json load_config_arg(const std::string& preset_or_path);

}  // namespace ponder
