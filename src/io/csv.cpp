#include "io/csv.h"

namespace ponder {

std::vector<std::string> csv_split(const std::string& line_in, bool trim) {
  std::string line = line_in;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> out;
  std::string field;
  bool quoted = false, was_quoted = false;
  auto finish = [&] {
    if (trim && !was_quoted) {
      size_t b = field.find_first_not_of(" \t"), e = field.find_last_not_of(" \t");
      field = b == std::string::npos ? "" : field.substr(b, e - b + 1);
    }
    out.push_back(field);
    field.clear();
    was_quoted = false;
  };
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.find_first_not_of(" \t") == std::string::npos) {
      quoted = was_quoted = true;
      field.clear();
    } else if (c == ',') {
      finish();
    } else {
      field += c;
    }
  }
  finish();
  return out;
}

}  // namespace ponder
