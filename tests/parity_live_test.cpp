// Live parity with PyTorch on the standard D = 512 configurations (TRM-MLP Sudoku, TRM-Att
// Sudoku, TRM-Att 30×30 with n = 4, HRM Sudoku): ponder and tools/reference/step.py run the same
// model file and batch and their outputs are compared.
// - A training step plus optimizer steps (3 on Sudoku, 1 on 30×30), against the reference in
//   float64: outputs and gradients within 1e-4, parameters within 1e-5. AdamATan2's first step and
//   SignSGD move every element by ±lr whatever its gradient's size, so among millions of
//   parameters a few near-zero gradients get the other sign from float32 rounding alone; each such
//   element then differs by 2·lr. The learning rates are 1e-6 here so that these flips stay far
//   below the tolerance while the update itself (~1e-6 per element) is still checked to ~4%. The
//   committed fixtures check the optimizers at lr 1e-3 on seeds whose gradients have margins.
// - 16 chained evaluation steps against the reference in float32: at least 99.9% of the
//   predicted cells agree.
// The models get the §3.8 initialisation with the residual-branch output projections scaled by
// 0.15 (as in the committed fixtures): at the plain initialisation the 16-step recursion is
// chaotic, and any two float32 engines decorrelate. Skipped, with a message, when PyTorch is not
// installed (Debian's python3-torch; `make test` installs it unless PONDER_SKIP_TORCH=1).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/rng.h"
#include "ops/ops.h"
#include "parity.h"
#include "test_util.h"
#include "train/model_file.h"
#include "train/single_step.h"

namespace ponder {
namespace {

bool have_torch() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return ok;
}

struct LiveCase {
  const char* name;
  const char* arch;
  int vocab, seq_len;
  int64_t batch;
  int optimizer_steps;
};

void PrintTo(const LiveCase& c, std::ostream* os) { *os << c.name; }

const LiveCase kCases[] = {
    {"trm_mlp_sudoku", R"({"name": "trm", "mlp_t": true, "pos_encodings": "none"})", 11, 81, 2, 3},
    {"trm_att_sudoku", R"({"name": "trm"})", 11, 81, 2, 3},
    {"trm_att_30x30_n4", R"({"name": "trm", "L_cycles": 4})", 12, 900, 1, 1},
    {"hrm_sudoku", R"({"name": "hrm"})", 11, 81, 2, 3},
};

class Live : public ::testing::TestWithParam<LiveCase> {
 protected:
  void SetUp() override {
    if (!have_torch()) GTEST_SKIP() << "PyTorch (python3-torch) is not installed: live parity skipped";
    dir = test::temp_dir();
    const LiveCase& c = GetParam();
    config = parse_run_config(std::string("{\"arch\": ") + c.arch + ", \"vocab_size\": " +
                                  std::to_string(c.vocab) + ", \"seq_len\": " +
                                  std::to_string(c.seq_len) +
                                  R"(, "num_puzzle_identifiers": 3, "lr_warmup_steps": 0,
                                     "lr": 1e-6, "puzzle_emb_lr": 1e-6, "ema": true})",
                              c.name);
    auto ops = make_cpu_ops();
    Model m(*ops, config.model);
    m.init_weights(11);
    // A little signal in the zero-initialised q_head weight and puzzle table; the q logits stay
    // near −5, far from any halting threshold.
    const ParamInfo* qw = m.layout().find("q_head.weight");
    fill_truncated_normal(m.params() + qw->offset, qw->numel, 0.01, RandomStream(12, 0));
    fill_truncated_normal(m.puzzle_table(), m.puzzle_table_size(), 0.1, RandomStream(13, 0));
    for (const ParamInfo& p : m.layout().params()) {
      const std::string& n = p.name;
      if (n.find("o_proj") != std::string::npos || n.find("down_proj") != std::string::npos)
        for (size_t i = 0; i < p.numel; ++i) m.params()[p.offset + i] *= 0.15f;
    }
    save_model_file(m, config, dir + "/model.safetensors");

