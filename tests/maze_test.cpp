// Mazes: the generator (deterministic, hard, unique shortest path), the path checker, the dihedral
// transforms, tokens, the CSV reader with its errors naming the file and line, the dataset split
// and the statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "data/dihedral.h"
#include "data/maze.h"
#include "test_util.h"

namespace ponder {
namespace {

using test::error_of;

// A 5×5 maze with a unique 8-move shortest path (along the top, then down the right) and a
// 12-move detour (down the left, through the middle).
const std::string kQ =
    "S    "
    " ### "
    " #   "
    " # # "
    "   #G";
const std::string kA =
    "Soooo"
    " ###o"
    " #  o"
    " # #o"
    "   #G";

Maze known_maze() {
  Maze m;
  m.n = 5;
  m.question = kQ;
  m.answer = kA;
  m.path_length = 8;
  m.source = "hand";
  return m;
}

std::string why_not(const std::string& q, const std::string& a, int n) {
  std::string why;
  EXPECT_FALSE(maze_valid_path(q, a, n, &why)) << a;
  return why;
}

// The properties every generated maze must have.
void expect_hard_maze(const Maze& m, int min_path) {
  const size_t cells = size_t(m.n) * size_t(m.n);
  ASSERT_EQ(m.question.size(), cells);
  ASSERT_EQ(m.answer.size(), cells);
  EXPECT_EQ(m.question.find_first_not_of("# SG"), std::string::npos);
  EXPECT_EQ(std::count(m.question.begin(), m.question.end(), 'S'), 1);
  EXPECT_EQ(std::count(m.question.begin(), m.question.end(), 'G'), 1);
  bool unique = false;
  EXPECT_EQ(maze_shortest(m.question, m.n, &unique), m.path_length);
  EXPECT_TRUE(unique);
  EXPECT_GE(m.path_length, min_path);
  EXPECT_EQ(std::count(m.answer.begin(), m.answer.end(), 'o'), m.path_length - 1);
  std::string why;
  EXPECT_TRUE(maze_valid_path(m.question, m.answer, m.n, &why)) << why;
}

TEST(Maze, generator_is_deterministic_per_seed_and_index) {
  const RandomStream rng(5, 0);
  MazeGenOptions o;
  o.size = 15;
  const Maze a = maze_generate(rng, 3, o), b = maze_generate(rng, 3, o);
  EXPECT_EQ(a.question, b.question);
  EXPECT_EQ(a.answer, b.answer);
  EXPECT_NE(maze_generate(rng, 4, o).question, a.question);
  EXPECT_NE(maze_generate(RandomStream(6, 0), 3, o).question, a.question);
}

TEST(Maze, generated_30x30_mazes_have_a_unique_shortest_path_of_at_least_110) {
  const RandomStream rng(1, 0);
  for (uint64_t i = 0; i < 6; ++i) {
    const Maze m = maze_generate(rng, i, {});
    EXPECT_EQ(m.n, 30);
    expect_hard_maze(m, 110);
    // The lattice leaves the last row and column (odd, for an even side) as wall.
    for (int k = 0; k < 30; ++k) {
      EXPECT_EQ(m.question[size_t(29 * 30 + k)], '#');
      EXPECT_EQ(m.question[size_t(k * 30 + 29)], '#');
    }
  }
}

TEST(Maze, small_sizes_scale_the_minimum_path_and_bad_sizes_are_rejected) {
  const RandomStream rng(2, 0);
  for (int n : {5, 10, 12, 15}) {
    MazeGenOptions o;
    o.size = n;
    for (uint64_t i = 0; i < 4; ++i) {
      SCOPED_TRACE(n);
      expect_hard_maze(maze_generate(rng, i, o), int(std::lround(110.0 * n * n / 900)));
    }
  }
  MazeGenOptions o;
  o.size = 12;
  o.min_path = 30;
  expect_hard_maze(maze_generate(rng, 0, o), 30);
  for (int n : {4, 31}) {
    o.size = n;
    EXPECT_NE(error_of([&] {
                maze_generate(rng, 0, o);
              }).find("maze size " + std::to_string(n) + " is out of range"),
              std::string::npos);
  }
  o.size = 10;
  o.min_path = 1000;  // impossible: fails after its bounded tries
  EXPECT_NE(error_of([&] { maze_generate(rng, 0, o); }).find("could not generate a 10x10 maze"),
            std::string::npos);
}

TEST(Maze, shortest_counts_paths_and_reports_unreachable_goals) {
  bool unique = true;
  EXPECT_EQ(maze_shortest(kQ, 5, &unique), 8);
  EXPECT_TRUE(unique);
  EXPECT_EQ(maze_shortest("S  "
                          " # "
                          "  G",
                          3, &unique),
            4);
  EXPECT_FALSE(unique);  // around the wall either way
  EXPECT_EQ(maze_shortest("S# "
                          "## "
                          "  G",
                          3, &unique),
            -1);
  EXPECT_FALSE(unique);
}

TEST(Maze, checker_accepts_the_shortest_path_and_says_why_others_fail) {
  std::string why;
  EXPECT_TRUE(maze_valid_path(kQ, kA, 5, &why)) << why;
  const std::string detour =
      "S    "
      "o### "
      "o#ooo"
      "o#o#o"
      "ooo#G";
  EXPECT_EQ(why_not(kQ, detour, 5), "path has 12 moves, the shortest has 8");
  std::string gap = kA;
  gap[3] = ' ';
  EXPECT_EQ(why_not(kQ, gap, 5), "path is broken at (row 1, column 3)");
  std::string wall = kA;
  wall[6] = 'o';
  EXPECT_EQ(why_not(kQ, wall, 5), "path goes through the wall at (row 2, column 2)");
  std::string changed = kA;
  changed[7] = ' ';
  EXPECT_EQ(why_not(kQ, changed, 5), "cell (row 2, column 3) changed from '#' to ' '");
  std::string stray = kA;
  stray[20] = 'o';  // an extra cell off the path
  EXPECT_EQ(why_not(kQ, stray, 5), "path is broken at (row 5, column 1)");
  std::string branch = kA;
  branch[13] = 'o';  // touches the path's side
  EXPECT_EQ(why_not(kQ, branch, 5), "path is broken at (row 3, column 4)");
  std::string moved_start = kA;
  std::swap(moved_start[0], moved_start[5]);
  EXPECT_NE(why_not(kQ, moved_start, 5).find("changed from 'S'"), std::string::npos);
  EXPECT_NE(why_not(kQ, kA.substr(1), 5).find("expected 25 characters"), std::string::npos);
  // A loose loop of marked cells beside a correct path (on an open 7×7 field).
  std::string q(49, ' '), a;
  q[0] = 'S';
  q[6] = 'G';
  a = q;
  for (int c = 1; c < 6; ++c) a[size_t(c)] = 'o';
  EXPECT_TRUE(maze_valid_path(q, a, 7, &why)) << why;
  std::string spur = a;
  spur[7 + 3] = 'o';  // a branch below the path's middle
  EXPECT_EQ(why_not(q, spur, 7), "path branches or touches itself at (row 1, column 4)");
  for (int i : {3 * 7 + 2, 3 * 7 + 3, 4 * 7 + 2, 4 * 7 + 3}) a[size_t(i)] = 'o';
  EXPECT_EQ(why_not(q, a, 7), "marked cell (row 4, column 3) is not on the path from S to G");
}

TEST(Maze, dihedral_inverse_is_identity_and_keeps_the_path) {
  EXPECT_EQ(dihedral_chars("abcd", 2, 1), "bdac");  // rot90 CCW: out[i][j] = A[j][W−1−i]
  EXPECT_EQ(dihedral_chars("abcd", 2, 7), "dbca");
  MazeGenOptions o;
  o.size = 12;
  const Maze m = maze_generate(RandomStream(3, 0), 0, o);
  std::vector<std::string> seen;
  for (int t = 0; t < 8; ++t) {
    const std::string q = dihedral_chars(m.question, m.n, t), a = dihedral_chars(m.answer, m.n, t);
    EXPECT_EQ(dihedral_chars(q, m.n, kDihedralInverse[t]), m.question) << t;
    EXPECT_EQ(dihedral_chars(a, m.n, kDihedralInverse[t]), m.answer) << t;
    std::string why;
    EXPECT_TRUE(maze_valid_path(q, a, m.n, &why)) << t << ": " << why;
    EXPECT_EQ(maze_shortest(q, m.n), m.path_length) << t;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), q), 0) << t;  // all 8 differ for this maze
    seen.push_back(q);
  }
  EXPECT_THROW(dihedral_chars(m.question, m.n, 8), Error);
}

