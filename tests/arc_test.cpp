// ARC: augmentations and their inverses on real grids, the canvas and crop rule, the build's
// counts against REFERENCE.md §8.5, malformed task files, and voting with pass@k where the answer
// is known.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "data/arc.h"
#include "data/dihedral.h"
#include "test_util.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

std::string data_root() {
  return test::source_path("../shared/data");
}

std::vector<ArcAug> some_augs() {
  std::vector<ArcAug> augs;
  const RandomStream rng(7, 1);
  for (int t = 0; t < 8; ++t)
    for (int k = 0; k < 3; ++k) {
      ArcAug a;
      a.t = t;
      for (int i = 9; i > 1; --i)
        std::swap(a.perm[size_t(i)],
                  a.perm[size_t(rng.integer(uint64_t(t * 100 + k * 10 + i), 1, i))]);
      augs.push_back(a);
    }
  return augs;
}

TEST(Arc, every_augmentation_composed_with_its_inverse_is_the_identity_on_real_grids) {
  const auto tasks = read_arc_tasks(data_root() + "/arc-agi-1/training");
  const auto augs = some_augs();
  int64_t checked = 0;
  for (size_t i = 0; i < tasks.size(); i += 8)
    for (const auto& p : tasks[i].train)
      for (const ArcGrid* g : {&p.input, &p.output})
        for (const ArcAug& a : augs) {
          const ArcGrid x = arc_augment(*g, a);
          EXPECT_EQ(x.h, dihedral_swaps_axes(a.t) ? g->w : g->h);
          ASSERT_EQ(arc_deaugment(x, a), *g) << tasks[i].name << " t" << a.t;
          // Black stays black; other colours move as the map says.
          for (size_t c = 0; c < g->cells.size(); ++c)
            EXPECT_EQ(g->cells[c] == 0, a.perm[g->cells[c]] == 0);
          ++checked;
        }
  EXPECT_GT(checked, 5000);
  // Rotation by 90° four times, and the inverse table, on a non-square grid.
  const ArcGrid g = tasks[3].train[0].input;
  ArcAug rot;
  rot.t = 1;
  EXPECT_EQ(arc_augment(arc_augment(arc_augment(arc_augment(g, rot), rot), rot), rot), g);
}

TEST(Arc, version_names_round_trip_in_both_reference_spellings) {
  for (const ArcAug& a : some_augs()) {
    std::string task;
    const ArcAug b = arc_parse_version_name(arc_version_name("0a938d79", a), &task);
    EXPECT_EQ(task, "0a938d79");
    EXPECT_EQ(b.t, a.t);
    EXPECT_EQ(b.perm, a.perm);
  }
  std::string task;
  const ArcAug h = arc_parse_version_name("AboveBelow1_t3_0918273645", &task);
  EXPECT_EQ(task, "AboveBelow1");
  EXPECT_EQ(h.t, 3);
  EXPECT_EQ(h.perm[1], 9);
  EXPECT_TRUE(arc_parse_version_name("007bbfb7", &task).identity());
  EXPECT_EQ(task, "007bbfb7");
  EXPECT_THROW(arc_parse_version_name("x|||t1|||0123456788", &task), Error);
}

TEST(Arc, encoding_then_cropping_recovers_every_grid_size_from_1x1_to_30x30) {
  const RandomStream rng(3, 3);
  for (int h = 1; h <= kArcSide; ++h)
    for (int w = 1; w <= kArcSide; ++w) {
      ArcGrid g{h, w, {}};
      for (int i = 0; i < h * w; ++i)
        g.cells.push_back(uint8_t(rng.integer(uint64_t(h * 10000 + w * 100 + i), 0, 9)));
      const auto tokens = arc_encode(g, 0, 0);
      // The EOS rule: the row below and the column right of the grid, never the corner.
      if (h < kArcSide) {
        EXPECT_EQ(tokens[size_t(h * kArcSide)], 1);
      }
      if (w < kArcSide) {
        EXPECT_EQ(tokens[size_t(w)], 1);
      }
      if (h < kArcSide && w < kArcSide) {
        EXPECT_EQ(tokens[size_t(h * kArcSide + w)], 0);
      }
      const std::vector<int32_t> t32(tokens.begin(), tokens.end());
      ASSERT_EQ(arc_crop(t32.data()), g) << h << "x" << w;
    }
  // A translated grid keeps its EOS lines; the corner and the cells outside stay PAD.
  ArcGrid g{2, 3, {1, 2, 3, 4, 5, 6}};
  const auto t = arc_encode(g, 4, 5);
  EXPECT_EQ(t[size_t(4 * kArcSide + 5)], 3);
  EXPECT_EQ(t[size_t(6 * kArcSide + 5)], 1);
  EXPECT_EQ(t[size_t(4 * kArcSide + 8)], 1);
  EXPECT_EQ(t[size_t(6 * kArcSide + 8)], 0);
  EXPECT_EQ(std::count(t.begin(), t.end(), 1), 5);
  // A prediction without a colour in its first cell crops to nothing.
  std::vector<int32_t> junk(kArcSeqLen, 1);
  EXPECT_EQ(arc_crop(junk.data()).h * arc_crop(junk.data()).w, 0);
}