    const int64_t B = c.batch, L = c.seq_len;
    std::vector<int32_t> inputs(static_cast<size_t>(B * L)), labels(inputs.size()), ids(static_cast<size_t>(B));
    RandomStream rng(14, 0);
    for (int64_t i = 0; i < B * L; ++i) {
      inputs[size_t(i)] = int32_t(rng.integer(uint64_t(2 * i), 1, c.vocab - 1));
      labels[size_t(i)] = i % 17 == 3 ? -100 : int32_t(rng.integer(uint64_t(2 * i + 1), 1, c.vocab - 1));
    }
    for (int64_t b = 0; b < B; ++b) ids[size_t(b)] = int32_t(b % 3);
    TensorMap batch;
    batch["inputs"] = HostTensor::i32({B, L}, inputs.data());
    batch["labels"] = HostTensor::i32({B, L}, labels.data());
    batch["puzzle_identifiers"] = HostTensor::i32({B}, ids.data());
    write_tensors(dir + "/batch.safetensors", batch);
  }
  void TearDown() override {
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  void compare(const std::string& flags, const SingleStepOptions& o, const test::ParityTolerance& tol,
               MatmulPrecision precision = MatmulPrecision::F32) {
    const char* threads = std::getenv("OMP_NUM_THREADS");
    // Debian's OpenBLAS mistakes these CPUs for "Prescott" and runs 4× slower unless told.
    const std::string blas = __builtin_cpu_supports("avx512f") ? "OPENBLAS_CORETYPE=SkylakeX " : "";
    const std::string cmd = blas + "/usr/bin/python3 " + test::source_path("tools/reference/step.py") +
                            " --model " + dir + "/model.safetensors --batch " + dir +
                            "/batch.safetensors --out " + dir + "/ref.safetensors" +
                            " --threads " + (threads ? threads : "2") + " " + flags;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto ops = make_cpu_ops(precision);
    LoadedModel lm = load_model_file(*ops, dir + "/model.safetensors");
    StepInput in = read_step_input(dir + "/batch.safetensors", lm.config.model);
    TensorMap got = run_single_step(*lm.model, lm.config.train, in, o);
    SafetensorsReader ref(dir + "/ref.safetensors");
    test::expect_parity(std::string(GetParam().name) + " " + flags, got, ref, tol);
  }

  std::string dir;
  RunConfig config;
};

TEST_P(Live, training_step_and_optimizer_steps_match_pytorch) {
  SingleStepOptions o;
  o.optimizer_steps = GetParam().optimizer_steps;
  compare("--dtype float64 --optimizer-steps " + std::to_string(o.optimizer_steps), o,
          test::ParityTolerance{});
}

TEST_P(Live, sixteen_evaluation_steps_predict_what_pytorch_predicts) {
  SingleStepOptions o;
  o.eval = true;
  o.chain = 16;
  test::ParityTolerance tol;
  tol.outputs = 1e-2;  // two fp32 engines drift apart over 16 chained recursions
  tol.pred_agreement = 0.999;
  compare("--dtype float32 --eval --chain 16", o, tol);
}

// ponder's bf16 GEMMs (bf16 operands, fp32 elsewhere) against the reference's own mixed precision
// (bf16 activations throughout). The two round in different places, so the tolerance is bf16's:
// the worst tensors (puzzle-row and embedding gradients, sums with cancellation) differ by up to
// ~8%, as much as fp32 ponder differs from the bf16 reference; the rest by ~1%. Exact bf16
// semantics of every GEMM are checked in gemm_test.cpp. Predictions of an untrained model are
// near-ties, and which of them flip depends on the CPU's bf16 kernels: on a CPU without AMX
// (AVX512-BF16 only) 4 of TRM-Att's 162 cells differ (97.5%); a broken model agrees on ~10%.
TEST_P(Live, training_step_with_bf16_matmuls_matches_pytorch_bf16) {
  SingleStepOptions o;
  test::ParityTolerance tol;
  tol.outputs = 0.1;
  tol.pred_agreement = 0.95;
  compare("--dtype bfloat16", o, tol, MatmulPrecision::BF16);
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Live, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ponder
