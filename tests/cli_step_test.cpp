// `ponder init` and `ponder step` through the real binary: a valid run, and bad input of every
// kind rejected with a non-zero exit and a message naming the file and the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/host_tensor.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace ponder {
namespace {

class CliStep : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::temp_dir();
    std::ofstream(dir + "/cfg.json") << R"({"arch": {"name": "trm", "hidden_size": 16, "num_heads": 2,
        "expansion": 1, "H_cycles": 2, "L_cycles": 2, "puzzle_emb_len": 2},
        "vocab_size": 6, "seq_len": 4, "num_puzzle_identifiers": 3})";
    auto r = test::run_ponder("init " + dir + "/cfg.json --out " + dir + "/m.safetensors --seed 1");
    ASSERT_EQ(r.status, 0) << r.output;
    batch = good_batch();
    write_tensors(dir + "/b.safetensors", batch);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  TensorMap good_batch() {
    TensorMap t;
    int32_t inputs[8] = {1, 2, 3, 4, 5, 0, 1, 2}, labels[8] = {1, 2, -100, 4, 5, 5, 1, 2},
            ids[2] = {2, 0};
    t["inputs"] = HostTensor::i32({2, 4}, inputs);
    t["labels"] = HostTensor::i32({2, 4}, labels);
    t["puzzle_identifiers"] = HostTensor::i32({2}, ids);
    return t;
  }

  // Runs `step` on a batch variant and expects failure mentioning each needle.
  void expect_rejected(const TensorMap& b, std::initializer_list<std::string> needles,
                       const std::string& model = "") {
    write_tensors(dir + "/bad.safetensors", b);
    auto r = test::run_ponder("step --model " + (model.empty() ? dir + "/m.safetensors" : model) +
                              " --batch " + dir + "/bad.safetensors --out " + dir + "/o.safetensors");
    EXPECT_NE(r.status, 0) << r.output;
    for (const auto& n : needles) EXPECT_NE(r.output.find(n), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
  }

  std::string dir;
  TensorMap batch;
};

TEST_F(CliStep, step_writes_outputs_carry_and_gradients) {
  auto r = test::run_ponder("step --model " + dir + "/m.safetensors --batch " + dir +
                            "/b.safetensors --out " + dir + "/o.safetensors --optimizer-steps 2");
  ASSERT_EQ(r.status, 0) << r.output;
  SafetensorsReader out(dir + "/o.safetensors");
  EXPECT_EQ(out.info("logits").shape, (Shape{2, 4, 6}));
  EXPECT_EQ(out.info("z_H").shape, (Shape{2, 6, 16}));
  EXPECT_EQ(out.info("loss").shape, Shape{});
  EXPECT_EQ(out.info("grad.puzzle_emb.rows").shape, (Shape{2, 16}));
  EXPECT_TRUE(out.has("grad.L_level.layers.1.self_attn.qkv_proj.weight"));
  EXPECT_TRUE(out.has("param.puzzle_emb.weights"));
  EXPECT_EQ(out.read_i32("steps", {2})[0], 1);

  auto e = test::run_ponder("step --eval --chain 3 --model " + dir + "/m.safetensors --batch " +
                            dir + "/b.safetensors --out " + dir + "/e.safetensors");
  ASSERT_EQ(e.status, 0) << e.output;
  SafetensorsReader ev(dir + "/e.safetensors");
  EXPECT_EQ(ev.read_i32("steps", {2})[1], 3);
  EXPECT_FALSE(ev.has("grad.lm_head.weight"));
}

