#include "data/sudoku.h"

#include <algorithm>
#include <bit>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "io/csv.h"

namespace ponder {

namespace {

constexpr uint16_t kAll = 0x3FE;  // bits 1..9

inline int box_of(int i) { return (i / 27) * 3 + (i % 9) / 3; }

int unit_cell(int unit, int k) {
  if (unit < 9) return unit * 9 + k;
  if (unit < 18) return k * 9 + (unit - 9);
  return ((unit - 18) / 3 * 3 + k / 3) * 9 + (unit - 18) % 3 * 3 + k % 3;
}

}  // namespace

std::string sudoku_conflict(const SudokuGrid& g) {
  for (int unit = 0; unit < 27; ++unit) {
    uint16_t seen = 0;
    for (int k = 0; k < 9; ++k) {
      const int d = g[size_t(unit_cell(unit, k))];
      if (!d) continue;
      if (seen & (1u << d)) {
        const char* kind = unit < 9 ? "row" : unit < 18 ? "column" : "box";
        return "digit " + std::to_string(d) + " twice in " + kind + " " +
               std::to_string(unit % 9 + 1);
      }
      seen |= uint16_t(1u << d);
    }
  }
  return "";
}

namespace {

struct Search {
  uint16_t row[9] = {}, col[9] = {}, box[9] = {};
  SudokuGrid cell{};
  int limit = 2;
  const RandomStream* rng = nullptr;
  uint64_t rng_base = 0;
  SolveResult result;

  void set(int i, int d) {
    cell[size_t(i)] = uint8_t(d);
    row[i / 9] |= uint16_t(1u << d);
    col[i % 9] |= uint16_t(1u << d);
    box[box_of(i)] |= uint16_t(1u << d);
  }
  void unset(int i, int d) {
    cell[size_t(i)] = 0;
    row[i / 9] &= uint16_t(~(1u << d));
    col[i % 9] &= uint16_t(~(1u << d));
    box[box_of(i)] &= uint16_t(~(1u << d));
  }

  uint16_t candidates(int i) const {
    return kAll & uint16_t(~(row[i / 9] | col[i % 9] | box[box_of(i)]));
  }

  // Places naked and hidden singles until none is left, recording them on `trail`. Returns false
  // on a contradiction (a cell or a unit with no place left for a digit).
  bool propagate(std::vector<int>& trail) {
    for (bool changed = true; changed;) {
      changed = false;
      for (int i = 0; i < 81; ++i) {
        if (cell[size_t(i)]) continue;
        const uint16_t m = candidates(i);
        if (m == 0) return false;
        if (std::popcount(m) == 1) {
          set(i, std::countr_zero(m));
          trail.push_back(i);
          changed = true;
        }
      }
      for (int unit = 0; unit < 27; ++unit) {
        int where[10];
        uint16_t once = 0, twice = 0, placed = 0;
        for (int k = 0; k < 9; ++k) {
          const int i = unit_cell(unit, k);
          if (cell[size_t(i)]) {
            placed |= uint16_t(1u << cell[size_t(i)]);
            continue;
          }
          const uint16_t m = candidates(i);
          twice |= once & m;
          once |= m;
          for (uint16_t b = m; b; b &= uint16_t(b - 1)) where[std::countr_zero(b)] = i;
        }
        if ((once | placed) != kAll) return false;  // a digit with no place in this unit
        for (uint16_t b = once & uint16_t(~twice); b; b &= uint16_t(b - 1)) {
          const int d = std::countr_zero(b), i = where[d];
          if (cell[size_t(i)]) continue;
          if (!(candidates(i) & (1u << d))) return false;
          set(i, d);
          trail.push_back(i);
          changed = true;
        }
      }
    }
    return true;
  }

  void dfs() {
    if (result.solutions >= limit) return;
    ++result.nodes;
    std::vector<int> trail;
    if (propagate(trail)) branch();
    for (auto it = trail.rbegin(); it != trail.rend(); ++it) unset(*it, cell[size_t(*it)]);
  }