TEST(Arc, the_arc1_build_reports_the_reference_counts) {
  std::vector<ArcSubset> subsets = {
      {"training", read_arc_tasks(data_root() + "/arc-agi-1/training"), false},
      {"evaluation", read_arc_tasks(data_root() + "/arc-agi-1/evaluation"), true},
      {"concept", read_arc_tasks(data_root() + "/concept-arc/corpus"), false}};
  ArcBuildOptions o;
  o.num_aug = 1;
  const ArcDataset d = build_arc_dataset(subsets, o);
  // REFERENCE.md §8.5: tasks / demonstration pairs / test inputs.
  const int64_t want[3][3] = {{400, 1302, 416}, {400, 1363, 419}, {160, 427, 480}};
  ASSERT_EQ(d.counts.size(), 3u);
  int64_t versions = 0;
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(d.counts[size_t(s)].tasks, want[s][0]) << d.counts[size_t(s)].name;
    EXPECT_EQ(d.counts[size_t(s)].demonstrations, want[s][1]) << d.counts[size_t(s)].name;
    EXPECT_EQ(d.counts[size_t(s)].test_inputs, want[s][2]) << d.counts[size_t(s)].name;
    versions += d.counts[size_t(s)].versions;
  }
  // Ids from 1, one per version; every group in train, evaluation test inputs in test.
  EXPECT_EQ(int64_t(d.identifiers.size()), versions + 1);
  EXPECT_EQ(d.train.groups(), 960);
  EXPECT_EQ(d.train.examples(), (1302 + 416) * 2 + 1363 * 2 + (427 + 480) * 2);
  EXPECT_EQ(d.test.groups(), 400);
  EXPECT_EQ(d.test.examples(), 419 * 2);
  EXPECT_EQ(d.test_puzzles.size(), 400u);
  EXPECT_EQ(d.train.meta.num_puzzle_identifiers, int(d.identifiers.size()));
  EXPECT_EQ(d.test.meta.ignore_label_id, 0);
  // Test rows share their version's identifier with its demonstrations in train.
  std::set<int32_t> train_ids(d.train.puzzle_identifiers.begin(), d.train.puzzle_identifiers.end());
  for (int32_t id : d.test.puzzle_identifiers)
    EXPECT_TRUE(train_ids.count(id)) << d.identifiers[size_t(id)];
  // Test rows are untranslated; in train each version keeps at least one example at (0, 0).
  for (int64_t e = 0; e < d.test.examples(); ++e)
    EXPECT_GE(d.test.inputs[size_t(e * kArcSeqLen)], 2);
  for (int64_t p = 0; p < d.train.puzzles(); ++p) {
    bool at_origin = false;
    for (int32_t e = d.train.puzzle_indices[size_t(p)]; e < d.train.puzzle_indices[size_t(p) + 1];
         ++e)
      at_origin |= d.train.inputs[size_t(e) * kArcSeqLen] >= 2;
    ASSERT_TRUE(at_origin) << p;
  }
}

TEST(Arc, the_arc2_build_reports_its_counts) {
  ArcBuildOptions o;
  o.num_aug = 0;
  const ArcDataset d = build_arc_dataset({{"training2", read_arc_tasks(data_root() + "/arc-agi-2/training"), false},
                                          {"evaluation2", read_arc_tasks(data_root() + "/arc-agi-2/evaluation"), true},
                                          {"concept", read_arc_tasks(data_root() + "/concept-arc/corpus"), false}},
                                         o);
  // REFERENCE.md's Kaggle copy has 358 / 172 for evaluation2; the arcprize repository's data
  // (../shared/data, with the April 2025 fixes) has 359 / 167.
  const int64_t want[3][3] = {{1000, 3232, 1076}, {120, 359, 167}, {160, 427, 480}};
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(d.counts[size_t(s)].tasks, want[s][0]) << d.counts[size_t(s)].name;
    EXPECT_EQ(d.counts[size_t(s)].demonstrations, want[s][1]) << d.counts[size_t(s)].name;
    EXPECT_EQ(d.counts[size_t(s)].test_inputs, want[s][2]) << d.counts[size_t(s)].name;
  }
  EXPECT_EQ(d.identifiers.size(), 1281u);
}