TEST_F(CliStep, malformed_batches_are_rejected_with_file_and_problem) {
  const std::string bad = dir + "/bad.safetensors";
  TensorMap b = good_batch();
  int32_t wide[10] = {};
  b["inputs"] = HostTensor::i32({2, 5}, wide);
  expect_rejected(b, {bad, "'inputs' has shape [2, 5], expected [B, 4]"});

  b = good_batch();
  float f[8] = {};
  b["inputs"] = HostTensor::f32({2, 4}, f);
  expect_rejected(b, {bad, "'inputs' has dtype F32, expected I32"});

  b = good_batch();
  b["extra"] = HostTensor::scalar(1.0f);
  expect_rejected(b, {bad, "unknown tensor 'extra'"});

  b = good_batch();
  b.erase("labels");
  expect_rejected(b, {bad, "missing tensor 'labels'"});

  b = good_batch();
  int32_t out_of_vocab[8] = {1, 2, 3, 9, 1, 1, 1, 1};
  b["inputs"] = HostTensor::i32({2, 4}, out_of_vocab);
  expect_rejected(b, {bad, "inputs[0, 3] = 9 is outside the vocabulary [0, 6)"});

  b = good_batch();
  int32_t bad_label[8] = {1, 2, -7, 4, 5, 5, 1, 2};
  b["labels"] = HostTensor::i32({2, 4}, bad_label);
  expect_rejected(b, {bad, "labels[0, 2] = -7"});

  b = good_batch();
  int32_t bad_ids[2] = {0, 3};
  b["puzzle_identifiers"] = HostTensor::i32({2}, bad_ids);
  expect_rejected(b, {bad, "puzzle_identifiers[1] = 3 is outside [0, 3)"});

  b = good_batch();
  std::vector<float> z(2 * 6 * 16, 0.0f);
  b["z_H"] = HostTensor::f32({2, 6, 16}, z.data());
  expect_rejected(b, {bad, "come together", "'z_L' is missing"});

  b["z_L"] = HostTensor::f32({2, 6, 16}, z.data());
  int32_t steps[2] = {1, 2};
  uint8_t halted[2] = {0, 2};
  b["steps"] = HostTensor::i32({2}, steps);
  b["halted"] = HostTensor::u8({2}, halted);
  expect_rejected(b, {bad, "halted[1] = 2 is not 0 or 1"});

  b["z_L"] = HostTensor::f32({2, 5, 16}, z.data());
  expect_rejected(b, {bad, "'z_L' has shape [2, 5, 16], expected [2, 6, 16]"});
}

TEST_F(CliStep, malformed_models_are_rejected_with_file_and_problem) {
  const std::string model = dir + "/m.safetensors";
  // Truncated: cut the file in half.
  const auto size = std::filesystem::file_size(model);
  std::filesystem::copy_file(model, dir + "/cut.safetensors");
  std::filesystem::resize_file(dir + "/cut.safetensors", size / 2);
  expect_rejected(good_batch(), {dir + "/cut.safetensors", "truncated"}, dir + "/cut.safetensors");

  // No config in the metadata.
  float w = 0;
  TensorMap t;
  t["lm_head.weight"] = HostTensor::f32({1}, &w);
  write_tensors(dir + "/noconf.safetensors", t);
  expect_rejected(good_batch(), {dir + "/noconf.safetensors", "no \"config\""},
                  dir + "/noconf.safetensors");

  // A weight of the wrong shape, and a tensor the model does not have.
  SafetensorsReader in(model);
  TensorMap all;
  for (const TensorInfo& ti : in.tensors()) {
    HostTensor h;
    h.dtype = ti.dtype;
    h.shape = ti.shape;
    h.bytes.resize(ti.end - ti.begin);
    in.read_raw(ti, h.bytes.data());
    all[ti.name] = h;
  }
  TensorMap wrong = all;
  std::vector<float> big(7 * 16, 0.0f);
  wrong["lm_head.weight"] = HostTensor::f32({7, 16}, big.data());
  write_tensors(dir + "/shape.safetensors", wrong, in.metadata());
  expect_rejected(good_batch(), {dir + "/shape.safetensors", "'lm_head.weight' has shape [7, 16], expected [6, 16]"},
                  dir + "/shape.safetensors");
  TensorMap extra = all;
  extra["L_level.layers.2.mlp.down_proj.weight"] = HostTensor::scalar(0.0f);
  write_tensors(dir + "/extra.safetensors", extra, in.metadata());
  expect_rejected(good_batch(), {dir + "/extra.safetensors", "unknown tensor 'L_level.layers.2.mlp.down_proj.weight'"},
                  dir + "/extra.safetensors");
  // A config with an unknown field.
  auto meta = in.metadata();
  meta["config"] = meta["config"].substr(0, meta["config"].rfind('}')) + ", \"lerning_rate\": 1}";
  write_tensors(dir + "/conf.safetensors", all, meta);
  expect_rejected(good_batch(), {dir + "/conf.safetensors", "unknown field 'lerning_rate'"},
                  dir + "/conf.safetensors");
}

TEST_F(CliStep, init_refuses_to_overwrite_and_rejects_bad_overrides) {
  auto r = test::run_ponder("init " + dir + "/cfg.json --out " + dir + "/m.safetensors");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("exists; pass --force"), std::string::npos) << r.output;
  r = test::run_ponder("init " + dir + "/cfg.json arch.hidden_size=15 --out " + dir + "/n.safetensors");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("num_heads: must divide hidden_size"), std::string::npos) << r.output;
  r = test::run_ponder("step --model " + dir + "/m.safetensors --batch " + dir +
                       "/b.safetensors --out " + dir + "/o.safetensors --eval --optimizer-steps 1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("exclude each other"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ponder
