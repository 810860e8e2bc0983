// `ponder data sudoku`: build a Sudoku dataset in the reference format from puzzle files, the
// bundled Sudoku-Extreme source collections, or generated puzzles.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "cli/commands.h"
#include "core/error.h"
#include "data/sudoku_dataset.h"

namespace ponder::cli {

namespace {

struct SudokuDataOptions {
  std::string out;
  std::vector<std::string> inputs;
  std::string solutions, test_input, extreme;
  int64_t train_size = -1, test_size = -1, generate = 0;
  int clues = 30;
  int num_aug = 0;
  int64_t seed = 0;
  bool skip_bad = false, force = false;
};

std::vector<SudokuExample> read_all(const std::vector<std::string>& files, const std::string& solutions,
                                    bool skip_bad) {
  std::vector<SudokuExample> all;
  PONDER_CHECK(solutions.empty() || files.size() == 1, "--solutions goes with a single --input");
  for (const auto& f : files) {
    SudokuReadOptions o;
    o.solutions_path = solutions;
    o.skip_bad = skip_bad;
    SudokuReadReport rep;
    auto v = read_sudoku_file(f, o, &rep);
    std::printf("%s: %lld puzzles", f.c_str(), (long long)v.size());
    if (rep.solved) std::printf(", %lld solved by ponder's solver", (long long)rep.solved);
    if (rep.skipped) std::printf(", %lld bad rows skipped", (long long)rep.skipped);
    std::printf("\n");
    for (const auto& p : rep.problems) std::printf("  skipped %s\n", p.c_str());
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// The hard collections Sudoku-Extreme was built from, deduplicated (REFERENCE.md §8.3, the data
// README): forum hardest 11+, magictour top 1465, forum hardest 1106.
std::vector<SudokuExample> read_extreme(const std::string& dir, bool skip_bad) {
  std::vector<SudokuExample> all;
  std::set<SudokuGrid> seen;
  for (const char* name : {"puzzles5_forum_hardest_1905_11plus", "puzzles3_magictour_top1465",
                           "puzzles6_forum_hardest_1106"}) {
    const std::string p = dir + "/" + name + ".txt", s = dir + "/solutions/" + name + ".solutions.txt";
    auto v = read_all({p}, std::filesystem::exists(s) ? s : "", skip_bad);
    for (auto& e : v)
      if (seen.insert(e.question).second) all.push_back(std::move(e));
  }
  std::printf("hard puzzles: %zu distinct\n", all.size());
  return all;
}

void print_clues(const char* what, const std::vector<SudokuExample>& v) {
  if (v.empty()) return;
  std::map<int, int64_t> hist;
  for (const auto& e : v) hist[int(std::count_if(e.question.begin(), e.question.end(), [](uint8_t d) { return d; }))]++;
  std::printf("%s: %zu puzzles, clues %d–%d\n", what, v.size(), hist.begin()->first, hist.rbegin()->first);
}

void run_sudoku(const SudokuDataOptions& o) {
  namespace fs = std::filesystem;
  PONDER_CHECK(o.force || !fs::exists(o.out), o.out, ": exists; pass --force to replace it");
  const int sources = !o.inputs.empty() + !o.extreme.empty() + (o.generate > 0);
  PONDER_CHECK(sources == 1, "give exactly one source: --input FILE…, --extreme DIR or --generate N");
  std::vector<SudokuExample> pool, test;
  if (!o.extreme.empty()) pool = read_extreme(o.extreme, o.skip_bad);
  if (!o.inputs.empty()) pool = read_all(o.inputs, o.solutions, o.skip_bad);
  if (o.generate > 0) {
    PONDER_CHECK(o.clues >= 17 && o.clues <= 80, "--clues must be in [17, 80]");
    pool.resize(size_t(o.generate));
    const RandomStream rng(uint64_t(o.seed), 0x6e);
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < o.generate; ++i) pool[size_t(i)] = sudoku_generate(rng, uint64_t(i), o.clues);
    std::printf("generated %lld puzzles with %d clues\n", (long long)o.generate, o.clues);
  }
  if (!o.test_input.empty()) test = read_all({o.test_input}, "", o.skip_bad);

  // Split: a seeded training sample (the reference subsamples the training set without a seed;
  // ponder seeds it), the rest — or --test-size of the rest — as test.
  std::vector<SudokuExample> train;
  if (test.empty() && (o.test_size > 0 || !o.extreme.empty())) {
    const int64_t n = int64_t(pool.size());
    const int64_t want = o.train_size >= 0 ? o.train_size : !o.extreme.empty() ? 1000 : -1;
    const int64_t n_train = want >= 0 ? std::min(want, n)
                                              : std::max<int64_t>(0, n - std::max<int64_t>(o.test_size, 0));
    std::vector<uint8_t> in_train(size_t(n), 0);
    for (int64_t i : sample_indices(n, n_train, uint64_t(o.seed))) in_train[size_t(i)] = 1;
    for (int64_t i = 0; i < n; ++i) (in_train[size_t(i)] ? train : test).push_back(pool[size_t(i)]);
    if (o.test_size >= 0 && int64_t(test.size()) > o.test_size) test.resize(size_t(o.test_size));
  } else {
    train = std::move(pool);
    if (o.train_size >= 0 && o.train_size < int64_t(train.size())) {
      std::vector<SudokuExample> sub;
      for (int64_t i : sample_indices(int64_t(train.size()), o.train_size, uint64_t(o.seed)))
        sub.push_back(train[size_t(i)]);
      train = std::move(sub);
    }
    if (o.test_size >= 0 && int64_t(test.size()) > o.test_size) test.resize(size_t(o.test_size));
  }
  PONDER_CHECK(!train.empty(), "no training puzzles");
  print_clues("train", train);
  print_clues("test", test);

  const std::string tmp = o.out + ".partial-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  DatasetSplit tr = build_sudoku_split(train, o.num_aug, uint64_t(o.seed));
  write_dataset_split(tmp, "train", tr);
  std::printf("train: %lld groups × %d versions = %lld examples\n", (long long)tr.groups(),
              o.num_aug + 1, (long long)tr.examples());
  if (!test.empty()) {
    DatasetSplit te = build_sudoku_split(test, 0, uint64_t(o.seed));
    write_dataset_split(tmp, "test", te);
    std::printf("test: %lld examples\n", (long long)te.examples());
  }
  write_identifiers(tmp, {"<blank>"});
  if (fs::exists(o.out)) fs::remove_all(o.out);
  fs::rename(tmp, o.out);
  std::printf("wrote %s\n", o.out.c_str());
}

}  // namespace

void add_data_command(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Build datasets in the reference format");
  data->require_subcommand(1);
  auto o = std::make_shared<SudokuDataOptions>();
  CLI::App* s = data->add_subcommand("sudoku", "Build a Sudoku dataset");
  s->add_option("--out", o->out, "dataset directory to write")->required();
  s->add_option("--input", o->inputs,
                "puzzle files: Sudoku-Extreme CSV, Kaggle quiz,solution CSV, question,answer CSV, "
                "or one puzzle per line");
  s->add_option("--solutions", o->solutions, "solutions for a one-puzzle-per-line --input");
  s->add_option("--test-input", o->test_input, "puzzle file for the test split");
  s->add_option("--extreme", o->extreme,
                "Sudoku-Extreme-style split from the tdoku hard collections in this directory "
                "(e.g. ../shared/data/sudoku)");
  s->add_option("--generate", o->generate, "generate N puzzles instead of reading files");
  s->add_option("--clues", o->clues, "clues left in generated puzzles (default 30)");
  s->add_option("--train-size", o->train_size, "seeded sample of N training puzzles (--extreme: 1000)");
  s->add_option("--test-size", o->test_size, "hold out N puzzles as the test split");
  s->add_option("--num-aug", o->num_aug, "augmented versions per training puzzle (reference: 1000)");
  s->add_option("--seed", o->seed, "seed for sampling, generation and augmentation");
  s->add_flag("--skip-bad", o->skip_bad, "skip bad rows (reported with file and line) instead of failing");
  s->add_flag("--force", o->force, "replace an existing output directory");
  s->callback([o] { run_sudoku(*o); });
}

}  // namespace ponder::cli
