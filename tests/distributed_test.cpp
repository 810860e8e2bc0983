// Data-parallel training over MPI: `mpirun -np 2 ponder train` splits each global batch across
// the ranks and must end where one process with the same global batch ends — parameters, puzzle
// table and EMA within 1e-6 (relative, norm-wise) after 20 steps, and the same logged losses — and
// a run checkpointed by 2 ranks resumes in 1 process. Skipped, with a message, without mpirun.
//
// The learning rates are 1e-6: AdamATan2's first steps move every weight by ±lr whatever the size
// of its gradient, so a near-zero gradient whose sign differs between the two summation orders
// moves that weight by 2·lr; at lr 1e-6 such flips stay far below the tolerance, while 1e-6 still
// resolves the 20 steps' update (~2e-5 per weight) to a few percent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "test_util.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

const char* kConfig =
    R"({"arch": {"name": "trm", "hidden_size": 32, "num_heads": 2, "expansion": 2, "H_cycles": 2,
        "L_cycles": 2, "L_layers": 1, "puzzle_emb_ndim": 32, "puzzle_emb_len": 2,
        "halt_max_steps": 4},
        "global_batch_size": 16, "epochs": 8, "eval_interval": 8, "lr": 1e-6, "lr_warmup_steps": 0,
        "puzzle_emb_lr": 1e-6, "ema": true, "ema_rate": 0.9, "seed": 5})";

bool have_mpirun() {
  static const bool ok = std::system("command -v mpirun >/dev/null 2>&1") == 0;
  return ok;
}

// Two ranks on however many cores, as root in a container too; no leak report from MPI's own
// allocations under the sanitizers.
std::string mpirun(int ranks) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
         "OMPI_MCA_btl_vader_single_copy_mechanism=none ASAN_OPTIONS=detect_leaks=0 "
         "OMP_NUM_THREADS=1 mpirun --oversubscribe -np " +
         std::to_string(ranks);
}

double relative_difference(const std::string& a, const std::string& b, const std::string& name) {
  SafetensorsReader x(a), y(b);
  const TensorInfo& t = x.info(name);
  Array<float> p = x.read_f32(name, t.shape), q = y.read_f32(name, t.shape);
  return test::relative_difference(p.data(), q.data(), p.size());
}

std::vector<double> logged_losses(const std::string& run) {
  std::vector<double> out;
  std::ifstream f(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("type") == "train") out.push_back(j.at("loss").get<double>());
  }
  return out;
}

class Distributed : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mpirun())
      GTEST_SKIP() << "mpirun (openmpi-bin) is not installed: data-parallel test skipped";
    dir = test::temp_dir();
    std::ofstream(dir + "/config.json") << kConfig;
    auto r = test::run_ponder(
        "data sudoku --generate 64 --clues 40 --test-size 0 --num-aug 1 "
        "--seed 1 --out " +
        dir + "/data");
    ASSERT_EQ(r.status, 0) << r.output;
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  std::string train(const std::string& out, const std::string& extra) {
    return "train " + dir + "/config.json --data " + dir + "/data --out " + dir + "/" + out +
           " --eval-examples 0 --no-progress " + extra;
  }
  // Weights (the live ones and the EMA) and the puzzle table of two runs' checkpoints.
  void expect_same_parameters(const std::string& a, const std::string& b) {
    const std::string x = dir + "/" + a + "/checkpoint.safetensors",
                      y = dir + "/" + b + "/checkpoint.safetensors";
    SafetensorsReader in(x);
    int compared = 0;
    for (const TensorInfo& t : in.tensors()) {
      if (t.dtype != DType::F32 || t.name.rfind("carry.", 0) == 0 ||
          t.name.rfind("optimizer.", 0) == 0)
        continue;
      EXPECT_LT(relative_difference(x, y, t.name), 1e-6) << t.name;
      ++compared;
    }
    EXPECT_GT(compared, 5);
  }
  std::string dir;
};

TEST_F(Distributed, two_ranks_end_where_one_process_with_the_same_global_batch_ends) {
  auto one = test::run_ponder(train("one", "--max-steps 20"), "OMP_NUM_THREADS=2");
  ASSERT_EQ(one.status, 0) << one.output;
  auto two = test::run_ponder(train("two", "--max-steps 20"), mpirun(2));
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_NE(two.output.find("data-parallel over 2 processes"), std::string::npos) << two.output;
  expect_same_parameters("one", "two");
  // The weights moved ~50× the tolerance, so the comparison above resolved the updates.
  const std::string init = dir + "/init.safetensors";
  const auto meta = nlohmann::json::parse(std::ifstream(dir + "/data/train/dataset.json"));
  auto made = test::run_ponder(
      "init " + dir + "/config.json vocab_size=11 seq_len=81 " + "num_puzzle_identifiers=" +
      std::to_string(meta.at("num_puzzle_identifiers").get<int>()) + " --seed 5 --out " + init);
  ASSERT_EQ(made.status, 0) << made.output;
  EXPECT_GT(relative_difference(init, dir + "/one/checkpoint.safetensors", "lm_head.weight"), 3e-5);
  // Rank 0 logs the loss of the whole global batch.
  const std::vector<double> a = logged_losses(dir + "/one"), b = logged_losses(dir + "/two");
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), 20u);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(b[i], a[i], 1e-6 * std::abs(a[i])) << "step " << i + 1;
}

TEST_F(Distributed, a_run_of_two_ranks_resumes_in_one_process) {
  auto one = test::run_ponder(train("one", "--max-steps 20"), "OMP_NUM_THREADS=2");
  ASSERT_EQ(one.status, 0) << one.output;
  auto first = test::run_ponder(train("split", "--max-steps 10"), mpirun(2));
  ASSERT_EQ(first.status, 0) << first.output;
  auto rest = test::run_ponder(train("split", "--max-steps 20 --resume"), "OMP_NUM_THREADS=2");
  ASSERT_EQ(rest.status, 0) << rest.output;
  expect_same_parameters("one", "split");
}

TEST_F(Distributed, a_global_batch_that_does_not_split_evenly_is_refused_on_every_rank) {
  auto r = test::run_ponder(train("odd", "global_batch_size=15 --max-steps 2"), mpirun(2));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("global_batch_size 15 cannot be split evenly across the 2 processes"),
            std::string::npos)
      << r.output;
}

TEST(Launch, torchrun_variables_without_an_mpi_launcher_are_refused_with_the_command_to_use) {
  const std::string dir = test::temp_dir();
  auto d = test::run_ponder("data sudoku --generate 16 --clues 40 --test-size 0 --seed 1 --out " +
                            dir + "/data");
  ASSERT_EQ(d.status, 0) << d.output;
  auto r = test::run_ponder("train sudoku-cpu --data " + dir + "/data --out " + dir + "/run",
                            "WORLD_SIZE=4 RANK=0");
  fs::remove_all(dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("start it with `mpirun -np 4 ponder train"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace ponder
