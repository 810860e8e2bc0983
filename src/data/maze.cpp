#include "data/maze.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string_view>
#include <tuple>

#include "core/error.h"
#include "data/dihedral.h"
#include "io/csv.h"
#include "io/safetensors.h"

namespace ponder {

namespace {

constexpr int kMaxSide = 30;  // the reference's canvas (L = 900)

// The in-grid 4-neighbours of cell u; returns how many.
int neighbours(int u, int n, int out[4]) {
  const int r = u / n, c = u % n;
  int k = 0;
  if (r > 0) out[k++] = u - n;
  if (r + 1 < n) out[k++] = u + n;
  if (c > 0) out[k++] = u - 1;
  if (c + 1 < n) out[k++] = u + 1;
  return k;
}

// Distances from `src` over non-wall cells (−1: unreachable). `count`, when given, receives the
// number of shortest paths to each cell, capped at 2 (enough to tell unique from not).
void bfs(const std::string& g, int n, int src, std::vector<int>& dist,
         std::vector<uint8_t>* count) {
  dist.assign(size_t(n) * size_t(n), -1);
  if (count) count->assign(dist.size(), 0);
  std::vector<int> queue;
  queue.reserve(dist.size());
  dist[size_t(src)] = 0;
  if (count) (*count)[size_t(src)] = 1;
  queue.push_back(src);
  for (size_t head = 0; head < queue.size(); ++head) {
    const int u = queue[head];
    int nb[4];
    for (int j = 0, k = neighbours(u, n, nb); j < k; ++j) {
      const size_t v = size_t(nb[j]);
      if (g[v] == '#') continue;
      if (dist[v] < 0) {
        dist[v] = dist[size_t(u)] + 1;
        if (count) (*count)[v] = (*count)[size_t(u)];
        queue.push_back(nb[j]);
      } else if (count && dist[v] == dist[size_t(u)] + 1) {
        (*count)[v] = uint8_t(std::min(2, (*count)[v] + (*count)[size_t(u)]));
      }
    }
  }
}

std::string cell_name(int i, int n) {
  return "(row " + std::to_string(i / n + 1) + ", column " + std::to_string(i % n + 1) + ")";
}

}  // namespace

int maze_shortest(const std::string& grid, int n, bool* unique) {
  if (unique) *unique = false;
  if (n <= 0 || grid.size() != size_t(n) * size_t(n)) return -1;
  const size_t s = grid.find('S'), g = grid.find('G');
  if (s == std::string::npos || g == std::string::npos) return -1;
  std::vector<int> dist;
  std::vector<uint8_t> count;
  bfs(grid, n, int(s), dist, unique ? &count : nullptr);
  if (unique) *unique = dist[g] >= 0 && count[g] == 1;
  return dist[g];
}

bool maze_valid_path(const std::string& question, const std::string& answer, int n,
                     std::string* why) {
  std::string local;
  std::string& w = why ? *why : local;
  auto no = [&](const std::string& reason) {
    w = reason;
    return false;
  };
  const size_t cells = n > 0 ? size_t(n) * size_t(n) : 0;
  if (!cells || question.size() != cells || answer.size() != cells)
    return no("expected " + std::to_string(cells) + " characters for side " + std::to_string(n) +
              ", got " + std::to_string(question.size()) + " (question) and " +
              std::to_string(answer.size()) + " (answer)");
  const int starts = int(std::count(question.begin(), question.end(), 'S'));
  const int goals = int(std::count(question.begin(), question.end(), 'G'));
  if (starts != 1 || goals != 1)
    return no("question has " + std::to_string(starts) + " 'S' and " + std::to_string(goals) +
              " 'G' cells, expected one of each");
  const int s = int(question.find('S')), g = int(question.find('G'));
  std::vector<char> on(cells, 0);  // S, G and the marked cells
  int marked = 0;
  for (size_t i = 0; i < cells; ++i) {
    if (answer[i] == 'o') {
      if (question[i] == '#') return no("path goes through the wall at " + cell_name(int(i), n));
      if (question[i] != ' ')
        return no(std::string("path covers the '") + question[i] + "' at " + cell_name(int(i), n));
      on[i] = 1;
      ++marked;
    } else if (answer[i] != question[i]) {
      return no(std::string("cell ") + cell_name(int(i), n) + " changed from '" + question[i] +
                "' to '" + answer[i] + "'");
    }
  }
  on[size_t(s)] = on[size_t(g)] = 1;
  // A simple path has degree 1 at its ends and 2 inside. A shortest grid path never touches
  // itself, so an extra neighbour is an error too.
  for (int i = 0; i < int(cells); ++i) {
    if (!on[size_t(i)]) continue;
    int nb[4], deg = 0;
    for (int j = 0, k = neighbours(i, n, nb); j < k; ++j) deg += on[size_t(nb[j])];
    const int expected = i == s || i == g ? 1 : 2;
    if (deg < expected) return no("path is broken at " + cell_name(i, n));
    if (deg > expected) return no("path branches or touches itself at " + cell_name(i, n));
  }
  // With those degrees, S's component is a path that ends at G; anything else is a loose cycle.
  std::vector<char> seen(cells, 0);
  int prev = -1, cur = s, moves = 0;
  seen[size_t(s)] = 1;
  while (cur != g) {
    int nb[4], next = -1;
    for (int j = 0, k = neighbours(cur, n, nb); j < k; ++j)
      if (on[size_t(nb[j])] && nb[j] != prev) next = nb[j];
    prev = cur;
    cur = next;
    seen[size_t(cur)] = 1;
    ++moves;
  }
  if (moves != marked + 1)
    for (int i = 0; i < int(cells); ++i)
      if (on[size_t(i)] && !seen[size_t(i)])
        return no("marked cell " + cell_name(i, n) + " is not on the path from S to G");
  const int shortest = maze_shortest(question, n);
  if (moves != shortest)
    return no("path has " + std::to_string(moves) + " moves, the shortest has " +
              std::to_string(shortest));
  return true;
}

Maze maze_generate(const RandomStream& rng, uint64_t index, const MazeGenOptions& o) {
  const int n = o.size;
  PONDER_CHECK(n >= 5 && n <= kMaxSide, "maze size ", n, " is out of range (expected 5 to ",
               kMaxSide, ")");
  PONDER_CHECK(o.loop_fraction >= 0 && o.loop_fraction <= 1, "maze loop fraction ", o.loop_fraction,
               " is out of range (expected 0 to 1)");
  PONDER_CHECK(o.min_path >= -1, "maze minimum path ", o.min_path, " is negative");
  const int min_path = o.min_path < 0 ? int(std::lround(110.0 * n * n / 900.0)) : o.min_path;
  const int m = (n + 1) / 2;  // lattice nodes per side, at even coordinates
  auto node_cell = [&](int v) { return (v / m) * 2 * n + (v % m) * 2; };
  // Tries at the requested loop share first, then fewer loops: loops shorten the S→G distance
  // and may make it non-unique, a perfect maze (the last level) never does the latter.
  constexpr int kLevels = 5, kTries = 16;
  for (int attempt = 0; attempt < kLevels * kTries; ++attempt) {
    const double frac = o.loop_fraction * double(kLevels - 1 - attempt / kTries) / (kLevels - 1);
    // Each attempt owns 2^16 draws (it uses at most ~2m² + 2m² + 3) of the index's 2^24.
    uint64_t k = (index << 24) + (uint64_t(attempt) << 16);
    std::string g(size_t(n) * size_t(n), '#');

    // Perfect maze by randomised depth-first search: long winding corridors, a long diameter.
    std::vector<char> seen(size_t(m) * size_t(m), 0);
    std::vector<int> stack{int(rng.integer(k++, 0, m * m - 1))};
    seen[size_t(stack[0])] = 1;
    g[size_t(node_cell(stack[0]))] = ' ';
    while (!stack.empty()) {
      const int u = stack.back(), r = u / m, c = u % m;
      int cand[4], nc = 0;
      if (r > 0 && !seen[size_t(u - m)]) cand[nc++] = u - m;
      if (r + 1 < m && !seen[size_t(u + m)]) cand[nc++] = u + m;
      if (c > 0 && !seen[size_t(u - 1)]) cand[nc++] = u - 1;
      if (c + 1 < m && !seen[size_t(u + 1)]) cand[nc++] = u + 1;
      if (!nc) {
        stack.pop_back();
        continue;
      }
      const int v = cand[nc == 1 ? 0 : rng.integer(k++, 0, nc - 1)];
      seen[size_t(v)] = 1;
      g[size_t((node_cell(u) + node_cell(v)) / 2)] = ' ';
      g[size_t(node_cell(v))] = ' ';
      stack.push_back(v);
    }

    // Loops: open a share of the walls that still separate two lattice nodes.
    std::vector<int> walls;
    for (int v = 0; v < m * m; ++v) {
      if (v % m + 1 < m && g[size_t(node_cell(v) + 1)] == '#') walls.push_back(node_cell(v) + 1);
      if (v / m + 1 < m && g[size_t(node_cell(v) + n)] == '#') walls.push_back(node_cell(v) + n);
    }
    const int open = int(std::lround(frac * double(walls.size())));
    for (int i = 0; i < open; ++i) {
      std::swap(walls[size_t(i)], walls[size_t(rng.integer(k++, i, int64_t(walls.size()) - 1))]);
      g[size_t(walls[size_t(i)])] = ' ';
    }

    // S and G far apart: the double sweep (farthest from a random node, then farthest from that)
    // approximates the diameter; G is the farthest cell with a unique shortest path.
    std::vector<int> dist;
    std::vector<uint8_t> count;
    bfs(g, n, node_cell(int(rng.integer(k++, 0, m * m - 1))), dist, nullptr);
    const int a = int(std::max_element(dist.begin(), dist.end()) - dist.begin());
    bfs(g, n, a, dist, &count);
    int b = -1;
    for (int i = 0; i < n * n; ++i)
      if (count[size_t(i)] == 1 && (b < 0 || dist[size_t(i)] > dist[size_t(b)])) b = i;
    if (dist[size_t(b)] < min_path) continue;

    Maze maze;
    maze.n = n;
    maze.path_length = dist[size_t(b)];
    maze.source = "ponder-generated:" + std::to_string(index);
    maze.answer = g;
    // Walk back from b; uniqueness means exactly one neighbour is one step closer.
    for (int cur = b; dist[size_t(cur)] > 1;) {
      int nb[4];
      for (int j = 0, kk = neighbours(cur, n, nb); j < kk; ++j)
        if (g[size_t(nb[j])] != '#' && dist[size_t(nb[j])] == dist[size_t(cur)] - 1) {
          cur = nb[j];
          break;
        }
      maze.answer[size_t(cur)] = 'o';
    }
    // Which end is the start is a coin flip, so S is not biased towards the first sweep's end.
    const bool flip = rng.u32(k++) & 1;
    const int s = flip ? b : a, e = flip ? a : b;
    g[size_t(s)] = maze.answer[size_t(s)] = 'S';
    g[size_t(e)] = maze.answer[size_t(e)] = 'G';
    maze.question = std::move(g);
    return maze;
  }
  fail("could not generate a ", n, "x", n, " maze with a unique shortest path of at least ",
       min_path, " moves in ", kLevels * kTries, " tries (lower the minimum path)");
}

std::string dihedral_chars(const std::string& g, int n, int t) {
  PONDER_CHECK(t >= 0 && t < 8, "dihedral transform ", t, " is out of range (expected 0 to 7)");
  PONDER_CHECK(n > 0 && g.size() == size_t(n) * size_t(n), "dihedral_chars: ", g.size(),
               " characters for side ", n);
  const std::vector<char> out = dihedral(std::vector<char>(g.begin(), g.end()), n, n, t);
  return std::string(out.begin(), out.end());
}

// ---- files

std::vector<Maze> read_maze_csv(const std::string& path, bool skip_bad, MazeReadReport* report) {
  MazeReadReport local;
  MazeReadReport& rep = report ? *report : local;
  std::ifstream f(path);
  PONDER_CHECK(f, path, ": cannot open");
  size_t n_cols = 4;
  int s_col = 0, q_col = 1, a_col = 2, side = 0;
  bool first = true;
  std::vector<Maze> out;
  std::string line;
  for (int64_t number = 1; std::getline(f, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::vector<std::string> fields = csv_split(line, false);
    if (first) {
      first = false;
      if (std::find(fields.begin(), fields.end(), "question") != fields.end()) {
        // A header: find the columns by name (the reference's is source,question,answer,rating).
        n_cols = fields.size();
        s_col = q_col = a_col = -1;
        for (size_t c = 0; c < fields.size(); ++c) {
          if (fields[c] == "source") s_col = int(c);
          if (fields[c] == "question") q_col = int(c);
          if (fields[c] == "answer") a_col = int(c);
        }
        PONDER_CHECK(a_col >= 0, path, ":", number, ": header '", line,
                     "' has no answer column (expected source,question,answer,rating)");
        continue;
      }
    }
    ++rep.rows;
    const std::string where = path + ":" + std::to_string(number);
    Maze m;
    auto check = [&]() -> std::string {
      if (fields.size() != n_cols)
        return "has " + std::to_string(fields.size()) + " fields, expected " +
               std::to_string(n_cols);
      m.question = fields[size_t(q_col)];
      m.answer = fields[size_t(a_col)];
      m.source = s_col >= 0 ? fields[size_t(s_col)] : where;
      const size_t len = m.question.size();
      const int n = int(std::lround(std::sqrt(double(len))));
      if (!len || size_t(n) * size_t(n) != len)
        return "question has " + std::to_string(len) + " characters, not a square grid";
      if (n > kMaxSide)
        return "question is " + std::to_string(n) + "x" + std::to_string(n) + ", larger than " +
               std::to_string(kMaxSide) + "x" + std::to_string(kMaxSide);
      if (!side) side = n;
      if (n != side)
        return "question is " + std::to_string(n) + "x" + std::to_string(n) +
               ", but the first is " + std::to_string(side) + "x" + std::to_string(side);
      if (m.answer.size() != len)
        return "answer has " + std::to_string(m.answer.size()) + " characters, expected " +
               std::to_string(len) + " like the question";
      for (const auto& [what, text, allowed] :
           {std::tuple{"question", &m.question, "# SG"}, std::tuple{"answer", &m.answer, "# SGo"}})
        for (size_t i = 0; i < len; ++i)
          if (std::string_view(allowed).find((*text)[i]) == std::string_view::npos)
            return std::string(what) + " has '" + (*text)[i] + "' at position " +
                   std::to_string(i + 1) + " (expected one of \"" + allowed + "\")";
      for (char c : {'S', 'G'}) {
        const auto k = std::count(m.question.begin(), m.question.end(), c);
        if (k != 1)
          return "question has " + std::to_string(k) + " '" + c + "' cells, expected exactly one";
      }
      std::string why;
      if (!maze_valid_path(m.question, m.answer, n, &why))
        return "answer is not a shortest path of the question: " + why;
      m.n = n;
      m.path_length = maze_shortest(m.question, n);
      return "";
    };
    const std::string problem = check();
    if (!problem.empty()) {
      PONDER_CHECK(skip_bad, where, ": ", problem, " (pass --skip-bad to skip bad rows)");
      ++rep.skipped;
      if (rep.problems.size() < 20) rep.problems.push_back(where + ": " + problem);
      continue;
    }
    out.push_back(std::move(m));
  }
  PONDER_CHECK(rep.rows > 0, path,
               ": no mazes in the file (expected a header source,question,answer,rating and rows)");
  return out;
}

void write_maze_csv(const std::string& path, const std::vector<Maze>& mazes) {
  std::string text = "source,question,answer,rating\n";
  for (size_t i = 0; i < mazes.size(); ++i) {
    const Maze& m = mazes[i];
    const size_t cells = size_t(m.n) * size_t(m.n);
    PONDER_CHECK(m.n > 0 && m.question.size() == cells && m.answer.size() == cells, path, ": maze ",
                 i, " has ", m.question.size(), " question and ", m.answer.size(),
                 " answer characters for side ", m.n);
    std::string source = m.source;
    if (source.find_first_of(",\"\r\n") != std::string::npos) {
      std::string q = "\"";
      for (char c : source) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      source = q + "\"";
    }
    text += source + "," + m.question + "," + m.answer + "," + std::to_string(m.path_length) + "\n";
  }
  write_file_atomic(path, {{text.data(), text.size()}});
}

// ---- tokens and datasets

int maze_side(int vocab_size, int seq_len) {
  const int side = int(std::lround(std::sqrt(double(seq_len))));
  return vocab_size == kMazeVocab && side * side == seq_len ? side : 0;
}

std::vector<uint8_t> maze_tokens(const std::string& grid) {
  std::vector<uint8_t> t(grid.size());
  const std::string_view charset(kMazeCharset);
  for (size_t i = 0; i < grid.size(); ++i) {
    const size_t k = charset.find(grid[i]);
    PONDER_CHECK(k != std::string_view::npos, "maze character '", grid[i], "' at position ", i + 1,
                 " is not one of \"", kMazeCharset, "\"");
    t[i] = uint8_t(k + 1);
  }
  return t;
}

std::string maze_from_tokens(const int32_t* tokens, int n) {
  std::string g(size_t(n) * size_t(n), '#');
  for (size_t i = 0; i < g.size(); ++i)
    if (tokens[i] >= 1 && tokens[i] < kMazeVocab) g[i] = kMazeCharset[tokens[i] - 1];
  return g;
}

DatasetSplit build_maze_split(const std::vector<Maze>& mazes, bool aug) {
  PONDER_CHECK(!mazes.empty(), "no mazes to build a dataset split from");
  const int n = mazes[0].n;
  DatasetBuilder b(n * n, kMazeVocab);
  for (size_t i = 0; i < mazes.size(); ++i) {
    const Maze& m = mazes[i];
    PONDER_CHECK(m.n == n, "maze ", i, " (", m.source, ") is ", m.n, "x", m.n,
                 ", but the first is ", n, "x", n, "; a split needs one size");
    b.begin_group();
    for (int t = 0; t < (aug ? 8 : 1); ++t) {
      b.add_puzzle(0);
      b.add_example(maze_tokens(dihedral_chars(m.question, n, t)),
                    maze_tokens(dihedral_chars(m.answer, n, t)));
    }
  }
  // As the reference builder writes: one blank identifier, PAD (0) ignored in labels.
  return b.finish(1, 0);
}

MazeStats maze_stats(const std::vector<Maze>& mazes) {
  MazeStats st;
  st.count = int64_t(mazes.size());
  int64_t walls = 0, cells = 0, solvable = 0, sum = 0;
  std::vector<int64_t> bins;
  for (const Maze& m : mazes) {
    walls += std::count(m.question.begin(), m.question.end(), '#');
    cells += int64_t(m.question.size());
    // Measured on the question, so stats do not trust a stored length.
    const int d = maze_shortest(m.question, m.n);
    if (d < 0) continue;
    st.min_path = solvable ? std::min(st.min_path, d) : d;
    st.max_path = solvable ? std::max(st.max_path, d) : d;
    sum += d;
    ++solvable;
    if (bins.size() <= size_t(d / 10)) bins.resize(size_t(d / 10) + 1, 0);
    ++bins[size_t(d / 10)];
  }
  if (solvable) st.mean_path = double(sum) / double(solvable);
  if (cells) st.wall_density = double(walls) / double(cells);
  // Every bin from the shortest's to the longest's, empty ones included, for a readable table.
  for (size_t b = solvable ? size_t(st.min_path / 10) : bins.size(); b < bins.size(); ++b)
    st.path_histogram.emplace_back(int(b) * 10, bins[b]);
  return st;
}

}  // namespace ponder
