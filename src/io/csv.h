// Splitting one CSV line into fields: commas, double-quoted fields with "" escapes, a trailing \r
// dropped. With `trim`, spaces and tabs around unquoted fields are removed (Sudoku files); mazes
// keep them, since a space is an open cell.
#pragma once

#include <string>
#include <vector>

namespace ponder {

std::vector<std::string> csv_split(const std::string& line, bool trim);

}  // namespace ponder
