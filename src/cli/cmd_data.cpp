// `ponder data sudoku|maze|arc`: build datasets in the reference format from puzzle files, the
// bundled source collections, or generated puzzles.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "cli/commands.h"
#include "core/error.h"
#include "data/arc.h"
#include "data/maze.h"
#include "data/sudoku_dataset.h"
#include "io/safetensors.h"

namespace ponder::cli {

namespace {

namespace fs = std::filesystem;

// Writes a dataset into a temporary folder beside `out` and renames it into place, so an
// interrupted build never leaves a half-written dataset, and an existing one is replaced only
// with --force.
void publish_dataset(const std::string& out, bool force,
                     const std::function<void(const std::string&)>& write) {
  PONDER_CHECK(force || !fs::exists(out), out, ": exists; pass --force to replace it");
  const std::string tmp = out + ".partial-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  write(tmp);
  if (fs::exists(out)) fs::remove_all(out);
  fs::rename(tmp, out);
  std::printf("wrote %s\n", out.c_str());
}

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

std::vector<SudokuExample> read_all(const std::vector<std::string>& files,
                                    const std::string& solutions, bool skip_bad) {
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
    const std::string p = dir + "/" + name + ".txt",
                      s = dir + "/solutions/" + name + ".solutions.txt";
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
  for (const auto& e : v)
    hist[int(std::count_if(e.question.begin(), e.question.end(), [](uint8_t d) { return d; }))]++;
  std::printf("%s: %zu puzzles, clues %d–%d\n", what, v.size(), hist.begin()->first,
              hist.rbegin()->first);
}

void run_sudoku(const SudokuDataOptions& o) {
  PONDER_CHECK(o.force || !fs::exists(o.out), o.out, ": exists; pass --force to replace it");
  const int sources = !o.inputs.empty() + !o.extreme.empty() + (o.generate > 0);
  PONDER_CHECK(sources == 1,
               "give exactly one source: --input FILE…, --extreme DIR or --generate N");
  std::vector<SudokuExample> pool, test;
  if (!o.extreme.empty()) pool = read_extreme(o.extreme, o.skip_bad);
  if (!o.inputs.empty()) pool = read_all(o.inputs, o.solutions, o.skip_bad);
  if (o.generate > 0) {
    PONDER_CHECK(o.clues >= 17 && o.clues <= 80, "--clues must be in [17, 80]");
    pool.resize(size_t(o.generate));
    const RandomStream rng(uint64_t(o.seed), 0x6e);
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < o.generate; ++i)
      pool[size_t(i)] = sudoku_generate(rng, uint64_t(i), o.clues);
    std::printf("generated %lld puzzles with %d clues\n", (long long)o.generate, o.clues);
  }
  if (!o.test_input.empty()) test = read_all({o.test_input}, "", o.skip_bad);

