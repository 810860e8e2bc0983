// The reference dataset format: .npy reading and writing, a dataset written by numpy exactly as
// the references' builder writes one, round trips of ponder's own builds, invariant checks with
// messages naming the file, and the batchers' reference semantics.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "data/sudoku_dataset.h"
#include "io/npy.h"
#include "test_util.h"

namespace ponder {
namespace {

using test::error_of;

class DataFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir = test::temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string dir;
};

TEST_F(DataFiles, npy_round_trip_and_errors) {
  const std::vector<uint8_t> u = {1, 2, 3, 4, 5, 6};
  write_npy(dir + "/u.npy", DType::U8, {2, 3}, u.data());
  NpyArray a = read_npy(dir + "/u.npy");
  EXPECT_EQ(a.descr, "|u1");
  EXPECT_EQ(a.shape, (Shape{2, 3}));
  EXPECT_EQ(a.bytes, u);
  const std::vector<int32_t> i = {-1, 0, 7};
  write_npy(dir + "/i.npy", DType::I32, {3}, i.data());
  EXPECT_EQ(read_npy(dir + "/i.npy").to_i32("x"), i);
  // The file header is numpy's: magic, version 1.0, a dict, padded to 64 bytes.
  std::ifstream f(dir + "/i.npy", std::ios::binary);
  std::string head(128, '\0');
  f.read(head.data(), 128);
  EXPECT_EQ(head.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(head.find("'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);

  test::write_bytes(dir + "/bad.npy", "not numpy at all");
  EXPECT_NE(error_of([&] { read_npy(dir + "/bad.npy"); }).find(dir + "/bad.npy: not a .npy file"),
            std::string::npos);
  std::string text = std::string("\x93NUMPY\x01\x00", 8);
  std::string h = "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }";
  h += std::string((64 - (10 + h.size() + 1) % 64) % 64, ' ') + "\n";
  text += char(h.size()) + std::string(1, '\0') + h + std::string(12, 'x');  // 12 of 16 bytes
  test::write_bytes(dir + "/short.npy", text);
  EXPECT_NE(error_of([&] { read_npy(dir + "/short.npy"); }).find("truncated"), std::string::npos);
  std::string c = text;
  c.replace(c.find("False"), 5, "True ");
  test::write_bytes(dir + "/fortran.npy", c);
  EXPECT_NE(error_of([&] { read_npy(dir + "/fortran.npy"); }).find("Fortran"), std::string::npos);
  std::string d = text;
  d.replace(d.find("<i4"), 3, "<c8");
  test::write_bytes(dir + "/complex.npy", d);
  EXPECT_NE(error_of([&] { read_npy(dir + "/complex.npy"); }).find("unsupported npy dtype '<c8'"),
            std::string::npos);
}

TEST(Dataset, reads_what_the_reference_builder_writes) {
  const std::string ref = test::source_path("tests/data_fixtures/reference_sudoku");
  DatasetSplit tr = read_dataset_split(ref, "train");
  EXPECT_EQ(tr.groups(), 3);
  EXPECT_EQ(tr.puzzles(), 9);
  EXPECT_EQ(tr.examples(), 9);
  EXPECT_EQ(tr.meta.vocab_size, 11);
  EXPECT_EQ(*tr.meta.ignore_label_id, 0);
  // The first version of each group is the original Kaggle puzzle, tokens = digit + 1.
  EXPECT_EQ(
      sudoku_to_string(sudoku_from_tokens(
                           std::vector<int32_t>(tr.inputs.begin(), tr.inputs.begin() + 81).data()),
                       '0'),
      "004300209005009001070060043006002087190007400050083000600000105003508690042910300");
  DatasetSplit te = read_dataset_split(ref, "test");
  EXPECT_EQ(te.examples(), 1);
}

TEST_F(DataFiles, sudoku_build_round_trips_and_augments_validly) {
  std::vector<SudokuExample> puzzles;
  RandomStream rng(5, 0);
  for (uint64_t i = 0; i < 4; ++i) puzzles.push_back(sudoku_generate(rng, i, 40));
  DatasetSplit s = build_sudoku_split(puzzles, 3, 9);
  EXPECT_EQ(s.groups(), 4);
  EXPECT_EQ(s.examples(), 16);
  for (int64_t e = 0; e < s.examples(); ++e) {
    std::vector<int32_t> q(s.inputs.begin() + e * 81, s.inputs.begin() + e * 81 + 81),
        a(s.labels.begin() + e * 81, s.labels.begin() + e * 81 + 81);
    EXPECT_TRUE(sudoku_solves(sudoku_from_tokens(q.data()), sudoku_from_tokens(a.data()))) << e;
  }
  write_dataset_split(dir, "train", s);
  DatasetSplit r = read_dataset_split(dir, "train");
  EXPECT_EQ(r.inputs, s.inputs);
  EXPECT_EQ(r.labels, s.labels);
  EXPECT_EQ(r.group_indices, s.group_indices);
  EXPECT_EQ(r.puzzle_indices, s.puzzle_indices);
  EXPECT_EQ(r.meta.total_groups, 4);
  EXPECT_DOUBLE_EQ(r.meta.mean_puzzle_examples, 1.0);
}

TEST_F(DataFiles, identifiers_round_trip_and_bad_ones_name_the_file) {
  write_identifiers(dir, {"<blank>", "a", "a|||t1|||0987654321"});
  EXPECT_EQ(read_identifiers(dir),
            (std::vector<std::string>{"<blank>", "a", "a|||t1|||0987654321"}));
  const std::string f = dir + "/identifiers.json";
  std::ofstream(f) << R"({"0": "<blank>"})";
  EXPECT_NE(error_of([&] { read_identifiers(dir); }).find(f + ": expected a JSON list"),
            std::string::npos);
  std::ofstream(f) << R"(["<blank>", 7])";
  EXPECT_NE(error_of([&] { read_identifiers(dir); }).find(f + ": entry 1 is not a string"),
            std::string::npos);
  std::ofstream(f) << R"(["<blank>", )";
  EXPECT_NE(error_of([&] { read_identifiers(dir); }).find(f + ": not valid JSON"),
            std::string::npos);
}

TEST_F(DataFiles, broken_datasets_name_the_file_and_problem) {
  std::vector<SudokuExample> puzzles = {sudoku_generate(RandomStream(1, 0), 0, 40),
                                        sudoku_generate(RandomStream(1, 0), 1, 40)};
  DatasetSplit s = build_sudoku_split(puzzles, 1, 0);
  write_dataset_split(dir, "train", s);
  const std::string base = dir + "/train/";
  std::vector<int32_t> bad = s.puzzle_indices;
  std::swap(bad[1], bad[2]);
  write_npy(base + "all__puzzle_indices.npy", DType::I32, {int64_t(bad.size())}, bad.data());
  EXPECT_NE(error_of([&] {
              read_dataset_split(dir, "train");
            }).find(base + "all__puzzle_indices.npy: entry 2"),
            std::string::npos);
  write_npy(base + "all__puzzle_indices.npy", DType::I32, {int64_t(s.puzzle_indices.size())},
            s.puzzle_indices.data());
  std::vector<uint8_t> tokens = s.inputs;
  tokens[5] = 11;
  write_npy(base + "all__inputs.npy", DType::U8, {s.examples(), 81}, tokens.data());
  EXPECT_NE(error_of([&] { read_dataset_split(dir, "train"); })
                .find(base + "all__inputs.npy: token 11 at example 0, position 5 is outside the "
                             "vocabulary [0, 11)"),
            std::string::npos);
  write_npy(base + "all__inputs.npy", DType::U8, {s.examples(), 81}, s.inputs.data());
  std::ofstream(base + "dataset.json") << "{\"pad_id\": 0}";
  EXPECT_NE(error_of([&] {
              read_dataset_split(dir, "train");
            }).find(base + "dataset.json: missing field"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_dataset_split(dir, "test"); }).find("dataset.json: not found"),
            std::string::npos);
}

DatasetSplit grouped_split(int groups, int versions) {
  DatasetBuilder b(3, 20);
  for (int g = 0; g < groups; ++g) {
    b.begin_group();
    for (int v = 0; v < versions; ++v) {
      b.add_puzzle(g * versions + v + 1);
      const uint8_t tag = uint8_t(g % 10 + 1);
      b.add_example({tag, uint8_t(v + 1), 0}, {tag, uint8_t(v + 1), 0});
    }
  }
  return b.finish(groups * versions + 1, 0);
}

TEST(Batcher, each_epoch_visits_every_group_once_with_one_version) {
  DatasetSplit d = grouped_split(10, 3);
  TrainBatcher b(d, 4, 2, 7);  // 2 epochs per chunk: 20 group visits = 5 full batches
  DataBatch batch;
  std::map<int32_t, int> group_visits;
  std::set<int32_t> versions;
  int batches = 0;
  while (b.next(&batch)) {
    ++batches;
    EXPECT_EQ(batch.B, 4);
    EXPECT_EQ(batch.real, 4);
    for (int32_t id : batch.puzzle_ids) {
      group_visits[(id - 1) / 3]++;
      versions.insert(id);
    }
    EXPECT_EQ(batch.labels[2], -100);  // the stored ignore label (0) becomes −100
  }
  EXPECT_EQ(batches, 5);
  for (int g = 0; g < 10; ++g) EXPECT_EQ(group_visits[g], 2) << g;
  EXPECT_GT(versions.size(), 6u);  // versions are drawn at random
}

TEST(Batcher, the_short_last_batch_is_dropped_and_state_restores_exactly) {
  DatasetSplit d = grouped_split(10, 3);
  TrainBatcher a(d, 3, 1, 11);  // 10 visits at batch 3: 3 batches, the 1 left is dropped
  DataBatch x;
  int n = 0;
  while (a.next(&x)) ++n;
  EXPECT_EQ(n, 3);
  TrainBatcher b(d, 3, 1, 11);
  b.start_chunk(4);
  DataBatch first, second, replay;
  b.next(&first);
  const TrainBatcher::State saved = b.state();
  b.next(&second);
  TrainBatcher c(d, 3, 1, 11);
  c.restore(saved);
  c.next(&replay);
  EXPECT_EQ(replay.inputs, second.inputs);
  EXPECT_EQ(replay.puzzle_ids, second.puzzle_ids);
  TrainBatcher other_chunk(d, 3, 1, 11);
  other_chunk.start_chunk(5);
  DataBatch y;
  other_chunk.next(&y);
  EXPECT_NE(y.puzzle_ids, first.puzzle_ids);  // a new chunk draws a new order
}

TEST(Batcher, ranks_take_contiguous_slices_of_the_global_batch) {
  DatasetSplit d = grouped_split(8, 1);
  TrainBatcher whole(d, 4, 1, 3), r0(d, 4, 1, 3, 0, 2), r1(d, 4, 1, 3, 1, 2);
  DataBatch w, a, b;
  whole.next(&w);
  r0.next(&a);
  r1.next(&b);
  std::vector<int32_t> joined = a.puzzle_ids;
  joined.insert(joined.end(), b.puzzle_ids.begin(), b.puzzle_ids.end());
  EXPECT_EQ(joined, w.puzzle_ids);
}

TEST(Batcher, evaluation_reads_in_order_and_pads_the_last_batch) {
  DatasetSplit d = grouped_split(5, 1);
  EvalBatcher e(d, 2);
  DataBatch b;
  std::vector<int32_t> ids;
  int64_t real = 0;
  while (e.next(&b)) {
    ids.insert(ids.end(), b.puzzle_ids.begin(), b.puzzle_ids.end());
    real += b.real;
  }
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 3, 4, 5, 0}));  // padding row: blank id 0
  EXPECT_EQ(real, 5);
  EXPECT_EQ(b.labels[3], -100);  // padding labels are ignored
}

}  // namespace
}  // namespace ponder
