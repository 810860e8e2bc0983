// Mazes and ARC through the real CLI: build a dataset, train a tiny model for a few steps,
// evaluate it (maze path checks; ARC voting, pass@k and a submission file) and solve an ARC task.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

// A tiny attention TRM; the dataset gives the vocabulary and sequence length.
const char* kTinyAtt =
    R"({"arch": {"name": "trm", "hidden_size": 32, "num_heads": 2, "expansion": 2, "H_cycles": 1,
        "L_cycles": 1, "L_layers": 1, "pos_encodings": "rope", "puzzle_emb_ndim": 32,
        "puzzle_emb_len": 2, "halt_max_steps": 2},
        "global_batch_size": 8, "epochs": 2, "eval_interval": 2, "lr": 1e-3, "lr_warmup_steps": 2,
        "weight_decay": 0.1, "puzzle_emb_lr": 1e-2, "puzzle_emb_weight_decay": 0.1,
        "ema": true, "ema_rate": 0.9, "seed": 1})";

class TaskCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::temp_dir();
    std::ofstream(dir + "/tiny.json") << kTinyAtt;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

TEST_F(TaskCli, mazes_are_generated_trained_on_and_scored_by_path_validity) {
  auto d = test::run_ponder("data maze --generate 24 --test-size 8 --size 8 --seed 3 --aug --out " +
                            dir + "/maze");
  ASSERT_EQ(d.status, 0) << d.output;
  EXPECT_NE(d.output.find("train: 24 mazes 8x8, shortest path"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("train: 24 groups × 8 versions = 192 examples"), std::string::npos)
      << d.output;
  EXPECT_TRUE(fs::exists(dir + "/maze/train.csv") && fs::exists(dir + "/maze/test.csv"));
  // The written CSV reads back as a dataset of its own.
  auto again = test::run_ponder("data maze --input " + dir + "/maze/train.csv --test-input " + dir +
                                "/maze/test.csv --out " + dir + "/maze2");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("train.csv: 24 mazes"), std::string::npos) << again.output;
  // A 5×5 maze has few distinct layouts: asking for more fails clearly instead of searching forever.
  auto few = test::run_ponder("data maze --generate 1000 --size 5 --out " + dir + "/maze5");
  EXPECT_NE(few.status, 0);
  EXPECT_NE(few.output.find("distinct 5x5 mazes turned up"), std::string::npos) << few.output;
  auto exists = test::run_ponder("data maze --generate 4 --size 8 --out " + dir + "/maze");
  EXPECT_NE(exists.status, 0);
  EXPECT_NE(exists.output.find("exists; pass --force"), std::string::npos) << exists.output;

  auto t = test::run_ponder("train " + dir + "/tiny.json --data " + dir + "/maze --out " + dir +
                            "/run --max-steps 3 --no-progress");
  ASSERT_EQ(t.status, 0) << t.output;
  auto e = test::run_ponder("eval " + dir + "/run/model.safetensors " + dir + "/maze --json " +
                            dir + "/m.json");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("predicted paths that are valid shortest paths:"), std::string::npos)
      << e.output;
  const auto j = read_json(dir + "/m.json");
  EXPECT_EQ(j["count"], 8);
  EXPECT_GE(j["valid_shortest_path"].get<double>(), j["exact_accuracy"].get<double>());
}

TEST_F(TaskCli, arc_is_built_trained_evaluated_with_voting_and_solved) {
  const std::string data = test::source_path("../shared/data");
  auto d = test::run_ponder("data arc --arc1 " + data +
                            " --task 00576224 --task 007bbfb7 --task AboveBelow1 " +
                            "--num-aug 3 --out " + dir + "/arc");
  ASSERT_EQ(d.status, 0) << d.output;
  EXPECT_NE(d.output.find("evaluation        1               2            1         4"),
            std::string::npos)
      << d.output;
  auto t = test::run_ponder("train " + dir + "/tiny.json --data " + dir + "/arc --out " + dir +
                            "/run --max-steps 2 --no-progress");
  ASSERT_EQ(t.status, 0) << t.output;
  auto e = test::run_ponder("eval " + dir + "/run/model.safetensors " + dir + "/arc --json " + dir +
                            "/m.json --submission " + dir + "/submission.json");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("ARC: 1 tasks, 1 test inputs"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("pass@1000"), std::string::npos) << e.output;
  const auto m = read_json(dir + "/m.json");
  for (const char* k :
       {"pass@1", "pass@2", "pass@5", "pass@10", "pass@100", "pass@1000", "hrm.pass@2"}) {
    ASSERT_TRUE(m["arc"].contains(k)) << k;
    EXPECT_GE(m["arc"][k].get<double>(), 0.0);
    EXPECT_LE(m["arc"][k].get<double>(), 1.0);
  }
  // A Kaggle-style submission: each test input of each task with two grids of colours.
  const auto s = read_json(dir + "/submission.json");
  ASSERT_TRUE(s.contains("00576224"));
  ASSERT_EQ(s["00576224"].size(), 1u);
  for (const char* a : {"attempt_1", "attempt_2"}) {
    const auto& g = s["00576224"][0][a];
    ASSERT_TRUE(g.is_array() && !g.empty());
    for (const auto& row : g)
      for (const auto& v : row) EXPECT_TRUE(v.is_number_integer() && v >= 0 && v <= 9);
  }

  auto sv = test::run_ponder("solve " + dir + "/run/model.safetensors " + data +
                             "/arc-agi-1/evaluation/00576224.json --data " + dir + "/arc --svg " +
                             dir + "/task.svg");
  ASSERT_EQ(sv.status, 0) << sv.output;
  EXPECT_NE(sv.output.find("4 versions voting"), std::string::npos) << sv.output;
  EXPECT_NE(sv.output.find("demo 1 input"), std::string::npos) << sv.output;
  EXPECT_NE(sv.output.find("test inputs solved within two attempts"), std::string::npos)
      << sv.output;
  const std::string text = test::read_file(dir + "/task.svg");
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("fill=\"#7FDBFF\""),
            std::string::npos);  // colour 8 of the first demonstration
}

}  // namespace
}  // namespace ponder