  // Split: a seeded training sample (the reference subsamples the training set without a seed;
  // ponder seeds it), the rest — or --test-size of the rest — as test.
  std::vector<SudokuExample> train;
  if (test.empty() && (o.test_size > 0 || !o.extreme.empty())) {
    const int64_t n = int64_t(pool.size());
    const int64_t want = o.train_size >= 0 ? o.train_size : !o.extreme.empty() ? 1000 : -1;
    const int64_t n_train =
        want >= 0 ? std::min(want, n) : std::max<int64_t>(0, n - std::max<int64_t>(o.test_size, 0));
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

  publish_dataset(o.out, o.force, [&](const std::string& tmp) {
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
  });
}

struct MazeDataOptions {
  std::string out, input, test_input;
  int64_t generate = 0, test_size = -1, seed = 0;
  MazeGenOptions gen;
  bool aug = false, skip_bad = false, force = false;
};

void print_maze_stats(const char* what, const std::vector<Maze>& v) {
  if (v.empty()) return;
  const MazeStats s = maze_stats(v);
  std::printf(
      "%s: %lld mazes %dx%d, shortest path %d–%d moves (mean %.1f), walls %.1f%% of cells\n", what,
      (long long)s.count, v[0].n, v[0].n, s.min_path, s.max_path, s.mean_path,
      100.0 * s.wall_density);
  int64_t most = 1;
  for (const auto& [bin, count] : s.path_histogram) most = std::max(most, count);
  for (const auto& [bin, count] : s.path_histogram)
    std::printf("  %3d–%-3d %6lld %s\n", bin, bin + 9, (long long)count,
                std::string(size_t(40 * count / most), '#').c_str());
}

std::vector<Maze> read_mazes(const std::string& path, bool skip_bad) {
  MazeReadReport rep;
  std::vector<Maze> v = read_maze_csv(path, skip_bad, &rep);
  std::printf("%s: %lld mazes", path.c_str(), (long long)v.size());
  if (rep.skipped) std::printf(", %lld bad rows skipped", (long long)rep.skipped);
  std::printf("\n");
  for (const auto& p : rep.problems) std::printf("  skipped %s\n", p.c_str());
  return v;
}

// `count` distinct mazes, none of whose questions is in `seen`, from generator indices `*next`…
std::vector<Maze> generate_mazes(int64_t count, const MazeDataOptions& o, int64_t* next,
                                 std::set<std::string>* seen) {
  const RandomStream rng(uint64_t(o.seed), 0x6d617a65);
  std::vector<Maze> out;
  // Small sides have few distinct mazes: stop when fresh draws keep repeating earlier ones.
  const int64_t first = *next;
  while (int64_t(out.size()) < count) {
    PONDER_CHECK(*next - first < 20 * count + 1000, "only ", seen->size(), " distinct ", o.gen.size, "x",
                 o.gen.size, " mazes turned up in ", *next - first, " draws, fewer than the ", count,
                 " asked for: ask for fewer, or a larger --size");
    const int64_t want = count - int64_t(out.size());
    std::vector<Maze> chunk(static_cast<size_t>(want));
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < want; ++i)
      chunk[size_t(i)] = maze_generate(rng, uint64_t(*next + i), o.gen);
    *next += want;
    for (auto& m : chunk)
      if (seen->insert(m.question).second) out.push_back(std::move(m));
  }
  return out;
}

void run_maze(const MazeDataOptions& o) {
  PONDER_CHECK(o.force || !fs::exists(o.out), o.out, ": exists; pass --force to replace it");
  PONDER_CHECK(!o.input.empty() + (o.generate > 0) == 1,
               "give exactly one source: --input FILE or --generate N");
  std::vector<Maze> train, test;
  const bool generated = o.generate > 0;
  if (generated) {
    std::set<std::string> seen;
    int64_t next = 0;
    train = generate_mazes(o.generate, o, &next, &seen);
    test = generate_mazes(o.test_size >= 0 ? o.test_size : o.generate, o, &next, &seen);
  } else {
    train = read_mazes(o.input, o.skip_bad);
    if (!o.test_input.empty()) test = read_mazes(o.test_input, o.skip_bad);
  }
  PONDER_CHECK(!train.empty(), "no training mazes");
  for (const auto& m : test)
    PONDER_CHECK(m.n == train[0].n, "test mazes are ", m.n, "x", m.n, " but training mazes ",
                 train[0].n, "x", train[0].n);
  print_maze_stats("train", train);
  print_maze_stats("test", test);
  publish_dataset(o.out, o.force, [&](const std::string& tmp) {
    DatasetSplit tr = build_maze_split(train, o.aug);
    write_dataset_split(tmp, "train", tr);
    std::printf("train: %lld groups × %d versions = %lld examples\n", (long long)tr.groups(),
                o.aug ? 8 : 1, (long long)tr.examples());
    if (!test.empty()) {
      write_dataset_split(tmp, "test", build_maze_split(test, false));
      std::printf("test: %zu examples\n", test.size());
    }
    write_identifiers(tmp, {"<blank>"});
    if (generated) {  // the mazes themselves, in the Maze-Hard CSV format
      write_maze_csv(tmp + "/train.csv", train);
      if (!test.empty()) write_maze_csv(tmp + "/test.csv", test);
    }
  });
}

struct ArcDataOptions {
  std::string out, arc1, arc2;
  std::vector<std::string> subsets;
  std::string test_set;
  int64_t max_tasks = -1;
  std::vector<std::string> only;
  ArcBuildOptions build;
  bool force = false;
};

// NAME=PATH, or PATH named after its folder.
std::pair<std::string, std::string> named_path(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq != std::string::npos) return {arg.substr(0, eq), arg.substr(eq + 1)};
  return {fs::path(arg).filename().string(), arg};
}

