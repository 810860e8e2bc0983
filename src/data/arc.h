// ARC-AGI tasks and their datasets (REFERENCE.md §8.5): tasks read from ARC JSON (a folder of
// task files, or a Kaggle-style combined challenges file with its solutions), grids placed on a
// 30×30 canvas with the EOS rule, augmented by colour permutation (black fixed) × the 8 dihedral
// transforms into up to N distinct versions per task, each version its own puzzle identifier.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace ponder {

constexpr int kArcSide = 30;
constexpr int kArcSeqLen = kArcSide * kArcSide;
constexpr int kArcVocab = 12;  // PAD 0, EOS 1, colour c → c + 2
// Whether a model's shapes are those of ARC (a 30×30 canvas of 12 tokens).
inline bool is_arc_model(int vocab_size, int seq_len) {
  return vocab_size == kArcVocab && seq_len == kArcSeqLen;
}

struct ArcGrid {
  int h = 0, w = 0;
  std::vector<uint8_t> cells;  // h·w colours 0–9, row-major
  bool operator==(const ArcGrid&) const = default;
  std::string key() const;  // height, width and cells as bytes: equal keys ⇔ equal grids
};

struct ArcPair {
  ArcGrid input, output;
};

struct ArcTask {
  std::string name;
  std::vector<ArcPair> train, test;  // demonstrations, test pairs (with outputs)
  nlohmann::json original;           // as read, for test_puzzles.json
};

// A grid from JSON; `where` names it in errors ("f.json: test[0].output").
ArcGrid arc_grid_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json arc_grid_to_json(const ArcGrid& g);

// One task file. Ragged rows, colours outside 0–9, grids over 30×30, missing inputs or outputs
// fail with the file and the place.
ArcTask read_arc_task(const std::string& path);
// A folder of task files (searched recursively, sorted by name), or a `*_challenges.json` with
// its `*_solutions.json` beside it.
std::vector<ArcTask> read_arc_tasks(const std::string& path);

// The canvas (REFERENCE.md §8.5): the grid at (r0, c0), EOS on the row below it and the column
// right of it, the corner PAD; an EOS line outside the canvas is skipped.
std::vector<uint8_t> arc_encode(const ArcGrid& g, int r0, int c0);
// The crop rule of TRM's evaluator: the largest top-left rectangle of colour tokens, scanning rows.
ArcGrid arc_crop(const int32_t* tokens);

// An augmentation: colour map first (perm[0] = 0), then dihedral t.
struct ArcAug {
  int t = 0;
  std::array<uint8_t, 10> perm = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  bool identity() const;
};
ArcGrid arc_augment(const ArcGrid& g, const ArcAug& a);
ArcGrid arc_deaugment(const ArcGrid& g, const ArcAug& a);
// Version names: TRM `task|||t{t}|||{perm}`, the original keeps the bare task name. Parsing also
// takes HRM's `task_t{t}_{perm}`.
std::string arc_version_name(const std::string& task, const ArcAug& a);
ArcAug arc_parse_version_name(const std::string& name, std::string* task);

struct ArcSubset {
  std::string name;  // e.g. "training", "evaluation", "concept"
  std::vector<ArcTask> tasks;
  bool is_test_set = false;  // its test pairs go to the test split
};

struct ArcBuildOptions {
  int num_aug = 1000;  // versions beyond the original, per task
  int tries_factor = 5;
  uint64_t seed = 42;
};

struct ArcSubsetCounts {
  std::string name;
  int64_t tasks = 0, demonstrations = 0, test_inputs = 0, versions = 0, short_tasks = 0;
};

struct ArcDataset {
  DatasetSplit train, test;
  std::vector<std::string> identifiers;  // [0] = "<blank>"
  nlohmann::json test_puzzles;           // {task: original JSON} of the test set
  std::vector<ArcSubsetCounts> counts;
};

// The reference builder: the original and up to num_aug distinct versions of each task (distinct
// as sets of grids); demonstration and test pairs of ordinary subsets in `train`; a test set's
// demonstrations in `train` and its test inputs (all versions, untranslated) in `test` under the
// same identifiers; translation in `train` only, one example per version left at (0, 0).
ArcDataset build_arc_dataset(const std::vector<ArcSubset>& subsets, const ArcBuildOptions& o);

// ARC evaluation (REFERENCE.md §9): predictions of the test rows are cropped, de-augmented and
// voted on per (task, test input); candidates rank by (count, mean halting confidence).
class ArcVoter {
 public:
  explicit ArcVoter(std::vector<std::string> identifiers) : ids_(std::move(identifiers)) {}
  const std::vector<std::string>& identifiers() const { return ids_; }
  // One test row: its puzzle identifier, input tokens and predicted tokens (kArcSeqLen each) and
  // q = sigmoid(q_halt).
  void add(int32_t puzzle_id, const int32_t* input, const int32_t* pred, double q);

  struct Result {
    std::vector<int> ks;
    std::vector<double> pass_trm;  // fractional credit per test input, averaged over tasks
    std::vector<double> pass_hrm;  // a task counts only when all its test inputs are solved
    int64_t tasks = 0, test_inputs = 0, unanswered = 0;
    nlohmann::json submission;  // {task: [{"attempt_1": g, "attempt_2": g}, …]}
    nlohmann::json to_json() const;
  };
  // Scores against the test puzzles (test_puzzles.json: {task: {"train", "test"}}).
  Result result(const nlohmann::json& test_puzzles,
                const std::vector<int>& ks = {1, 2, 5, 10, 100, 1000}) const;

  struct Candidate {
    ArcGrid grid;
    int64_t count = 0;
    double q_sum = 0;
  };
  // Ranked candidates for one test input of a task (empty when there are none).
  std::vector<Candidate> ranked(const std::string& task, const ArcGrid& input) const;

 private:
  std::vector<std::string> ids_;
  // task → input key → candidates in arrival order
  std::map<std::string, std::map<std::string, std::vector<Candidate>>> votes_;
};

// test_puzzles.json of a dataset folder; without it (HRM builds) the test pairs are recovered
// from the test split's unaugmented rows.
nlohmann::json arc_test_puzzles(const std::string& dataset_dir, const DatasetSplit& test,
                                const std::vector<std::string>& identifiers);

}  // namespace ponder
