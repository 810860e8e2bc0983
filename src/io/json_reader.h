// Strict reading of a JSON object: every field is type-checked, and finish() rejects fields
// nobody asked for, so a typo in a config is an error rather than a silently ignored setting.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

namespace ponder {

// A JSON file, parsed; fails naming the file when it cannot be read or is not valid JSON.
nlohmann::json read_json_file(const std::string& path);

class JsonReader {
 public:
  // `where` names the object in messages, e.g. "model.safetensors: config.arch".
  JsonReader(const nlohmann::json& obj, std::string where);

  bool has(const std::string& key) const { return obj_.contains(key); }
  // Each get leaves `out` unchanged when the key is absent and fails on a wrong type.
  void get(const std::string& key, int& out);
  void get(const std::string& key, int64_t& out);
  void get(const std::string& key, double& out);
  void get(const std::string& key, bool& out);
  void get(const std::string& key, std::string& out);
  void get(const std::string& key, std::optional<int>& out);
  void get(const std::string& key, std::optional<std::string>& out);  // null stays empty
  void get(const std::string& key, std::vector<std::string>& out);
  // A nested object (marked as read); fails if present and not an object.
  std::optional<JsonReader> object(const std::string& key);
  // Marks a key as known without reading it.
  void accept(const std::string& key) { seen_.insert(key); }
  // Fails on any key not read or accepted.
  void finish() const;
  const std::string& where() const { return where_; }
  std::string field(const std::string& key) const { return where_ + "." + key; }

 private:
  const nlohmann::json* find(const std::string& key);
  nlohmann::json obj_;
  std::string where_;
  std::set<std::string> seen_;
};

}  // namespace ponder