TEST(Maze, tokens_round_trip_with_pad_as_wall) {
  const std::vector<uint8_t> t = maze_tokens("# SGo");
  EXPECT_EQ(t, (std::vector<uint8_t>{1, 2, 3, 4, 5}));
  const std::vector<uint8_t> ta = maze_tokens(kA);
  const std::vector<int32_t> wide(ta.begin(), ta.end());
  EXPECT_EQ(maze_from_tokens(wide.data(), 5), kA);
  const int32_t odd[4] = {0, 6, -1, 3};
  EXPECT_EQ(maze_from_tokens(odd, 2), "###S");
  EXPECT_NE(error_of([] { maze_tokens("S.G"); }).find("'.' at position 2"), std::string::npos);
}

class MazeFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir = test::temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name, const std::string& text) {
    test::write_bytes(dir + "/" + name, text);
    return dir + "/" + name;
  }
  std::string read_error(const std::string& path) {
    return error_of([&] { read_maze_csv(path, false); });
  }
  std::string dir;
};

TEST_F(MazeFiles, csv_write_then_read_round_trips) {
  const RandomStream rng(4, 0);
  MazeGenOptions o;
  o.size = 10;
  std::vector<Maze> mazes;
  for (uint64_t i = 0; i < 3; ++i) mazes.push_back(maze_generate(rng, i, o));
  mazes[1].source = "a \"quoted\", odd source";
  const std::string path = dir + "/mazes.csv";
  write_maze_csv(path, mazes);
  std::ifstream f(path);
  std::string header, row;
  std::getline(f, header);
  std::getline(f, row);
  EXPECT_EQ(header, "source,question,answer,rating");
  EXPECT_EQ(row.substr(row.rfind(',') + 1), std::to_string(mazes[0].path_length));
  MazeReadReport rep;
  const std::vector<Maze> back = read_maze_csv(path, false, &rep);
  EXPECT_EQ(rep.rows, 3);
  EXPECT_EQ(rep.skipped, 0);
  ASSERT_EQ(back.size(), mazes.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].n, 10);
    EXPECT_EQ(back[i].question, mazes[i].question);
    EXPECT_EQ(back[i].answer, mazes[i].answer);
    EXPECT_EQ(back[i].path_length, mazes[i].path_length);
    EXPECT_EQ(back[i].source, mazes[i].source);
  }
  // Columns are found by name; a header in another order reads the same.
  const std::vector<Maze> named =
      read_maze_csv(file("n.csv", "answer,question\n" + kA + "," + kQ + "\n"), false);
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].question, kQ);
  EXPECT_EQ(named[0].path_length, 8);
}

