#include "io/json_reader.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace ponder {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  PONDER_CHECK(f, path, ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
}

JsonReader::JsonReader(const nlohmann::json& obj, std::string where)
    : obj_(obj), where_(std::move(where)) {
  PONDER_CHECK(obj_.is_object(), where_, ": expected a JSON object, got ", obj_.type_name());
}

const nlohmann::json* JsonReader::find(const std::string& key) {
  seen_.insert(key);
  auto it = obj_.find(key);
  return it == obj_.end() ? nullptr : &*it;
}

void JsonReader::get(const std::string& key, int64_t& out) {
  if (auto* v = find(key)) {
    // Integral floats (1e3 from YAML-minded users) are accepted; 1.5 is not.
    if (v->is_number_integer()) {
      out = v->get<int64_t>();
    } else if (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>() &&
               std::fabs(v->get<double>()) < 9e15) {
      out = int64_t(v->get<double>());
    } else {
      fail(field(key), ": expected an integer, got ", v->dump());
    }
  }
}

void JsonReader::get(const std::string& key, int& out) {
  int64_t wide = out;
  get(key, wide);
  PONDER_CHECK(wide >= std::numeric_limits<int>::min() && wide <= std::numeric_limits<int>::max(),
               field(key), ": ", wide, " is out of range");
  out = int(wide);
}

void JsonReader::get(const std::string& key, std::optional<int>& out) {
  if (!has(key)) {
    seen_.insert(key);
    return;
  }
  int v = 0;
  get(key, v);
  out = v;
}

void JsonReader::get(const std::string& key, double& out) {
  if (auto* v = find(key)) {
    PONDER_CHECK(v->is_number(), field(key), ": expected a number, got ", v->dump());
    out = v->get<double>();
  }
}

void JsonReader::get(const std::string& key, bool& out) {
  if (auto* v = find(key)) {
    PONDER_CHECK(v->is_boolean(), field(key), ": expected true or false, got ", v->dump());
    out = v->get<bool>();
  }
}

void JsonReader::get(const std::string& key, std::string& out) {
  if (auto* v = find(key)) {
    PONDER_CHECK(v->is_string(), field(key), ": expected a string, got ", v->dump());
    out = v->get<std::string>();
  }
}

void JsonReader::get(const std::string& key, std::optional<std::string>& out) {
  if (auto* v = find(key)) {
    if (v->is_null()) return;
    PONDER_CHECK(v->is_string(), field(key), ": expected a string or null, got ", v->dump());
    out = v->get<std::string>();
  }
}

void JsonReader::get(const std::string& key, std::vector<std::string>& out) {
  if (auto* v = find(key)) {
    PONDER_CHECK(v->is_array(), field(key), ": expected a list of strings, got ", v->dump());
    out.clear();
    for (const auto& e : *v) {
      PONDER_CHECK(e.is_string(), field(key), ": expected a list of strings, got ", v->dump());
      out.push_back(e.get<std::string>());
    }
  }
}

std::optional<JsonReader> JsonReader::object(const std::string& key) {
  auto* v = find(key);
  if (!v) return std::nullopt;
  PONDER_CHECK(v->is_object(), field(key), ": expected an object, got ", v->dump());
  return JsonReader(*v, field(key));
}

void JsonReader::finish() const {
  for (auto it = obj_.begin(); it != obj_.end(); ++it)
    PONDER_CHECK(seen_.count(it.key()), where_, ": unknown field '", it.key(), "'");
}

}  // namespace ponder
