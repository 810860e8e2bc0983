// The engine against committed PyTorch fixtures (tools/reference/make_fixtures.py, computed in
// float64): for each case a model, a batch (with or without a carry) and the reference outputs.
// `<cfg>_fresh` and `<cfg>_carry` run a training step plus 3 optimizer steps; `<cfg>_eval16`
// chains 16 evaluation steps and must give the same prediction in every cell.
#include <gtest/gtest.h>

#include <filesystem>

#include "ops/ops.h"
#include "parity.h"
#include "test_util.h"
#include "train/model_file.h"
#include "train/single_step.h"

namespace ponder {
namespace {

std::vector<std::string> fixture_cases() {
  std::vector<std::string> cases;
  const std::string root = test::source_path("tests/fixtures");
  if (!std::filesystem::exists(root)) return cases;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory() && std::filesystem::exists(e.path() / "expected.safetensors"))
      cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());
  return cases;
}

class Fixture : public ::testing::TestWithParam<std::string> {};

TEST_P(Fixture, step_matches_pytorch) {
  const std::string dir = test::source_path("tests/fixtures/" + GetParam());
  auto ops = make_cpu_ops();
  LoadedModel lm = load_model_file(*ops, dir + "/model.safetensors");
  StepInput in = read_step_input(dir + "/batch.safetensors", lm.config.model);
  SingleStepOptions o;
  const bool eval = GetParam().find("_eval") != std::string::npos;
  if (eval) {
    o.eval = true;
    o.chain = 16;
  } else {
    o.optimizer_steps = 3;
  }
  TensorMap got = run_single_step(*lm.model, lm.config.train, in, o);
  SafetensorsReader expected(dir + "/expected.safetensors");
  test::expect_parity(GetParam(), got, expected, test::ParityTolerance{});
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Fixture, ::testing::ValuesIn(fixture_cases()),
                         [](const auto& info) { return info.param; });

TEST(Fixtures, are_present) {
  // Without fixtures the parameterised test above would silently run nothing.
  EXPECT_GE(fixture_cases().size(), 10u);
}

}  // namespace
}  // namespace ponder
