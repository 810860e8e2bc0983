// Sudoku: the solver, the augmentation and its inverse, the generator, and every reader with its
// errors naming the file and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/sudoku.h"
#include "test_util.h"

namespace ponder {
namespace {

const char* kQ = "004300209005009001070060043006002087190007400050083000600000105003508690042910300";
const char* kA = "864371259325849761971265843436192587198657432257483916689734125713528694542916378";

SudokuGrid grid(const char* s) {
  SudokuGrid g;
  EXPECT_EQ(sudoku_parse(s, &g), "");
  return g;
}

TEST(Sudoku, solver_finds_the_unique_solution_of_real_puzzles) {
  EXPECT_EQ(sudoku_solve(grid(kQ)).solutions, 1);
  EXPECT_EQ(sudoku_to_string(sudoku_solve(grid(kQ)).first), kA);
  // The 375 "hardest" puzzles, read without their solution file: the reader solves each one
  // (and checks it is unique); the answers agree with the bundled solutions.
  const std::string data = test::source_path("../shared/data/sudoku/");
  SudokuReadReport rep;
  auto solved = read_sudoku_file(data + "puzzles6_forum_hardest_1106.txt", {}, &rep);
  EXPECT_EQ(rep.solved, 375);
  SudokuReadOptions given;
  given.solutions_path = data + "solutions/puzzles6_forum_hardest_1106.solutions.txt";
  auto known = read_sudoku_file(data + "puzzles6_forum_hardest_1106.txt", given);
  ASSERT_EQ(solved.size(), known.size());
  for (size_t i = 0; i < known.size(); ++i) EXPECT_EQ(solved[i].answer, known[i].answer) << i;
  SudokuGrid empty{};
  EXPECT_EQ(sudoku_solve(empty, 2).solutions, 2);  // many solutions: stops at the limit
  SudokuGrid broken = grid(kQ);
  broken[1] = 4;  // 4 twice in row 1
  EXPECT_EQ(sudoku_solve(broken).solutions, 0);
}

TEST(Sudoku, augmentation_keeps_validity_and_its_inverse_is_the_identity) {
  const SudokuGrid q = grid(kQ), a = grid(kA);
  RandomStream rng(3, 0);
  int transposed = 0;
  for (uint64_t k = 0; k < 200; ++k) {
    SudokuTransform t = sudoku_random_transform(rng, k * 100);
    transposed += t.transpose;
    const SudokuGrid tq = sudoku_apply(t, q), ta = sudoku_apply(t, a);
    EXPECT_TRUE(sudoku_solves(tq, ta)) << k;
    EXPECT_EQ(sudoku_invert(t, tq), q) << k;
    EXPECT_EQ(sudoku_invert(t, ta), a) << k;
    EXPECT_EQ(t.digit_map[0], 0);
  }
  EXPECT_GT(transposed, 60);
  EXPECT_LT(transposed, 140);
}

TEST(Sudoku, generated_puzzles_have_one_solution_and_the_requested_clues) {
  RandomStream rng(11, 0);
  for (uint64_t i = 0; i < 5; ++i) {
    SudokuExample e = sudoku_generate(rng, i, 30);
    EXPECT_TRUE(sudoku_is_solution(e.answer));
    EXPECT_TRUE(sudoku_solves(e.question, e.answer));
    EXPECT_EQ(sudoku_solve(e.question, 2).solutions, 1);
    int clues = 0;
    for (uint8_t d : e.question) clues += d != 0;
    EXPECT_EQ(clues, 30);
  }
  // Deterministic for a seed and index.
  EXPECT_EQ(sudoku_generate(rng, 7, 28).question, sudoku_generate(rng, 7, 28).question);
}

class SudokuFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir = test::temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  }
  std::string error_of(const std::string& path, const SudokuReadOptions& o = {}) {
    try {
      read_sudoku_file(path, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::string dir;
};

TEST_F(SudokuFiles, every_format_reads_the_same_puzzle) {
  std::string dotted = sudoku_to_string(grid(kQ), '.');
  auto extreme = read_sudoku_file(
      file("x.csv", std::string("source,question,answer,rating\nkaggle,") + dotted + "," + kA + ",3\n"), {});
  auto kaggle = read_sudoku_file(file("k.csv", std::string(kQ) + "," + kA + "\n"), {});
  auto kaggle_header = read_sudoku_file(file("kh.csv", std::string("quizzes,solutions\n") + kQ + "," + kA + "\r\n"), {});
  auto plain = read_sudoku_file(file("p.csv", std::string("question,answer\n") + dotted + "," + kA + "\n"), {});
  auto lines = read_sudoku_file(file("l.txt", "# a comment\n\n" + dotted + "\n"), {});  // solved
  SudokuReadOptions with_solutions;
  with_solutions.solutions_path = file("l.sol", std::string(kA) + "\n");
  auto lines_sol = read_sudoku_file(file("l2.txt", dotted + "\n"), with_solutions);
  for (auto* v : {&extreme, &kaggle, &kaggle_header, &plain, &lines, &lines_sol}) {
    ASSERT_EQ(v->size(), 1u);
    EXPECT_EQ((*v)[0].question, grid(kQ));
    EXPECT_EQ((*v)[0].answer, grid(kA));
  }
  // The bundled Kaggle slice reads whole, with its upstream solutions.
  SudokuReadReport rep;
  auto all = read_sudoku_file(test::source_path("../shared/data/sudoku/kaggle_first9999.csv"), {}, &rep);
  EXPECT_EQ(all.size(), 9999u);
  EXPECT_EQ(rep.solved, 0);
}

TEST_F(SudokuFiles, bad_rows_name_the_file_and_line) {
  std::string dotted = sudoku_to_string(grid(kQ), '.');
  std::string bad_char = dotted;
  bad_char[4] = 'x';
  std::string wrong_answer = kA;
  std::swap(wrong_answer[0], wrong_answer[1]);
  std::string contradictory = dotted;
  contradictory[1] = '4';
  const std::string f = file("bad.csv", std::string("question,answer\n") +
                                            dotted + "," + kA + "\n" +       // line 2: fine
                                            dotted.substr(1) + "," + kA + "\n" +  // 3: short
                                            bad_char + "," + kA + "\n" +     // 4
                                            dotted + "," + wrong_answer + "\n" +  // 5
                                            contradictory + "," + kA + "\n" +  // 6
                                            dotted + "\n");                  // 7: one field
  EXPECT_NE(error_of(f).find(f + ":3: question has 80 characters, expected 81"), std::string::npos)
      << error_of(f);
  SudokuReadOptions skip;
  skip.skip_bad = true;
  SudokuReadReport rep;
  auto v = read_sudoku_file(f, skip, &rep);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(rep.skipped, 5);
  ASSERT_EQ(rep.problems.size(), 5u);
  EXPECT_NE(rep.problems[1].find(f + ":4: question has 'x' at position 5"), std::string::npos) << rep.problems[1];
  EXPECT_NE(rep.problems[2].find(f + ":5: answer breaks the rules"), std::string::npos) << rep.problems[2];
  EXPECT_NE(rep.problems[3].find(f + ":6: contradictory givens: digit 4 twice in row 1"), std::string::npos)
      << rep.problems[3];
  EXPECT_NE(rep.problems[4].find(f + ":7: has 1 fields, expected 2"), std::string::npos) << rep.problems[4];

  // An answer that is a valid grid but not for this question.
  SudokuGrid other = grid(kA);
  std::swap(other[0], other[1]);  // breaks rules; use a relabelled valid grid instead
  SudokuGrid relabelled = grid(kA);
  for (auto& d : relabelled) d = uint8_t(d % 9 + 1);
  const std::string g = file("g.csv", dotted + "," + sudoku_to_string(relabelled) + "\n");
  EXPECT_NE(error_of(g).find(g + ":1: answer does not keep the givens"), std::string::npos) << error_of(g);
  // Puzzles without a unique solution, and a solutions file of the wrong length.
  const std::string multi = file("m.txt", std::string(81, '.') + "\n");
  EXPECT_NE(error_of(multi).find(multi + ":1: has more than one solution"), std::string::npos);
  SudokuReadOptions sol;
  sol.solutions_path = file("s.txt", std::string(kA) + "\n" + kA + "\n");
  const std::string one = file("one.txt", dotted + "\n");
  EXPECT_NE(error_of(one, sol).find("has 2 solutions for the 1 puzzles"), std::string::npos);
  EXPECT_NE(error_of(dir + "/missing.csv").find("cannot open"), std::string::npos);
  EXPECT_NE(error_of(file("empty.txt", "# nothing\n")).find("no puzzles"), std::string::npos);
  EXPECT_NE(error_of(file("three.csv", "a,b,c\n")).find("no question column"), std::string::npos);
}

}  // namespace
}  // namespace ponder
