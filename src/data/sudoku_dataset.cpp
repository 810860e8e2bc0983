#include "data/sudoku_dataset.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace ponder {

std::vector<uint8_t> sudoku_tokens(const SudokuGrid& g) {
  std::vector<uint8_t> t(81);
  for (size_t i = 0; i < 81; ++i) t[i] = uint8_t(g[i] + 1);
  return t;
}

SudokuGrid sudoku_from_tokens(const int32_t* tokens) {
  SudokuGrid g{};
  for (size_t i = 0; i < 81; ++i) g[i] = tokens[i] >= 2 && tokens[i] <= 10 ? uint8_t(tokens[i] - 1) : 0;
  return g;
}

DatasetSplit build_sudoku_split(const std::vector<SudokuExample>& puzzles, int num_aug,
                                uint64_t seed) {
  PONDER_CHECK(num_aug >= 0, "--num-aug must not be negative");
  DatasetBuilder b(81, kSudokuVocab);
  const RandomStream rng(seed, 0x5d);
  for (size_t i = 0; i < puzzles.size(); ++i) {
    b.begin_group();
    for (int k = 0; k <= num_aug; ++k) {
      SudokuGrid q = puzzles[i].question, a = puzzles[i].answer;
      if (k > 0) {
        const SudokuTransform t = sudoku_random_transform(rng, (uint64_t(i) * 4096 + uint64_t(k)) * 64);
        q = sudoku_apply(t, q);
        a = sudoku_apply(t, a);
      }
      b.add_puzzle(0);
      b.add_example(sudoku_tokens(q), sudoku_tokens(a));
    }
  }
  // ignore_label_id 0 (PAD) as the reference builder writes; Sudoku labels are never PAD.
  return b.finish(1, 0);
}

std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed) {
  count = std::min(count, n);
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  const RandomStream rng(seed, 0x5a);
  for (int64_t i = 0; i < count; ++i)
    std::swap(all[size_t(i)], all[size_t(rng.integer(uint64_t(i), i, n - 1))]);
  all.resize(size_t(count));
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace ponder