void run_arc(const ArcDataOptions& o) {
  PONDER_CHECK(o.force || !fs::exists(o.out), o.out, ": exists; pass --force to replace it");
  std::vector<std::pair<std::string, std::string>> train_sets;
  std::pair<std::string, std::string> test_set;
  PONDER_CHECK(o.arc1.empty() + o.arc2.empty() + (o.subsets.empty() && o.test_set.empty()) == 2,
               "give one source: --arc1 DATA, --arc2 DATA, or --subset/--test-set");
  // The reference's subsets, in its order (REFERENCE.md §8.5).
  if (!o.arc1.empty()) {
    train_sets = {{"training", o.arc1 + "/arc-agi-1/training"}};
    test_set = {"evaluation", o.arc1 + "/arc-agi-1/evaluation"};
  }
  if (!o.arc2.empty()) {
    train_sets = {{"training2", o.arc2 + "/arc-agi-2/training"}};
    test_set = {"evaluation2", o.arc2 + "/arc-agi-2/evaluation"};
  }
  for (const auto& s : o.subsets) train_sets.push_back(named_path(s));
  if (!o.test_set.empty()) test_set = named_path(o.test_set);
  const std::string root = o.arc1.empty() ? o.arc2 : o.arc1;
  std::vector<ArcSubset> subsets;
  auto load = [&](const std::pair<std::string, std::string>& sp, bool is_test) {
    ArcSubset s{sp.first, read_arc_tasks(sp.second), is_test};
    if (!o.only.empty()) {
      std::erase_if(s.tasks, [&](const ArcTask& t) {
        return std::find(o.only.begin(), o.only.end(), t.name) == o.only.end();
      });
    }
    if (o.max_tasks >= 0 && int64_t(s.tasks.size()) > o.max_tasks)
      s.tasks.resize(size_t(o.max_tasks));
    if (!s.tasks.empty()) subsets.push_back(std::move(s));
  };
  for (size_t i = 0; i < train_sets.size(); ++i) {
    load(train_sets[i], false);
    if (i == 0 && !test_set.second.empty()) load(test_set, true);
  }
  if (train_sets.empty() && !test_set.second.empty()) load(test_set, true);
  if (!root.empty()) load({"concept", root + "/concept-arc/corpus"}, false);
  PONDER_CHECK(!subsets.empty(), "no tasks selected");

  ArcDataset d = build_arc_dataset(subsets, o.build);
  std::printf("%-12s %6s %15s %12s %9s\n", "subset", "tasks", "demonstrations", "test inputs",
              "versions");
  for (const auto& n : d.counts) {
    std::printf("%-12s %6lld %15lld %12lld %9lld", n.name.c_str(), (long long)n.tasks,
                (long long)n.demonstrations, (long long)n.test_inputs, (long long)n.versions);
    if (n.short_tasks)
      std::printf("  (%lld tasks have fewer than %d distinct versions)", (long long)n.short_tasks,
                  o.build.num_aug + 1);
    std::printf("\n");
  }
  std::printf("train: %lld groups, %lld puzzles, %lld examples\n", (long long)d.train.groups(),
              (long long)d.train.puzzles(), (long long)d.train.examples());
  std::printf("test: %lld groups, %lld puzzles, %lld examples\n", (long long)d.test.groups(),
              (long long)d.test.puzzles(), (long long)d.test.examples());
  const double table_gb = double(d.identifiers.size()) * 512 * 4 / 1e9;
  std::printf(
      "%zu puzzle identifiers (with the blank): the puzzle table takes %.2f GB at 512 floats "
      "each\n",
      d.identifiers.size(), table_gb);
  publish_dataset(o.out, o.force, [&](const std::string& tmp) {
    write_dataset_split(tmp, "train", d.train);
    if (d.test.puzzles()) write_dataset_split(tmp, "test", d.test);
    write_identifiers(tmp, d.identifiers);
    const std::string text = d.test_puzzles.dump();
    write_file_atomic(tmp + "/test_puzzles.json", {{text.data(), text.size()}});
  });
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
  s->add_option("--train-size", o->train_size,
                "seeded sample of N training puzzles (--extreme: 1000)");
  s->add_option("--test-size", o->test_size, "hold out N puzzles as the test split");
  s->add_option("--num-aug", o->num_aug,
                "augmented versions per training puzzle (reference: 1000)");
  s->add_option("--seed", o->seed, "seed for sampling, generation and augmentation");
  s->add_flag("--skip-bad", o->skip_bad,
              "skip bad rows (reported with file and line) instead of failing");
  s->add_flag("--force", o->force, "replace an existing output directory");
  s->callback([o] { run_sudoku(*o); });

  auto m = std::make_shared<MazeDataOptions>();
  CLI::App* mz = data->add_subcommand(
      "maze", "Build a maze dataset (Maze-Hard format), reading or generating mazes");
  mz->add_option("--out", m->out, "dataset directory to write")->required();
  mz->add_option("--input", m->input,
                 "training mazes: Maze-Hard CSV (source,question,answer,rating)");
  mz->add_option("--test-input", m->test_input, "test mazes, same format");
  mz->add_option(
      "--generate", m->generate,
      "generate N training and N test mazes (written beside the dataset as train.csv, test.csv)");
  mz->add_option("--test-size", m->test_size,
                 "generated test mazes (default: as many as --generate)");
  mz->add_option("--size", m->gen.size, "side of generated mazes, 5–30 (default 30, as Maze-Hard)");
  mz->add_option(
      "--min-path", m->gen.min_path,
      "shortest path of generated mazes at least this many moves (default 110·size²/900)");
  mz->add_option("--loops", m->gen.loop_fraction,
                 "share of inner walls knocked out to make loops (default 0.1)");
  mz->add_option("--seed", m->seed, "seed of the generator");
  mz->add_flag("--aug", m->aug,
               "add the 7 other dihedral versions of each training maze (reference --aug)");
  mz->add_flag("--skip-bad", m->skip_bad,
               "skip bad rows (reported with file and line) instead of failing");
  mz->add_flag("--force", m->force, "replace an existing output directory");
  mz->callback([m] { run_maze(*m); });

  auto a = std::make_shared<ArcDataOptions>();
  CLI::App* arc =
      data->add_subcommand("arc", "Build an ARC-AGI dataset as the reference builder does");
  arc->add_option("--out", a->out, "dataset directory to write")->required();
  arc->add_option(
      "--arc1", a->arc1,
      "ARC-1 from this data folder (e.g. ../shared/data): training + evaluation + ConceptARC, "
      "tested on evaluation");
  arc->add_option(
      "--arc2", a->arc2,
      "ARC-2 from this data folder: training + evaluation + ConceptARC, tested on evaluation");
  arc->add_option("--subset", a->subsets,
                  "[NAME=]PATH: a training subset (a folder of task files or a *_challenges.json)");
  arc->add_option("--test-set", a->test_set,
                  "[NAME=]PATH: the subset whose test inputs form the test split");
  arc->add_option("--num-aug", a->build.num_aug,
                  "augmented versions per task (default 1000, as the reference)");
  arc->add_option("--seed", a->build.seed, "seed of augmentation and translation (default 42)");
  arc->add_option("--max-tasks", a->max_tasks,
                  "take only the first N tasks (by name) of each subset");
  arc->add_option("--task", a->only, "take only these tasks (by name; repeatable)");
  arc->add_flag("--force", a->force, "replace an existing output directory");
  arc->callback([a] { run_arc(*a); });
}

}  // namespace ponder::cli