  void branch() {
    int best = -1, best_count = 10;
    uint16_t best_mask = 0;
    for (int i = 0; i < 81; ++i) {
      if (cell[size_t(i)]) continue;
      const uint16_t mask = candidates(i);
      const int c = std::popcount(mask);
      if (c < best_count) {
        best = i;
        best_count = c;
        best_mask = mask;
      }
    }
    if (best < 0) {
      if (result.solutions++ == 0) result.first = cell;
      return;
    }
    int digits[9], n = 0;
    for (int d = 1; d <= 9; ++d)
      if (best_mask & (1u << d)) digits[n++] = d;
    if (rng) {
      for (int k = n - 1; k > 0; --k) {
        const int j = int(rng->integer(rng_base + uint64_t(result.nodes) * 16 + uint64_t(k), 0, k));
        std::swap(digits[k], digits[j]);
      }
    }
    for (int k = 0; k < n && result.solutions < limit; ++k) {
      set(best, digits[k]);
      dfs();
      unset(best, digits[k]);
    }
  }
};

}  // namespace

bool sudoku_consistent(const SudokuGrid& g) { return sudoku_conflict(g).empty(); }

bool sudoku_is_solution(const SudokuGrid& g) {
  for (uint8_t d : g)
    if (d < 1 || d > 9) return false;
  return sudoku_consistent(g);
}

bool sudoku_solves(const SudokuGrid& q, const SudokuGrid& a) {
  if (!sudoku_is_solution(a)) return false;
  for (size_t i = 0; i < 81; ++i)
    if (q[i] && q[i] != a[i]) return false;
  return true;
}

SolveResult sudoku_solve(const SudokuGrid& question, int limit, const RandomStream* rng,
                         uint64_t rng_base) {
  Search s;
  s.limit = limit;
  s.rng = rng;
  s.rng_base = rng_base;
  if (!sudoku_consistent(question)) return s.result;
  for (int i = 0; i < 81; ++i)
    if (question[size_t(i)]) s.set(i, question[size_t(i)]);
  s.dfs();
  return s.result;
}

std::string sudoku_parse(const std::string& text, SudokuGrid* out, bool allow_blanks) {
  if (text.size() != 81)
    return "has " + std::to_string(text.size()) + " characters, expected 81";
  for (size_t i = 0; i < 81; ++i) {
    const char c = text[i];
    if (c >= '1' && c <= '9') {
      (*out)[i] = uint8_t(c - '0');
    } else if (allow_blanks && (c == '.' || c == '0')) {
      (*out)[i] = 0;
    } else {
      return std::string("has '") + c + "' at position " + std::to_string(i + 1) +
             (allow_blanks ? " (expected 1-9, '.' or '0')" : " (expected 1-9)");
    }
  }
  return "";
}

std::string sudoku_to_string(const SudokuGrid& g, char blank) {
  std::string s(81, blank);
  for (size_t i = 0; i < 81; ++i)
    if (g[i]) s[i] = char('0' + g[i]);
  return s;
}

SudokuTransform sudoku_random_transform(const RandomStream& rng, uint64_t base) {
  SudokuTransform t;
  uint64_t k = base;
  auto shuffle = [&](uint8_t* a, int n) {
    for (int i = n - 1; i > 0; --i) std::swap(a[i], a[rng.integer(k++, 0, i)]);
  };
  uint8_t digits[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  shuffle(digits, 9);
  t.digit_map[0] = 0;
  for (int d = 0; d < 9; ++d) t.digit_map[size_t(d + 1)] = digits[d];
  t.transpose = rng.uniform(k++) < 0.5;
  for (auto* perm : {&t.row_perm, &t.col_perm}) {
    uint8_t bands[3] = {0, 1, 2};
    shuffle(bands, 3);
    for (int b = 0; b < 3; ++b) {
      uint8_t within[3] = {0, 1, 2};
      shuffle(within, 3);
      for (int r = 0; r < 3; ++r) (*perm)[size_t(b * 3 + r)] = uint8_t(bands[b] * 3 + within[r]);
    }
  }
  return t;
}

SudokuGrid sudoku_apply(const SudokuTransform& t, const SudokuGrid& g) {
  SudokuGrid src = g, out{};
  if (t.transpose)
    for (int r = 0; r < 9; ++r)
      for (int c = 0; c < 9; ++c) src[size_t(r * 9 + c)] = g[size_t(c * 9 + r)];
  for (int r = 0; r < 9; ++r)
    for (int c = 0; c < 9; ++c)
      out[size_t(r * 9 + c)] = t.digit_map[src[size_t(t.row_perm[size_t(r)] * 9 + t.col_perm[size_t(c)])]];
  return out;
}

SudokuGrid sudoku_invert(const SudokuTransform& t, const SudokuGrid& g) {
  std::array<uint8_t, 10> inv_digit{};
  for (int d = 0; d <= 9; ++d) inv_digit[t.digit_map[size_t(d)]] = uint8_t(d);
  SudokuGrid src{};
  for (int r = 0; r < 9; ++r)
    for (int c = 0; c < 9; ++c)
      src[size_t(t.row_perm[size_t(r)] * 9 + t.col_perm[size_t(c)])] = inv_digit[g[size_t(r * 9 + c)]];
  if (!t.transpose) return src;
  SudokuGrid out{};
  for (int r = 0; r < 9; ++r)
    for (int c = 0; c < 9; ++c) out[size_t(c * 9 + r)] = src[size_t(r * 9 + c)];
  return out;
}

SudokuExample sudoku_generate(const RandomStream& rng, uint64_t index, int target_clues) {
  const uint64_t base = index << 24;
  SudokuExample e;
  e.answer = sudoku_solve(SudokuGrid{}, 1, &rng, base).first;
  std::array<uint8_t, 81> order;
  for (int i = 0; i < 81; ++i) order[size_t(i)] = uint8_t(i);
  for (int i = 80; i > 0; --i) std::swap(order[size_t(i)], order[size_t(rng.integer(base + (1u << 23) + uint64_t(i), 0, i))]);
  e.question = e.answer;
  int clues = 81;
  for (uint8_t cell : order) {
    if (clues <= target_clues) break;
    const uint8_t keep = e.question[cell];
    e.question[cell] = 0;
    if (sudoku_solve(e.question, 2).solutions == 1) --clues;
    else e.question[cell] = keep;
  }
  e.source = "generated:" + std::to_string(index);
  return e;
}

// ---- reading

namespace {

bool is_grid_text(const std::string& s) {
  SudokuGrid g;
  return sudoku_parse(s, &g).empty();
}

struct Line {
  int64_t number;
  std::string text;
};

std::vector<Line> content_lines(const std::string& path) {
  std::ifstream f(path);
  PONDER_CHECK(f, path, ": cannot open");
  std::vector<Line> lines;
  std::string s;
  int64_t n = 0;
  while (std::getline(f, s)) {
    ++n;
    while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    s.erase(0, s.find_first_not_of(" \t") == std::string::npos ? s.size() : s.find_first_not_of(" \t"));
    if (s.empty() || s[0] == '#') continue;
    lines.push_back({n, s});
  }
  return lines;
}

}  // namespace

std::vector<SudokuExample> read_sudoku_file(const std::string& path, const SudokuReadOptions& o,
                                            SudokuReadReport* report) {
  SudokuReadReport local;
  SudokuReadReport& rep = report ? *report : local;
  std::vector<Line> lines = content_lines(path);
  PONDER_CHECK(!lines.empty(), path, ": no puzzles in the file");

  // Columns: which field holds the question and which the answer (−1: none).
  int q_col = 0, a_col = -1;
  size_t first = 0, n_cols = 1;
  const bool csv = lines[0].text.find(',') != std::string::npos;
  if (csv) {
    std::vector<std::string> head = csv_split(lines[0].text, true);
    n_cols = head.size();
    if (std::none_of(head.begin(), head.end(), is_grid_text)) {
      // A header row: find the columns by name.
      q_col = a_col = -1;
      for (size_t c = 0; c < head.size(); ++c) {
        std::string h = head[c];
        std::transform(h.begin(), h.end(), h.begin(), ::tolower);
        if (h == "question" || h == "quiz" || h == "quizzes" || h == "puzzle" || h == "q") q_col = int(c);
        if (h == "answer" || h == "solution" || h == "solutions" || h == "a") a_col = int(c);
      }
      PONDER_CHECK(q_col >= 0, path, ":", lines[0].number, ": header '", lines[0].text,
                   "' has no question column (question, quiz, puzzle or q)");
      first = 1;
    } else if (n_cols == 2) {
      q_col = 0;
      a_col = 1;
    } else if (n_cols == 4) {  // Sudoku-Extreme without its header: source,question,answer,rating
      q_col = 1;
      a_col = 2;
    } else {
      fail(path, ":", lines[0].number, ": cannot tell the columns of a ", n_cols,
           "-column CSV without a header (expected question,answer or source,question,answer,rating)");
    }
  }
  PONDER_CHECK(!(o.solutions_path.size() && a_col >= 0), path,
               ": has an answer column already; a separate solutions file is not needed");
  std::vector<Line> solutions;
  if (!o.solutions_path.empty()) {
    solutions = content_lines(o.solutions_path);
    PONDER_CHECK(solutions.size() == lines.size() - first, o.solutions_path, ": has ",
                 solutions.size(), " solutions for the ", lines.size() - first, " puzzles of ", path);
  }

  std::vector<SudokuExample> out;
  for (size_t k = first; k < lines.size(); ++k) {
    const Line& line = lines[k];
    ++rep.rows;
    std::string problem, where = path + ":" + std::to_string(line.number);
    SudokuExample e;
    e.source = where;
    std::string q_text = line.text, a_text;
    if (csv) {
      std::vector<std::string> f = csv_split(line.text, true);
      if (f.size() != n_cols) {
        problem = "has " + std::to_string(f.size()) + " fields, expected " + std::to_string(n_cols);
      } else {
        q_text = f[size_t(q_col)];
        if (a_col >= 0) a_text = f[size_t(a_col)];
      }
    }
    if (!solutions.empty()) {
      a_text = solutions[k - first].text;
      where += " (solution " + o.solutions_path + ":" + std::to_string(solutions[k - first].number) + ")";
    }
    if (problem.empty()) {
      std::string p = sudoku_parse(q_text, &e.question);
      if (!p.empty()) problem = "question " + p;
    }
    if (problem.empty()) {
      std::string c = sudoku_conflict(e.question);
      if (!c.empty()) problem = "contradictory givens: " + c;
    }
    if (problem.empty() && !a_text.empty()) {
      std::string p = sudoku_parse(a_text, &e.answer, false);
      if (!p.empty()) problem = "answer " + p;
      else if (!sudoku_solves(e.question, e.answer))
        problem = sudoku_is_solution(e.answer) ? "answer does not keep the givens of the question"
                                               : "answer breaks the rules: " + sudoku_conflict(e.answer);
    }
    if (problem.empty() && a_text.empty() && o.need_answer) {
      if (!o.solve_missing) {
        problem = "has no answer";
      } else {
        SolveResult r = sudoku_solve(e.question, 2);
        if (r.solutions == 0) problem = "has no solution";
        else if (r.solutions > 1) problem = "has more than one solution";
        else {
          e.answer = r.first;
          ++rep.solved;
        }
      }
    }
    if (!problem.empty()) {
      PONDER_CHECK(o.skip_bad, where, ": ", problem, " (pass --skip-bad to skip bad rows)");
      ++rep.skipped;
      if (rep.problems.size() < 10) rep.problems.push_back(where + ": " + problem);
      continue;
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace ponder
