// Sudoku datasets in the reference format (REFERENCE.md §8.3): tokens are digit + 1 (PAD 0,
// blank 1, digits 2–10, V = 11), L = 81, one example per puzzle, all puzzle ids 0; each group is
// an original puzzle followed by its augmented versions.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/sudoku.h"

namespace ponder {

constexpr int kSudokuVocab = 11;
// Whether a model's shapes are those of 9×9 Sudoku.
inline bool is_sudoku_model(int vocab_size, int seq_len) {
  return vocab_size == kSudokuVocab && seq_len == 81;
}

std::vector<uint8_t> sudoku_tokens(const SudokuGrid& g);
SudokuGrid sudoku_from_tokens(const int32_t* tokens);  // inverse of sudoku_tokens; PAD → blank

// Builds a split: each puzzle, then `num_aug` versions transformed by draws keyed by (seed, i).
DatasetSplit build_sudoku_split(const std::vector<SudokuExample>& puzzles, int num_aug,
                                uint64_t seed);

// A seeded sample of `count` distinct indices out of n, in increasing order.
std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed);

}  // namespace ponder