ArcTask task_of(const std::vector<ArcGrid>& grids) {
  ArcTask t;
  t.name = "synthetic";
  for (size_t i = 0; i + 1 < grids.size(); i += 2) t.train.push_back({grids[i], grids[i + 1]});
  t.test.push_back({grids[0], grids[1]});
  t.original = {{"train", nlohmann::json::array()}, {"test", nlohmann::json::array()}};
  return t;
}

TEST(Arc, versions_are_distinct_so_symmetric_tasks_get_fewer) {
  ArcBuildOptions o;
  o.num_aug = 50;
  // All black 1×1 grids: every augmentation gives the same task.
  auto d = build_arc_dataset({{"s", {task_of({{1, 1, {0}}, {1, 1, {0}}})}, false}}, o);
  EXPECT_EQ(d.counts[0].versions, 1);
  // One colour on 1×1 grids: only the 9 colour maps differ.
  d = build_arc_dataset({{"s", {task_of({{1, 1, {3}}, {1, 1, {3}}})}, false}}, o);
  EXPECT_EQ(d.counts[0].versions, 9);
  EXPECT_EQ(d.counts[0].short_tasks, 1);
  // An asymmetric task reaches the target, with distinct names.
  d = build_arc_dataset({{"s", {task_of({{2, 3, {1, 2, 3, 4, 5, 6}}, {1, 2, {7, 8}}})}, false}}, o);
  EXPECT_EQ(d.counts[0].versions, 51);
  EXPECT_EQ(std::set<std::string>(d.identifiers.begin(), d.identifiers.end()).size(), 52u);
}

TEST(Arc, malformed_task_files_name_the_file_and_the_problem) {
  const std::string dir = test::temp_dir();
  const std::pair<const char*, const char*> cases[] = {
      {R"({"train": [{"input": [[1,2],[3]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]})",
       "ragged rows"},
      {R"({"train": [{"input": [[1,10]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]})",
       "expected a colour 0–9"},
      {R"({"train": [{"input": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]})",
       "missing 'output'"},
      {R"({"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[1]]}]})",
       "test outputs are needed"},
      {R"({"train": [], "test": [{"input": [[1]], "output": [[1]]}]})", "no demonstration pairs"},
      {R"({"test": []})", "missing the 'train' list"},
      {R"({"train": [{"input": [[1]], "output": [[1]]}], )", "not valid JSON"},
  };
  for (const auto& [text, why] : cases) {
    const std::string f = dir + "/bad.json";
    std::ofstream(f) << text;
    try {
      read_arc_task(f);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
  // Over 30×30.
  nlohmann::json big = {
      {"train",
       {{{"input", std::vector<std::vector<int>>(31, std::vector<int>(2, 0))}, {"output", {{1}}}}}},
      {"test", {{{"input", {{1}}}, {"output", {{1}}}}}}};
  std::ofstream(dir + "/big.json") << big.dump();
  try {
    read_arc_task(dir + "/big.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train[0].input: 31 rows"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Arc, reads_the_kaggle_combined_files) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/arc-agi_x_challenges.json")
      << R"({"t1": {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}, {"input": [[4]]}]}})";
  std::ofstream(dir + "/arc-agi_x_solutions.json") << R"({"t1": [[[5]], [[6]]]})";
  const auto tasks = read_arc_tasks(dir + "/arc-agi_x_challenges.json");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].test[1].output, (ArcGrid{1, 1, {6}}));
  std::ofstream(dir + "/arc-agi_x_solutions.json") << R"({"t1": [[[5]]]})";
  EXPECT_THROW(read_arc_tasks(dir + "/arc-agi_x_challenges.json"), Error);
  fs::remove_all(dir);
}

// Feeds every test row of a built evaluation set to the voter with `pred(row)` as its prediction.
template <class Pred>
ArcVoter::Result vote(const ArcDataset& d, Pred pred) {
  ArcVoter v(d.identifiers);
  std::vector<int32_t> in(kArcSeqLen), out(kArcSeqLen);
  for (int64_t p = 0; p < d.test.puzzles(); ++p)
    for (int32_t e = d.test.puzzle_indices[size_t(p)]; e < d.test.puzzle_indices[size_t(p) + 1];
         ++e) {
      std::copy_n(d.test.inputs.begin() + int64_t(e) * kArcSeqLen, kArcSeqLen, in.begin());
      std::copy_n(d.test.labels.begin() + int64_t(e) * kArcSeqLen, kArcSeqLen, out.begin());
      pred(p, out);
      v.add(d.test.puzzle_identifiers[size_t(p)], in.data(), out.data(), 0.5);
    }
  return v.result(d.test_puzzles);
}

