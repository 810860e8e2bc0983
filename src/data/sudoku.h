// Sudoku: grids, an exact solver, the references' validity-preserving augmentation, a puzzle
// generator, and readers for the formats people have (Sudoku-Extreme CSV, Kaggle quiz/solution
// CSV, plain question,answer CSV, one-puzzle-per-line files with optional solution files).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace ponder {

using SudokuGrid = std::array<uint8_t, 81>;  // row-major, 0 = blank, 1..9 = digit

struct SudokuExample {
  SudokuGrid question{};
  SudokuGrid answer{};
  std::string source;  // file:line it came from
};

// ---- rules and solving
// No digit repeats in a row, column or box (blanks ignored).
bool sudoku_consistent(const SudokuGrid& g);
// The first broken rule ("digit 5 twice in row 3"), or "" when there is none.
std::string sudoku_conflict(const SudokuGrid& g);
// A complete grid that obeys the rules.
bool sudoku_is_solution(const SudokuGrid& g);
// `answer` solves `question`: it is a solution and keeps every given.
bool sudoku_solves(const SudokuGrid& question, const SudokuGrid& answer);

struct SolveResult {
  int solutions = 0;       // found, up to the limit
  int64_t nodes = 0;       // search nodes: a measure of difficulty
  SudokuGrid first{};      // the first solution found
};
// Exact search (constraint propagation on bitmasks, fewest-candidates-first branching); stops
// after `limit` solutions. `rng` (optional) randomises the order in which digits are tried.
SolveResult sudoku_solve(const SudokuGrid& question, int limit = 2,
                         const RandomStream* rng = nullptr, uint64_t rng_base = 0);

// ---- text
// Parses 81 characters: '1'–'9' givens, '.' or '0' blanks. Returns an empty string on success,
// else what is wrong.
std::string sudoku_parse(const std::string& text, SudokuGrid* out, bool allow_blanks = true);
std::string sudoku_to_string(const SudokuGrid& g, char blank = '.');

// ---- augmentation (REFERENCE.md §8.3): digit permutation (0 fixed), transpose with p = 0.5
// applied first, rows permuted by bands and rows within bands, columns by stacks likewise.
struct SudokuTransform {
  std::array<uint8_t, 10> digit_map{};  // digit_map[0] = 0
  bool transpose = false;
  std::array<uint8_t, 9> row_perm{}, col_perm{};  // new row i takes old row row_perm[i]
};
SudokuTransform sudoku_random_transform(const RandomStream& rng, uint64_t base);
SudokuGrid sudoku_apply(const SudokuTransform& t, const SudokuGrid& g);
SudokuGrid sudoku_invert(const SudokuTransform& t, const SudokuGrid& g);

// ---- generation: a random solved grid, then clues removed in random order while the solution
// stays unique, down to `target_clues` (or as far as uniqueness allows).
SudokuExample sudoku_generate(const RandomStream& rng, uint64_t index, int target_clues);

// ---- reading
struct SudokuReadOptions {
  std::string solutions_path;  // one-per-line puzzle files: a matching file of solutions
  bool skip_bad = false;       // skip bad rows (counting them) instead of failing
  bool solve_missing = true;   // fill in missing answers with the solver (unique ones only)
  bool need_answer = true;     // false: a puzzle without an answer is kept with an empty one
};
struct SudokuReadReport {
  int64_t rows = 0, skipped = 0, solved = 0;
  std::vector<std::string> problems;  // the first few "file:line: problem"
};
// Reads any supported format, detected from the content. Errors name the file and line.
std::vector<SudokuExample> read_sudoku_file(const std::string& path, const SudokuReadOptions& o,
                                            SudokuReadReport* report = nullptr);

}  // namespace ponder
