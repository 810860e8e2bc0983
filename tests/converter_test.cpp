// tools/convert_checkpoint.py moves weights both ways: a ponder model file becomes a PyTorch state
// dict with the reference's key prefix (and all_config.yaml), and comes back tensor for tensor.
// Skipped when python3-torch or python3-yaml is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "test_util.h"

namespace ponder {
namespace {

TEST(Converter, ponder_to_pytorch_and_back_keeps_every_tensor) {
  if (std::system("/usr/bin/python3 -c 'import torch, yaml' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-torch or python3-yaml not installed";
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/cfg.json") << R"({"arch": {"name": "hrm", "hidden_size": 16, "num_heads": 2,
      "H_layers": 1, "L_layers": 1, "pos_encodings": "learned"},
      "vocab_size": 6, "seq_len": 9, "num_puzzle_identifiers": 4})";
  ASSERT_EQ(test::run_ponder("init " + dir + "/cfg.json --out " + dir + "/m.safetensors").status, 0);
  const std::string tool = "/usr/bin/python3 " + test::source_path("tools/convert_checkpoint.py");
  ASSERT_EQ(std::system((tool + " to-pytorch " + dir + "/m.safetensors " + dir + "/step_0 >/dev/null").c_str()), 0);
  ASSERT_TRUE(std::filesystem::exists(dir + "/all_config.yaml"));
  // The state dict carries the compiled-model prefix the references write.
  ASSERT_EQ(std::system(("/usr/bin/python3 -c \"import torch, sys; sd = torch.load('" + dir +
                         "/step_0'); sys.exit(0 if '_orig_mod.model.inner.H_level.layers.0.mlp.down_proj.weight' in sd "
                         "and sd['_orig_mod.model.inner.H_init'].dtype == torch.bfloat16 else 1)\"").c_str()),
            0);
  // Back, with seq_len read from the learned positions.
  ASSERT_EQ(std::system((tool + " to-ponder " + dir + "/step_0 " + dir + "/back.safetensors >/dev/null").c_str()), 0);
  SafetensorsReader a(dir + "/m.safetensors"), b(dir + "/back.safetensors");
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const TensorInfo& t : a.tensors()) {
    const TensorInfo& u = b.info(t.name);
    EXPECT_EQ(t.dtype, u.dtype) << t.name;
    std::vector<uint8_t> x(t.end - t.begin), y(u.end - u.begin);
    a.read_raw(t, x.data());
    b.read_raw(u, y.data());
    EXPECT_TRUE(x == y) << t.name;
  }
  // And the result is a valid ponder model.
  auto r = test::run_ponder("inspect " + dir + "/back.safetensors");
  EXPECT_EQ(r.status, 0) << r.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ponder