TEST(Arc, voting_scores_a_perfect_prediction_one_and_a_wrong_one_zero) {
  const auto all = read_arc_tasks(data_root() + "/arc-agi-1/evaluation");
  std::vector<ArcTask> tasks(all.begin(), all.begin() + 10);
  for (const auto& t : all)  // and two tasks with several test inputs
    if (t.test.size() > 1 && tasks.size() < 12) tasks.push_back(t);
  ArcBuildOptions o;
  o.num_aug = 8;
  const ArcDataset d = build_arc_dataset({{"evaluation", tasks, true}}, o);
  // The label itself: every version, de-augmented, votes for the true output.
  ArcVoter::Result r = vote(d, [](int64_t, std::vector<int32_t>&) {});
  EXPECT_EQ(r.tasks, 12);
  EXPECT_EQ(r.unanswered, 0);
  for (size_t k = 0; k < r.ks.size(); ++k) {
    EXPECT_DOUBLE_EQ(r.pass_trm[k], 1.0);
    EXPECT_DOUBLE_EQ(r.pass_hrm[k], 1.0);
  }
  for (const auto& [name, attempts] : r.submission.items()) {
    ASSERT_EQ(attempts.size(), d.test_puzzles[name]["test"].size());
    for (size_t i = 0; i < attempts.size(); ++i)
      EXPECT_EQ(attempts[i]["attempt_1"], d.test_puzzles[name]["test"][i]["output"]);
  }
  // A minority of versions wrong: the vote still picks the truth for pass@1.
  r = vote(d, [](int64_t p, std::vector<int32_t>& out) {
    if (p % 9 == 3) out[0] = out[0] == 2 ? 3 : 2;
  });
  EXPECT_DOUBLE_EQ(r.pass_trm[0], 1.0);
  // Every row wrong: nothing is solved, yet each test input has two attempts.
  r = vote(d, [](int64_t, std::vector<int32_t>& out) { out[0] = out[0] == 2 ? 3 : 2; });
  EXPECT_DOUBLE_EQ(r.pass_trm.back(), 0.0);
  EXPECT_EQ(r.submission.size(), 12u);
  // Only the first test input of each task right: TRM gives fractional credit, HRM none for
  // tasks with several test inputs.
  std::vector<int64_t> first_example(size_t(d.test.puzzles()));
  r = vote(d, [&](int64_t p, std::vector<int32_t>& out) {
    static int64_t last_p = -1, k = 0;
    k = p == last_p ? k + 1 : 0;
    last_p = p;
    if (k > 0) out[0] = out[0] == 2 ? 3 : 2;
  });
  double trm = 0, hrm = 0;
  for (const auto& [name, t] : d.test_puzzles.items()) {
    trm += 1.0 / double(t["test"].size());
    hrm += t["test"].size() == 1;
  }
  EXPECT_NEAR(r.pass_trm[0], trm / 12, 1e-12);
  EXPECT_NEAR(r.pass_hrm[0], hrm / 12, 1e-12);
  EXPECT_LT(r.pass_hrm[0], r.pass_trm[0]);
  // Without test_puzzles.json (HRM builds) the truth comes from the unaugmented rows.
  const std::string dir = test::temp_dir();
  const nlohmann::json tp = arc_test_puzzles(dir, d.test, d.identifiers);
  for (const auto& [name, t] : d.test_puzzles.items()) {
    ASSERT_TRUE(tp.contains(name));
    for (size_t i = 0; i < t["test"].size(); ++i)
      EXPECT_EQ(tp[name]["test"][i]["output"], t["test"][i]["output"]);
  }
  fs::remove_all(dir);
}

TEST(Arc, ties_in_votes_are_broken_by_mean_halting_confidence) {
  ArcVoter v({"<blank>", "t"});
  const ArcGrid in{1, 1, {1}}, a{1, 1, {2}}, b{1, 1, {3}};
  auto tok = [](const ArcGrid& g) {
    const auto t = arc_encode(g, 0, 0);
    return std::vector<int32_t>(t.begin(), t.end());
  };
  v.add(1, tok(in).data(), tok(a).data(), 0.2);
  v.add(1, tok(in).data(), tok(b).data(), 0.9);
  v.add(1, tok(in).data(), tok(a).data(), 0.3);
  v.add(1, tok(in).data(), tok(b).data(), 0.8);
  auto c = v.ranked("t", in);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].grid, b);  // 2 votes each; b's mean q is higher
  v.add(1, tok(in).data(), tok(a).data(), 0.0);
  EXPECT_EQ(v.ranked("t", in)[0].grid, a);  // a count beats any q
}

}  // namespace
}  // namespace ponder