TEST_F(MazeFiles, bad_rows_name_the_file_and_line) {
  std::string with_o = kQ, two_s = kQ, bad_char = kA, detour = kA;
  with_o[1] = 'o';
  two_s[1] = 'S';
  bad_char[2] = '.';
  const std::string big(31 * 31, ' ');
  const std::string f =
      file("bad.csv",
           "source,question,answer,rating\n"
           "a," +
               kQ + "," + kA + ",8\n" +                                             // 2: fine
               "b," + kQ + "," + kA + "\n" +                                        // 3
               "c," + kQ.substr(1) + "," + kA + ",8\n" +                            // 4
               "d," + std::string(36, ' ') + "," + std::string(36, ' ') + ",8\n" +  // 5
               "e," + with_o + "," + kA + ",8\n" +                                  // 6
               "f," + kQ + "," + bad_char + ",8\n" +                                // 7
               "g," + two_s + "," + two_s + ",8\n" +                                // 8
               "h," + kQ + ",S    " + kA.substr(5) + ",8\n" +                       // 9: gap
               "\n"                                                                 // 10: blank
               "i," +
               big + "," + big + ",1\n" +                 // 11
               "j," + kQ + "," + kA.substr(1) + ",8\n");  // 12
  EXPECT_NE(read_error(f).find(f + ":3: has 3 fields, expected 4"), std::string::npos)
      << read_error(f);
  MazeReadReport rep;
  const std::vector<Maze> ok = read_maze_csv(f, true, &rep);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].source, "a");
  EXPECT_EQ(rep.rows, 10);
  EXPECT_EQ(rep.skipped, 9);
  ASSERT_EQ(rep.problems.size(), 9u);
  const char* expected[] = {
      ":3: has 3 fields, expected 4",
      ":4: question has 24 characters, not a square grid",
      ":5: question is 6x6, but the first is 5x5",
      ":6: question has 'o' at position 2 (expected one of \"# SG\")",
      ":7: answer has '.' at position 3",
      ":8: question has 2 'S' cells, expected exactly one",
      ":9: answer is not a shortest path of the question: path is broken at (row 1, column 1)",
      ":11: question is 31x31, larger than 30x30",
      ":12: answer has 24 characters, expected 25",
  };
  for (size_t i = 0; i < std::size(expected); ++i)
    EXPECT_NE(rep.problems[i].find(f + expected[i]), std::string::npos) << rep.problems[i];
  EXPECT_NE(read_error(dir + "/missing.csv").find(dir + "/missing.csv: cannot open"),
            std::string::npos);
  const std::string empty = file("empty.csv", "");
  EXPECT_NE(read_error(empty).find(empty + ": no mazes"), std::string::npos);
  const std::string header_only = file("h.csv", "source,question,answer,rating\r\n");
  EXPECT_NE(read_error(header_only).find(header_only + ": no mazes"), std::string::npos);
  const std::string no_answer = file("q.csv", "source,question\n");
  EXPECT_NE(read_error(no_answer).find(no_answer + ":1: header"), std::string::npos);
}

