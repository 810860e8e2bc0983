// Mazes in the Maze-Hard format (REFERENCE.md §8.4): an N×N grid over the charset "# SGo" — wall,
// open, start, goal, and (answers only) the cells of the shortest path. A seeded generator makes
// hard mazes (a perfect maze with extra openings for loops, start and goal far apart, a unique
// shortest path), and a checker says whether a predicted path is a valid shortest path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/dataset.h"

namespace ponder {

constexpr const char* kMazeCharset = "# SGo";  // token = index + 1; PAD 0; V = 6
constexpr int kMazeVocab = 6;

struct Maze {
  int n = 0;             // side
  std::string question;  // n·n chars: '#', ' ', 'S', 'G'
  std::string answer;    // the question with the shortest path's inner cells as 'o'
  int path_length = 0;   // moves from S to G
  std::string source;
};

// BFS over open cells (4-neighbourhood). Returns the distance from S to G (−1 if unreachable) and,
// when `unique` is given, whether exactly one shortest path exists.
int maze_shortest(const std::string& grid, int n, bool* unique = nullptr);

// Whether `answer` marks a shortest S→G path in `question`: every cell but the marked path is
// unchanged, the marked cells with S and G form a simple 4-connected path over open cells, and its
// length is the shortest distance. `why` receives the reason when it is not.
bool maze_valid_path(const std::string& question, const std::string& answer, int n,
                     std::string* why = nullptr);

struct MazeGenOptions {
  int size = 30;
  int min_path = -1;           // −1: 110·size²/900 (Maze-Hard's "> 110" on 30×30), rounded
  double loop_fraction = 0.1;  // share of interior walls between passages knocked out
};
// A generated maze, deterministic for (rng, index).
Maze maze_generate(const RandomStream& rng, uint64_t index, const MazeGenOptions& o);

// Dihedral transform t ∈ 0..7 (REFERENCE.md §8.5's table) of an n×n grid of chars.
std::string dihedral_chars(const std::string& g, int n, int t);

// Reads the Maze-Hard CSV (source,question,answer,rating). Bad rows — wrong length, a side that
// differs from the first row's, characters outside "# SGo", not exactly one S and one G, an answer
// that is not a shortest path of its question — stop the read with file:line, or are skipped and
// counted with skip_bad.
struct MazeReadReport {
  int64_t rows = 0, skipped = 0;
  std::vector<std::string> problems;
};
std::vector<Maze> read_maze_csv(const std::string& path, bool skip_bad,
                                MazeReadReport* report = nullptr);
void write_maze_csv(const std::string& path, const std::vector<Maze>& mazes);

// The side of a maze model's grid (vocab_size 6, seq_len a square), or 0 for other models.
int maze_side(int vocab_size, int seq_len);

// Tokens (REFERENCE.md §8.4): char index in "# SGo" + 1, PAD 0. maze_from_tokens maps PAD and
// out-of-range tokens to '#'.
std::vector<uint8_t> maze_tokens(const std::string& grid);
std::string maze_from_tokens(const int32_t* tokens, int n);

// A split in the reference format: one group per maze, all ids 0, one example per puzzle; with
// `aug` each group also holds the 7 other dihedral versions (the reference builder's --aug).
DatasetSplit build_maze_split(const std::vector<Maze>& mazes, bool aug);

// Statistics a user compares with the reference's description of Maze-Hard.
struct MazeStats {
  int64_t count = 0;
  int min_path = 0, max_path = 0;
  double mean_path = 0, wall_density = 0;               // wall_density: share of '#' cells
  std::vector<std::pair<int, int64_t>> path_histogram;  // (bin start, count), bins of 10 moves
};
MazeStats maze_stats(const std::vector<Maze>& mazes);

}  // namespace ponder
