#include "data/dataset.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/json_reader.h"
#include "io/npy.h"
#include "io/safetensors.h"

namespace ponder {

DatasetBuilder::DatasetBuilder(int seq_len, int vocab_size) {
  s_.meta.seq_len = seq_len;
  s_.meta.vocab_size = vocab_size;
  s_.puzzle_indices.push_back(0);
  s_.group_indices.push_back(0);
}

void DatasetBuilder::reserve(int64_t examples) {
  const size_t n = s_.inputs.size() + size_t(examples) * size_t(s_.meta.seq_len);
  s_.inputs.reserve(n);
  s_.labels.reserve(n);
}

void DatasetBuilder::begin_group() {
  if (open_group_) s_.group_indices.push_back(int32_t(s_.puzzle_identifiers.size()));
  open_group_ = true;
}

void DatasetBuilder::add_puzzle(int32_t identifier) {
  PONDER_CHECK(open_group_, "internal: add_puzzle before begin_group");
  s_.puzzle_identifiers.push_back(identifier);
  s_.puzzle_indices.push_back(s_.puzzle_indices.back());
}

void DatasetBuilder::add_example(const std::vector<uint8_t>& input,
                                 const std::vector<uint8_t>& label) {
  PONDER_CHECK(int(input.size()) == s_.meta.seq_len && int(label.size()) == s_.meta.seq_len,
               "internal: example of length ", input.size(), " for seq_len ", s_.meta.seq_len);
  s_.inputs.insert(s_.inputs.end(), input.begin(), input.end());
  s_.labels.insert(s_.labels.end(), label.begin(), label.end());
  ++s_.puzzle_indices.back();
}

DatasetSplit DatasetBuilder::finish(int num_puzzle_identifiers,
                                    std::optional<int> ignore_label_id) {
  if (open_group_) s_.group_indices.push_back(int32_t(s_.puzzle_identifiers.size()));
  open_group_ = false;
  DatasetMeta& m = s_.meta;
  m.num_puzzle_identifiers = num_puzzle_identifiers;
  m.ignore_label_id = ignore_label_id;
  m.total_groups = s_.groups();
  m.total_puzzles = s_.puzzles();
  m.mean_puzzle_examples = m.total_puzzles ? double(s_.examples()) / double(m.total_puzzles) : 0.0;
  return std::move(s_);
}

namespace {

DatasetMeta parse_meta(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  JsonReader r(j, path);
  DatasetMeta m;
  for (const char* required :
       {"pad_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers",
        "total_groups", "mean_puzzle_examples", "sets"})
    PONDER_CHECK(r.has(required), path, ": missing field '", required, "'");
  r.get("pad_id", m.pad_id);
  if (j.contains("ignore_label_id") && !j["ignore_label_id"].is_null()) {
    int v = 0;
    r.get("ignore_label_id", v);
    m.ignore_label_id = v;
  } else {
    r.accept("ignore_label_id");
  }
  r.get("blank_identifier_id", m.blank_identifier_id);
  r.get("vocab_size", m.vocab_size);
  r.get("seq_len", m.seq_len);
  r.get("num_puzzle_identifiers", m.num_puzzle_identifiers);
  r.get("total_groups", m.total_groups);
  r.get("mean_puzzle_examples", m.mean_puzzle_examples);
  m.total_puzzles = -1;  // HRM's builders do not write it
  r.get("total_puzzles", m.total_puzzles);
  r.get("sets", m.sets);
  r.finish();
  PONDER_CHECK(m.vocab_size >= 1 && m.vocab_size <= 256, path, ": vocab_size ", m.vocab_size,
               " must be in [1, 256]");
  PONDER_CHECK(m.seq_len >= 1, path, ": seq_len must be positive");
  PONDER_CHECK(m.num_puzzle_identifiers >= 1, path, ": num_puzzle_identifiers must be positive");
  PONDER_CHECK(
      m.sets.size() == 1, path, ": sets ", nlohmann::json(m.sets).dump(),
      ": only single-set datasets are supported (every reference builder writes [\"all\"])");
  return m;
}

std::vector<uint8_t> read_tokens(const std::string& path, int64_t seq_len, int vocab,
                                 int64_t* rows) {
  NpyArray a = read_npy(path);
  PONDER_CHECK(a.shape.size() == 2 && a.shape[1] == seq_len, path, ": shape ", shape_str(a.shape),
               ", expected [N, ", seq_len, "] (seq_len from dataset.json)");
  *rows = a.shape[0];
  std::vector<uint8_t> out(size_t(a.numel()));
  if (a.dtype == DType::U8) {
    out.assign(a.bytes.begin(), a.bytes.end());
  } else {
    std::vector<int32_t> v = a.to_i32(path);
    for (size_t i = 0; i < v.size(); ++i) {
      PONDER_CHECK(v[i] >= 0 && v[i] < 256, path, ": token ", v[i], " at index ", i,
                   " is out of range");
      out[i] = uint8_t(v[i]);
    }
  }
  for (size_t i = 0; i < out.size(); ++i)
    PONDER_CHECK(out[i] < vocab, path, ": token ", int(out[i]), " at example ", i / size_t(seq_len),
                 ", position ", i % size_t(seq_len), " is outside the vocabulary [0, ", vocab, ")");
  return out;
}

std::vector<int32_t> read_index(const std::string& path, int64_t expected_len) {
  NpyArray a = read_npy(path);
  PONDER_CHECK(a.shape.size() == 1, path, ": shape ", shape_str(a.shape), ", expected 1-D");
  PONDER_CHECK(expected_len < 0 || a.shape[0] == expected_len, path, ": has ", a.shape[0],
               " entries, expected ", expected_len);
  return a.to_i32(path);
}

void check_csr(const std::string& path, const std::vector<int32_t>& idx, int64_t total) {
  PONDER_CHECK(!idx.empty() && idx.front() == 0, path, ": must start at 0");
  for (size_t i = 1; i < idx.size(); ++i)
    PONDER_CHECK(idx[i] >= idx[i - 1], path, ": entry ", i, " (", idx[i],
                 ") is smaller than the one before (", idx[i - 1], ")");
  PONDER_CHECK(idx.back() == total, path, ": ends at ", idx.back(), ", expected ", total);
}

}  // namespace

DatasetSplit read_dataset_split(const std::string& dir, const std::string& split) {
  const std::string base = dir + "/" + split + "/";
  PONDER_CHECK(std::filesystem::exists(base + "dataset.json"), base, "dataset.json: not found (is ",
               dir, " a dataset built by `ponder data`?)");
  DatasetSplit s;
  s.meta = parse_meta(base + "dataset.json");
  const std::string prefix = base + s.meta.sets[0] + "__";
  int64_t rows = 0, label_rows = 0;
  s.inputs = read_tokens(prefix + "inputs.npy", s.meta.seq_len, s.meta.vocab_size, &rows);
  s.labels = read_tokens(prefix + "labels.npy", s.meta.seq_len, s.meta.vocab_size, &label_rows);
  PONDER_CHECK(label_rows == rows, prefix, "labels.npy: has ", label_rows,
               " rows but inputs.npy has ", rows);
  s.puzzle_identifiers = read_index(prefix + "puzzle_identifiers.npy", -1);
  s.puzzle_indices = read_index(prefix + "puzzle_indices.npy", s.puzzles() + 1);
  s.group_indices = read_index(prefix + "group_indices.npy", -1);
  check_csr(prefix + "puzzle_indices.npy", s.puzzle_indices, rows);
  check_csr(prefix + "group_indices.npy", s.group_indices, s.puzzles());
  for (size_t i = 0; i < s.puzzle_identifiers.size(); ++i)
    PONDER_CHECK(
        s.puzzle_identifiers[i] >= 0 && s.puzzle_identifiers[i] < s.meta.num_puzzle_identifiers,
        prefix, "puzzle_identifiers.npy: id ", s.puzzle_identifiers[i], " at index ", i,
        " is outside [0, ", s.meta.num_puzzle_identifiers, ")");
  PONDER_CHECK(s.groups() == s.meta.total_groups, base, "dataset.json: total_groups ",
               s.meta.total_groups, " but group_indices.npy holds ", s.groups(), " groups");
  if (s.meta.total_puzzles < 0) s.meta.total_puzzles = s.puzzles();
  return s;
}

void write_dataset_split(const std::string& dir, const std::string& split, const DatasetSplit& s) {
  const std::string base = dir + "/" + split + "/";
  std::filesystem::create_directories(base);
  const int64_t L = s.meta.seq_len;
  write_npy(base + "all__inputs.npy", DType::U8, {s.examples(), L}, s.inputs.data());
  write_npy(base + "all__labels.npy", DType::U8, {s.examples(), L}, s.labels.data());
  write_npy(base + "all__puzzle_identifiers.npy", DType::I32, {s.puzzles()},
            s.puzzle_identifiers.data());
  write_npy(base + "all__puzzle_indices.npy", DType::I32, {s.puzzles() + 1},
            s.puzzle_indices.data());
  write_npy(base + "all__group_indices.npy", DType::I32, {s.groups() + 1}, s.group_indices.data());
  const DatasetMeta& m = s.meta;
  nlohmann::json j = {{"pad_id", m.pad_id},
                      {"ignore_label_id",
                       m.ignore_label_id ? nlohmann::json(*m.ignore_label_id) : nlohmann::json()},
                      {"blank_identifier_id", m.blank_identifier_id},
                      {"vocab_size", m.vocab_size},
                      {"seq_len", m.seq_len},
                      {"num_puzzle_identifiers", m.num_puzzle_identifiers},
                      {"total_groups", m.total_groups},
                      {"mean_puzzle_examples", m.mean_puzzle_examples},
                      {"total_puzzles", m.total_puzzles},
                      {"sets", m.sets}};
  const std::string text = j.dump();
  write_file_atomic(base + "dataset.json", {{text.data(), text.size()}});
}

void write_identifiers(const std::string& dir, const std::vector<std::string>& names) {
  const std::string text = nlohmann::json(names).dump();
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/identifiers.json", {{text.data(), text.size()}});
}

std::vector<std::string> read_identifiers(const std::string& dir) {
  const std::string path = dir + "/identifiers.json";
  nlohmann::json j = read_json_file(path);
  PONDER_CHECK(j.is_array(), path, ": expected a JSON list of puzzle names");
  std::vector<std::string> names;
  for (size_t i = 0; i < j.size(); ++i) {
    PONDER_CHECK(j[i].is_string(), path, ": entry ", i, " is not a string");
    names.push_back(j[i].get<std::string>());
  }
  return names;
}

bool is_dataset_dir(const std::string& dir) {
  return std::filesystem::exists(dir + "/train/dataset.json") ||
         std::filesystem::exists(dir + "/test/dataset.json");
}

}  // namespace ponder
