#include "data/sources.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "data/sudoku_dataset.h"

namespace ponder {

bool has_split(const std::string& dir, const std::string& split) {
  return std::filesystem::exists(dir + "/" + split + "/dataset.json");
}

DatasetSplit load_split(const std::string& path, const std::string& split, const SourceOptions& o) {
  PONDER_CHECK(std::filesystem::exists(path), path, ": not found");
  if (std::filesystem::is_directory(path)) return read_dataset_split(path, split);
  SudokuReadOptions ro;
  ro.skip_bad = o.skip_bad;
  SudokuReadReport rep;
  std::vector<SudokuExample> puzzles = read_sudoku_file(path, ro, &rep);
  if (rep.skipped)
    std::fprintf(stderr, "%s: skipped %lld bad rows (first: %s)\n", path.c_str(),
                 (long long)rep.skipped, rep.problems[0].c_str());
  PONDER_CHECK(!puzzles.empty(), path, ": no usable puzzles");
  return build_sudoku_split(puzzles, o.num_aug, o.seed);
}

}  // namespace ponder
