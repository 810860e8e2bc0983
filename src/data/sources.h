// Where training and evaluation data come from: a built dataset directory (the reference
// format), or directly a puzzle file in any supported format, built in memory.
#pragma once

#include <string>

#include "data/dataset.h"
#include "data/sudoku.h"

namespace ponder {

struct SourceOptions {
  int num_aug = 0;      // augmented versions per puzzle, for puzzle files
  uint64_t seed = 0;
  bool skip_bad = false;
};

// `split` is "train" or "test" for a dataset directory; a puzzle file is the split itself.
DatasetSplit load_split(const std::string& path, const std::string& split, const SourceOptions& o);
bool has_split(const std::string& dataset_dir, const std::string& split);

}  // namespace ponder
