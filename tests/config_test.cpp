// Run configurations: the reference's defaults and parameter counts, strict validation with
// messages naming the field, key=value overrides, and a JSON round trip.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/params.h"
#include "train/run_config.h"

namespace ponder {
namespace {

const char* kData = R"("vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 1)";

RunConfig parse(const std::string& arch, const std::string& extra = "") {
  return parse_run_config(std::string("{\"arch\": ") + arch + ", " + kData + extra + "}", "cfg");
}

std::string error_of(const std::string& json) {
  try {
    parse_run_config(json, "cfg");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, trm_defaults_are_the_reference_yaml) {
  RunConfig c = parse(R"({"name": "trm"})");
  EXPECT_EQ(c.model.hidden_size, 512);
  EXPECT_EQ(c.model.H_cycles, 3);
  EXPECT_EQ(c.model.L_cycles, 6);
  EXPECT_EQ(c.model.L_layers, 2);
  EXPECT_EQ(c.model.puzzle_emb_ndim, 512);
  EXPECT_EQ(c.model.prefix_len(), 16);
  EXPECT_EQ(c.model.seq_total(), 97);
  EXPECT_EQ(c.model.mlp_inter(), 1536);
  EXPECT_TRUE(c.model.no_ACT_continue);
  EXPECT_FALSE(c.model.act_continue());
  EXPECT_EQ(c.train.lr, 1e-4);
  EXPECT_EQ(c.train.lr_warmup_steps, 2000);
  EXPECT_EQ(c.train.beta2, 0.95);
  EXPECT_EQ(c.train.puzzle_emb_lr, 1e-2);
  EXPECT_FALSE(c.train.global_batch_size.has_value());
}

TEST(Config, hrm_defaults_are_the_reference_yaml) {
  RunConfig c = parse(R"({"name": "hrm"})");
  EXPECT_EQ(c.model.H_cycles, 2);
  EXPECT_EQ(c.model.L_cycles, 2);
  EXPECT_EQ(c.model.H_layers, 4);
  EXPECT_EQ(c.model.L_layers, 4);
  EXPECT_EQ(c.model.prefix_len(), 1);
  EXPECT_EQ(c.model.seq_total(), 82);
  EXPECT_TRUE(c.model.act_continue());
}

TEST(Config, parameter_counts_match_the_reference) {
  auto count = [](const std::string& arch, int V, int L) {
    RunConfig c = parse_run_config("{\"arch\": " + arch + ", \"vocab_size\": " + std::to_string(V) +
                                       ", \"seq_len\": " + std::to_string(L) +
                                       ", \"num_puzzle_identifiers\": 1}",
                                   "cfg");
    return ParamLayout(c.model).count();
  };
  EXPECT_EQ(count(R"({"name": "trm"})", 11, 81), 6828034u);  // TRM-Att Sudoku
  EXPECT_EQ(count(R"({"name": "trm"})", 12, 900), 6829058u);  // TRM-Att ARC
  EXPECT_EQ(count(R"({"name": "trm", "mlp_t": true, "pos_encodings": "none"})", 11, 81), 5028866u);
  EXPECT_EQ(count(R"({"name": "hrm"})", 11, 81), 27275266u);
  EXPECT_EQ(count(R"({"name": "hrm"})", 12, 900), 27276290u);
  // MLP-t at 916 tokens: SwiGLU width 2560 over the sequence
  RunConfig arc = parse_run_config(
      R"({"arch": {"name": "trm", "mlp_t": true, "pos_encodings": "none"}, "vocab_size": 12,
          "seq_len": 900, "num_puzzle_identifiers": 1})", "cfg");
  EXPECT_EQ(arc.model.mlp_t_inter(), 2560);
  EXPECT_EQ(swiglu_inter(4, 97), 512);
}

TEST(Config, reference_module_names_are_accepted) {
  EXPECT_EQ(parse(R"({"name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
                      "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}})")
                .model.kind,
            ModelKind::TRM);
  EXPECT_EQ(parse(R"({"name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"})").model.kind,
            ModelKind::HRM);
}

TEST(Config, unknown_and_ill_typed_fields_are_errors_naming_the_field) {
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm", "hiden_size": 64}, )") + kData + "}")
                .find("cfg.arch: unknown field 'hiden_size'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm"}, "learning_rate": 1, )") + kData + "}")
                .find("cfg: unknown field 'learning_rate'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm", "hidden_size": "512"}, )") + kData + "}")
                .find("cfg.arch.hidden_size: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm", "mlp_t": 1}, )") + kData + "}")
                .find("cfg.arch.mlp_t: expected true or false"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "gpt"}, )") + kData + "}")
                .find("cfg.arch.name: expected \"trm\" or \"hrm\""),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm", "num_heads": 7}, )") + kData + "}")
                .find("num_heads: must divide hidden_size"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"arch": {"name": "trm"}, "vocab_size": 11})").find("seq_len: missing"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "hrm", "pos_encodings": "none"}, )") + kData + "}")
                .find("HRM needs"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm", "loss": {"loss_type": "mse"}}, )") + kData + "}")
                .find("cfg.arch.loss.loss_type"),
            std::string::npos);
  EXPECT_NE(error_of("{oops").find("cfg: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(std::string(R"({"arch": {"name": "trm"}, "lr": -1, )") + kData + "}")
                .find("cfg.lr: must not be negative"),
            std::string::npos);
}

TEST(Config, overrides_use_dotted_reference_names) {
  nlohmann::json j = nlohmann::json::parse(std::string(R"({"arch": {"name": "trm"}, )") + kData + "}");
  apply_override(j, "arch.L_cycles=4");
  apply_override(j, "lr=3e-4");
  apply_override(j, "ema=true");
  apply_override(j, "arch.pos_encodings=learned");
  RunConfig c = parse_run_config(j.dump(), "cfg");
  EXPECT_EQ(c.model.L_cycles, 4);
  EXPECT_EQ(c.train.lr, 3e-4);
  EXPECT_TRUE(c.train.ema);
  EXPECT_EQ(c.model.pos_encodings, PosEncoding::Learned);
  EXPECT_THROW(apply_override(j, "novalue"), Error);
  EXPECT_THROW(apply_override(j, "lr.x=1"), Error);
}

TEST(Config, json_round_trip_is_exact) {
  RunConfig c = parse(R"({"name": "trm", "hidden_size": 128, "L_cycles": 2, "mlp_t": true,
                          "pos_encodings": "none", "halt_exploration_prob": 0.25})",
                      R"(, "lr": 0.001, "global_batch_size": 64, "ema": true, "seed": 7)");
  RunConfig d = parse_run_config(run_config_json(c), "again");
  EXPECT_EQ(run_config_json(c), run_config_json(d));
  EXPECT_EQ(d.model.hidden_size, 128);
  EXPECT_EQ(*d.train.global_batch_size, 64);
  EXPECT_EQ(d.model.halt_exploration_prob, 0.25);
}

}  // namespace
}  // namespace ponder
