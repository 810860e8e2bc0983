// Early halting at inference: the rules parse and fail clearly, the fixed rule is the reference's
// evaluation, and continuous batching changes the cost but not the per-puzzle outcome.
#include <gtest/gtest.h>

#include "data/sudoku_dataset.h"
#include "eval/evaluate.h"
#include "eval/halting.h"
#include "ops/ops.h"
#include "test_util.h"
#include "train/run_config.h"

namespace ponder {
namespace {

TEST(Halting, rules_parse_and_bad_ones_say_what_is_expected) {
  EXPECT_EQ(parse_halt_rule("fixed").kind, HaltRule::Fixed);
  EXPECT_EQ(parse_halt_rule("q").kind, HaltRule::Q);
  EXPECT_EQ(parse_halt_rule("verify").kind, HaltRule::Verify);
  const HaltRule s = parse_halt_rule("stable:3");
  EXPECT_EQ(s.kind, HaltRule::Stable);
  EXPECT_EQ(s.stable_steps, 3);
  EXPECT_EQ(s.name(), "stable:3");
  EXPECT_NE(test::error_of([] { parse_halt_rule("stable:1"); }).find("K must be ≥ 2"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { parse_halt_rule("stable:x"); }).find("expected stable:K"),
            std::string::npos);
  EXPECT_NE(test::error_of([] {
              parse_halt_rule("sometimes");
            }).find("expected fixed, q, stable:K or verify"),
            std::string::npos);
}

TEST(Halting, sudoku_verifier_accepts_solutions_and_rejects_the_rest) {
  const ModelConfig c =
      parse_run_config(R"({"arch": {"name": "trm"}, "vocab_size": 11, "seq_len": 81,
                                             "num_puzzle_identifiers": 1})",
                       "test")
          .model;
  const Verifier v = task_verifier(c);
  ASSERT_TRUE(v);
  SudokuGrid q, a;
  ASSERT_EQ(
      sudoku_parse(
          "004300209005009001070060043006002087190007400050083000600000105003508690042910300", &q),
      "");
  ASSERT_EQ(
      sudoku_parse(
          "864371259325849761971265843436192587198657432257483916689734125713528694542916378", &a),
      "");
  auto tok = [](const SudokuGrid& g) {
    const auto t = sudoku_tokens(g);
    return std::vector<int32_t>(t.begin(), t.end());
  };
  EXPECT_TRUE(v(tok(q).data(), tok(a).data()));
  SudokuGrid wrong = a;
  std::swap(wrong[0], wrong[1]);
  EXPECT_FALSE(v(tok(q).data(), tok(wrong).data()));
}

class HaltingModel : public ::testing::Test {
 protected:
  void SetUp() override {
    c = parse_run_config(
            R"({"arch": {"name": "trm", "hidden_size": 32, "num_heads": 2, "expansion": 2,
                           "H_cycles": 1, "L_cycles": 2, "L_layers": 1, "mlp_t": true,
                           "pos_encodings": "none", "puzzle_emb_ndim": 32, "puzzle_emb_len": 2,
                           "halt_max_steps": 6},
                           "vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 1})",
            "test")
            .model;
    ops = make_cpu_ops();
    m = std::make_unique<Model>(*ops, c);
    m->init_weights(3);
    // A q head that varies across puzzles, so rows stop at different steps.
    const ParamInfo* qw = m->layout().find("q_head.weight");
    test::randn(m->params() + qw->offset, qw->numel, 0.5, 4);
    m->params_changed();
    std::vector<SudokuExample> puzzles(40);
    const RandomStream rng(1, 2);
    for (size_t i = 0; i < puzzles.size(); ++i) puzzles[i] = sudoku_generate(rng, i, 45);
    data = build_sudoku_split(puzzles, 0, 0);
  }
  ModelConfig c;
  std::unique_ptr<Ops> ops;
  std::unique_ptr<Model> m;
  DatasetSplit data;
};

TEST_F(HaltingModel, the_fixed_rule_is_the_reference_evaluation_and_q_is_act_halting) {
  EvalOptions eo;
  eo.batch_size = 16;
  const EvalResult ref = evaluate(*m, data, eo);
  HaltOptions ho;
  ho.batch_size = 16;
  const HaltResult fixed = infer_with_halting(*m, data, parse_halt_rule("fixed"), {}, ho);
  EXPECT_EQ(fixed.count, 40);
  EXPECT_DOUBLE_EQ(fixed.mean_steps, 6.0);
  EXPECT_NEAR(fixed.token_accuracy, ref.fixed.token_accuracy, 1e-9);
  EXPECT_NEAR(fixed.exact_accuracy, ref.fixed.exact_accuracy, 1e-9);
  const HaltResult q = infer_with_halting(*m, data, parse_halt_rule("q"), {}, ho);
  EXPECT_NEAR(q.mean_steps, ref.act.mean_steps, 0.05);
  EXPECT_NEAR(q.token_accuracy, ref.act.token_accuracy, 1e-3);
  EXPECT_LT(q.mean_steps, 6.0);  // the varied q head stops some puzzles early
  EXPECT_GT(q.mean_steps, 1.0);
}

TEST_F(HaltingModel, continuous_batching_saves_steps_without_changing_outcomes) {
  for (const char* rule : {"q", "stable:2"}) {
    HaltOptions ho;
    ho.batch_size = 8;
    const HaltResult cont = infer_with_halting(*m, data, parse_halt_rule(rule), {}, ho);
    ho.continuous = false;
    const HaltResult stat = infer_with_halting(*m, data, parse_halt_rule(rule), {}, ho);
    EXPECT_EQ(cont.count, 40) << rule;
    EXPECT_EQ(stat.count, 40) << rule;
    EXPECT_NEAR(cont.mean_steps, stat.mean_steps, 0.05) << rule;
    EXPECT_NEAR(cont.token_accuracy, stat.token_accuracy, 1e-3) << rule;
    // Rows run while any puzzle is unfinished: refilling them at once never costs more.
    EXPECT_LE(cont.supervision_steps, stat.supervision_steps) << rule;
    EXPECT_GE(double(cont.supervision_steps), cont.mean_steps * 40) << rule;
  }
}

}  // namespace
}  // namespace ponder
