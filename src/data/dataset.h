// The references' on-disk dataset format (REFERENCE.md §8.1), read and written:
//   <dir>/identifiers.json                       puzzle id → name, [0] = "<blank>"
//   <dir>/<split>/dataset.json                   metadata
//   <dir>/<split>/all__inputs.npy                uint8 [N_ex, L]
//   <dir>/<split>/all__labels.npy                uint8 [N_ex, L]
//   <dir>/<split>/all__puzzle_identifiers.npy    int32 [N_puz]
//   <dir>/<split>/all__puzzle_indices.npy        int32 [N_puz + 1]   puzzle → examples (CSR)
//   <dir>/<split>/all__group_indices.npy         int32 [N_grp + 1]   group → puzzles (CSR)
// A group is one original puzzle, its puzzles are versions (the first unaugmented), each with
// one puzzle id and one or more examples. A dataset built by the references' Python builders
// reads as it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ponder {

struct DatasetMeta {
  int pad_id = 0;
  std::optional<int> ignore_label_id;
  int blank_identifier_id = 0;
  int vocab_size = 0;
  int seq_len = 0;
  int num_puzzle_identifiers = 0;
  int64_t total_groups = 0;
  double mean_puzzle_examples = 0;
  int64_t total_puzzles = 0;
  std::vector<std::string> sets = {"all"};
};

struct DatasetSplit {
  DatasetMeta meta;
  std::vector<uint8_t> inputs, labels;      // [N_ex, L]
  std::vector<int32_t> puzzle_identifiers;  // [N_puz]
  std::vector<int32_t> puzzle_indices;      // [N_puz + 1]
  std::vector<int32_t> group_indices;       // [N_grp + 1]
  int64_t examples() const { return meta.seq_len ? int64_t(inputs.size()) / meta.seq_len : 0; }
  int64_t puzzles() const { return int64_t(puzzle_identifiers.size()); }
  int64_t groups() const { return int64_t(group_indices.size()) - 1; }
};

// Accumulates groups of puzzles of examples, then fills in the metadata.
class DatasetBuilder {
 public:
  DatasetBuilder(int seq_len, int vocab_size);
  // Reserves room for `examples` more examples (large builds: no reallocation peaks).
  void reserve(int64_t examples);
  void begin_group();
  void add_puzzle(int32_t identifier);  // a new puzzle (version) in the current group
  void add_example(const std::vector<uint8_t>& input, const std::vector<uint8_t>& label);
  DatasetSplit finish(int num_puzzle_identifiers, std::optional<int> ignore_label_id);

 private:
  DatasetSplit s_;
  bool open_group_ = false;
};

// Validates every invariant (shapes, CSR monotonicity, token and id ranges) and names the file
// and what is wrong.
DatasetSplit read_dataset_split(const std::string& dir, const std::string& split);
void write_dataset_split(const std::string& dir, const std::string& split, const DatasetSplit& s);
void write_identifiers(const std::string& dir, const std::vector<std::string>& names);
std::vector<std::string> read_identifiers(const std::string& dir);  // <dir>/identifiers.json
bool is_dataset_dir(const std::string& dir);  // has <dir>/train/dataset.json or test/dataset.json

}  // namespace ponder