TEST(Maze, split_has_one_group_per_maze_and_eight_versions_with_aug) {
  MazeGenOptions o;
  o.size = 10;
  std::vector<Maze> mazes;
  for (uint64_t i = 0; i < 3; ++i) mazes.push_back(maze_generate(RandomStream(8, 0), i, o));
  const DatasetSplit s = build_maze_split(mazes, false);
  EXPECT_EQ(s.meta.seq_len, 100);
  EXPECT_EQ(s.meta.vocab_size, 6);
  EXPECT_EQ(s.meta.num_puzzle_identifiers, 1);
  EXPECT_EQ(s.meta.ignore_label_id, 0);
  EXPECT_EQ(s.group_indices, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(s.puzzle_indices, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(s.puzzle_identifiers, (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(std::vector<uint8_t>(s.inputs.begin() + 100, s.inputs.begin() + 200),
            maze_tokens(mazes[1].question));
  EXPECT_EQ(std::vector<uint8_t>(s.labels.begin() + 100, s.labels.begin() + 200),
            maze_tokens(mazes[1].answer));

  const DatasetSplit a = build_maze_split(mazes, true);
  EXPECT_EQ(a.groups(), 3);
  EXPECT_EQ(a.puzzles(), 24);
  EXPECT_EQ(a.examples(), 24);
  EXPECT_EQ(a.group_indices, (std::vector<int32_t>{0, 8, 16, 24}));
  EXPECT_EQ(a.puzzle_indices.back(), 24);
  EXPECT_DOUBLE_EQ(a.meta.mean_puzzle_examples, 1.0);
  for (int g = 0; g < 3; ++g)
    for (int t = 0; t < 8; ++t) {
      const size_t at = size_t(g * 8 + t) * 100;
      const std::vector<int32_t> in(a.inputs.begin() + long(at), a.inputs.begin() + long(at + 100));
      const std::vector<int32_t> out(a.labels.begin() + long(at),
                                     a.labels.begin() + long(at + 100));
      EXPECT_EQ(dihedral_chars(maze_from_tokens(in.data(), 10), 10, kDihedralInverse[t]),
                mazes[size_t(g)].question);
      EXPECT_EQ(dihedral_chars(maze_from_tokens(out.data(), 10), 10, kDihedralInverse[t]),
                mazes[size_t(g)].answer);
    }
  mazes.push_back(known_maze());
  EXPECT_NE(error_of([&] {
              build_maze_split(mazes, false);
            }).find("maze 3 (hand) is 5x5, but the first is 10x10"),
            std::string::npos);
  EXPECT_THROW(build_maze_split({}, false), Error);
}

TEST(Maze, stats_of_known_mazes) {
  Maze serpentine;
  serpentine.n = 7;
  serpentine.question =
      "S      "
      "###### "
      "       "
      " ######"
      "       "
      "###### "
      "      G";
  const MazeStats st = maze_stats({known_maze(), serpentine});
  EXPECT_EQ(st.count, 2);
  EXPECT_EQ(st.min_path, 8);
  EXPECT_EQ(st.max_path, 24);
  EXPECT_DOUBLE_EQ(st.mean_path, 16.0);
  EXPECT_DOUBLE_EQ(st.wall_density, 25.0 / 74.0);
  using Bins = std::vector<std::pair<int, int64_t>>;
  EXPECT_EQ(st.path_histogram, (Bins{{0, 1}, {10, 0}, {20, 1}}));
  EXPECT_EQ(maze_stats({}).count, 0);
  EXPECT_TRUE(maze_stats({}).path_histogram.empty());
}

}  // namespace
}  // namespace ponder
