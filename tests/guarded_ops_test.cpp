// Model, training, evaluation and file code must reach device memory only through Ops: a GPU
// backend crashes on a host dereference that the CPU backend, whose device memory is host memory,
// lets pass. GuardedOps runs the CPU kernels on memory kept mprotect(PROT_NONE) except while one
// of its ops runs, so such a dereference segfaults here; and since the same kernels run, every
// path must give results bit-identical to the plain CPU backend's.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "data/sudoku_dataset.h"
#include "eval/evaluate.h"
#include "eval/halting.h"
#include "model/weights_io.h"
#include "ops/forwarding_ops.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/model_file.h"
#include "train/optimizer.h"
#include "train/single_step.h"
#include "train/trainer.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

class GuardedOps final : public ForwardingOps {
 public:
  GuardedOps() : ForwardingOps(make_cpu_ops()) {}
  ~GuardedOps() override {
    for (const auto& [p, n] : live_) munmap(p, n);
  }
  const char* name() const override { return "guarded-cpu"; }
  // host_memory() is false, as on a GPU: code must not take the host shortcut here.
  bool host_memory() const override { return false; }

  // Whole pages from mmap (zero-filled), so that no host data shares a page with device memory.
  void* alloc(size_t bytes) override {
    before("alloc");
    const size_t n = (std::max<size_t>(bytes, 1) + page_ - 1) / page_ * page_;
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    live_[p] = n;
    after("alloc");
    return p;
  }
  void free(void* p) override {
    before("free");
    const auto it = live_.find(p);
    if (it == live_.end()) std::abort();  // not ours: a double free or a foreign pointer
    munmap(p, it->second);
    live_.erase(it);
    after("free");
  }

 private:
  // Device memory is accessible only while one of the ops runs.
  void before(const char*) override { protect_all(PROT_READ | PROT_WRITE); }
  void after(const char*) override { protect_all(PROT_NONE); }
  // Runs of adjacent allocations (mmap tends to place them so) take one call each.
  void protect_all(int prot) {
    for (auto it = live_.begin(); it != live_.end();) {
      char* const begin = static_cast<char*>(it->first);
      char* end = begin;
      for (; it != live_.end() && it->first == end; ++it) end += it->second;
      if (mprotect(begin, size_t(end - begin), prot) != 0) std::abort();
    }
  }

  std::map<void*, size_t> live_;  // address → mapped bytes
  const size_t page_ = size_t(sysconf(_SC_PAGESIZE));
};

TEST(GuardedOpsDeathTest, device_memory_is_reachable_only_through_ops) {
  GuardedOps ops;
  DeviceArray<float> x(ops, 3000);
  std::vector<float> h(x.size(), 1.0f);
  x.download(h.data(), h.size());
  EXPECT_EQ(h, std::vector<float>(x.size(), 0.0f));
  for (size_t i = 0; i < h.size(); ++i) h[i] = float(i);
  x.upload(h.data(), h.size());
  std::vector<float> back(x.size());
  x.download(back.data(), back.size());
  EXPECT_EQ(back, h);
  // Without this, the tests below would prove nothing.
  EXPECT_DEATH(std::printf("%f\n", double(x.data()[2999])), "");
  EXPECT_DEATH(x.data()[0] = 1.0f, "");
}

// Bit-for-bit comparison of everything two runs leave on the host.
void expect_identical(const TensorMap& guarded, const TensorMap& plain) {
  ASSERT_GT(plain.size(), 0u);
  ASSERT_EQ(guarded.size(), plain.size());
  for (const auto& [name, t] : plain) {
    const auto it = guarded.find(name);
    ASSERT_NE(it, guarded.end()) << name;
    EXPECT_EQ(it->second.shape, t.shape) << name;
    EXPECT_TRUE(it->second.bytes == t.bytes) << name << " differs";
  }
}

HostTensor tensor(const std::vector<float>& v) {
  return HostTensor::f32({int64_t(v.size())}, v.data());
}
HostTensor tensor(double v) {
  return HostTensor::of(DType::F64, {}, &v);
}

// The model's weights and the optimizer's state, downloaded.
void put_state(TensorMap& out, Model& m, Optimizer& opt) {
  const HostWeights w = download_weights(m);
  out["params"] = tensor({w.params.begin(), w.params.end()});
  out["table"] = tensor({w.table.begin(), w.table.end()});
  out["H_init"] = tensor({w.H_init.begin(), w.H_init.end()});
  out["L_init"] = tensor({w.L_init.begin(), w.L_init.end()});
  const size_t n = m.layout().total();
  const std::pair<const char*, float*> buffers[] = {{"adam_m", opt.adam_m()},
                                                    {"adam_v", opt.adam_v()},
                                                    {"ema", opt.ema()},
                                                    {"grads", opt.grads()}};
  for (const auto& [name, p] : buffers) {
    std::vector<float> h(p ? n : 0);
    if (p) m.ops().download(h.data(), p, n * sizeof(float));
    out[name] = tensor(h);
  }
}

Batch make_batch(int64_t B, const ModelConfig& c) {
  Batch b;
  b.B = B;
  b.L = c.seq_len;
  for (int64_t i = 0; i < B * c.seq_len; ++i) {
    b.inputs.push_back(int32_t(1 + i * 7 % (c.vocab_size - 1)));
    b.labels.push_back(i % 5 == 0 ? -100 : int32_t(1 + i * 3 % (c.vocab_size - 1)));
  }
  for (int64_t r = 0; r < B; ++r) b.puzzle_ids.push_back(int32_t(r % c.num_puzzle_identifiers));
  return b;
}

// Tiny configs: halt_max_steps 2, so every row halts at step 2 and restarts at step 3; puzzle
// embeddings, so SignSGD runs; the EMA on.
const char* kTrain = R"("vocab_size": 7, "seq_len": 12, "num_puzzle_identifiers": 3, "lr": 1e-3,
    "lr_warmup_steps": 1, "ema": true, "ema_rate": 0.9, "seed": 5})";
std::string trm_attention() {
  return R"({"arch": {"name": "trm", "hidden_size": 16, "num_heads": 2, "expansion": 2,
      "H_cycles": 2, "L_cycles": 2, "L_layers": 1, "puzzle_emb_ndim": 16, "puzzle_emb_len": 2,
      "halt_max_steps": 2, "no_ACT_continue": false}, )" +
         std::string(kTrain);
}
std::string trm_mlp_t() {
  return R"({"arch": {"name": "trm", "hidden_size": 16, "num_heads": 2, "expansion": 2,
      "H_cycles": 2, "L_cycles": 1, "L_layers": 2, "mlp_t": true, "pos_encodings": "none",
      "puzzle_emb_ndim": 16, "puzzle_emb_len": 1, "halt_max_steps": 2}, )" +
         std::string(kTrain);
}
std::string hrm() {
  return R"({"arch": {"name": "hrm", "hidden_size": 16, "num_heads": 2, "expansion": 2,
      "H_cycles": 2, "L_cycles": 2, "H_layers": 1, "L_layers": 1, "pos_encodings": "learned",
      "puzzle_emb_ndim": 24, "halt_max_steps": 2}, )" +
         std::string(kTrain);
}

// Three training supervision steps (exploration on) with their optimizer steps: every output,
// then the final weights, optimizer state and carry.
TensorMap train_steps(Ops& ops, const std::string& config) {
  const RunConfig rc = parse_run_config(config, "test");
  Model m(ops, rc.model);
  m.init_weights(3);
  Optimizer opt(m, rc.train);
  const Batch batch = make_batch(4, rc.model);
  Carry carry = make_carry(m, batch.B);
  TensorMap out;
  for (int64_t step = 1; step <= 3; ++step) {
    StepOptions so;
    so.explore = true;
    so.seed = 9;
    so.step = uint64_t(step);
    so.grad_scale = 1.0 / double(batch.B);
    opt.zero_grad();
    const StepResult r = supervision_step(m, carry, batch, so, opt.grads());
    opt.update(step, 3, carry.data.puzzle_ids, r.dprefix.data());
    const std::string s = "step" + std::to_string(step) + ".";
    out[s + "logits"] = tensor({r.logits.begin(), r.logits.end()});
    out[s + "q_halt"] = tensor(r.q_halt);
    out[s + "q_continue"] = tensor(r.q_continue);
    out[s + "target_q_continue"] = tensor(r.target_q_continue);
    out[s + "dprefix"] = tensor({r.dprefix.begin(), r.dprefix.end()});
    out[s + "loss"] = tensor(r.loss.total);
  }
  put_state(out, m, opt);
  const HostCarry h = download_carry(carry);
  out["carry.z_H"] = tensor(h.zH);
  out["carry.z_L"] = tensor(h.zL);
  return out;
}

TEST(GuardedOps, training_steps_match_the_plain_backend) {
  for (const std::string& config : {trm_attention(), trm_mlp_t(), hrm()}) {
    SCOPED_TRACE(config);
    GuardedOps guarded;
    const auto plain = make_cpu_ops();
    expect_identical(train_steps(guarded, config), train_steps(*plain, config));
  }
}

// `ponder step`'s library half: evaluation chains and K optimizer steps from a given carry.
TensorMap single_steps(Ops& ops, const std::string& config) {
  const RunConfig rc = parse_run_config(config, "test");
  const ModelConfig& c = rc.model;
  Model m(ops, c);
  m.init_weights(4);
  StepInput in;
  in.batch = make_batch(3, c);
  in.has_carry = true;
  const size_t n = size_t(3 * c.seq_total() * c.hidden_size);
  in.zH = Array<float>(n);
  in.zL = Array<float>(n);
  test::randn(in.zH.data(), n, 1.0, 1);
  test::randn(in.zL.data(), n, 1.0, 2);
  in.steps = {0, 1, 0};
  in.halted = {1, 0, 0};
  SingleStepOptions eval;
  eval.eval = true;
  eval.chain = 2;
  TensorMap out;
  for (const auto& [name, t] : run_single_step(m, rc.train, in, eval)) out["eval." + name] = t;
  SingleStepOptions train;
  train.optimizer_steps = 2;
  for (const auto& [name, t] : run_single_step(m, rc.train, in, train)) out["train." + name] = t;
  return out;
}

TEST(GuardedOps, single_steps_match_the_plain_backend) {
  for (const std::string& config : {trm_attention(), hrm()}) {
    SCOPED_TRACE(config);
    GuardedOps guarded;
    const auto plain = make_cpu_ops();
    expect_identical(single_steps(guarded, config), single_steps(*plain, config));
  }
}

// A tiny Sudoku TRM (so the verify rule has a verifier) and a split of `n` puzzles.
std::string sudoku_config(bool mlp_t) {
  return std::string(R"({"arch": {"name": "trm", "hidden_size": 16, "num_heads": 2,
      "expansion": 2, "H_cycles": 1, "L_cycles": 2, "L_layers": 1, "mlp_t": )") +
         (mlp_t ? "true" : "false") +
         R"(, "puzzle_emb_ndim": 16, "puzzle_emb_len": 1, "halt_max_steps": 4},
      "vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 1, "global_batch_size": 4,
      "epochs": 4, "eval_interval": 2, "lr": 1e-3, "lr_warmup_steps": 2, "ema": true,
      "ema_rate": 0.9, "seed": 3})";
}
DatasetSplit sudoku_split(size_t n) {
  std::vector<SudokuExample> puzzles(n);
  const RandomStream rng(1, 2);
  for (size_t i = 0; i < n; ++i) puzzles[i] = sudoku_generate(rng, i, 45);
  return build_sudoku_split(puzzles, 0, 0);
}

// evaluate() and infer_with_halting() under every rule, continuous or not, with a padded last
// batch and a random q head without its −5 bias, so that rows stop at different steps.
nlohmann::json eval_outputs(Ops& ops, const DatasetSplit& data) {
  const RunConfig rc = parse_run_config(sudoku_config(true), "test");
  Model m(ops, rc.model);
  m.init_weights(3);
  const ParamInfo* qw = m.layout().find("q_head.weight");
  const ParamInfo* qb = m.layout().find("q_head.bias");
  const std::vector<float> q = test::randn(qw->numel, 0.5, 4), bias(qb->numel, 0.0f);
  ops.upload(m.params() + qw->offset, q.data(), q.size() * sizeof(float));
  ops.upload(m.params() + qb->offset, bias.data(), bias.size() * sizeof(float));
  m.params_changed();
  EvalOptions eo;
  eo.batch_size = 4;
  nlohmann::json out;
  eo.on_final = [&](const DataBatch&, const StepResult& s) {
    out["final_logits"].push_back(std::vector<float>(s.logits.begin(), s.logits.end()));
  };
  out["evaluate"] = evaluate(m, data, eo).to_json();
  out["evaluate"].erase("seconds");
  for (const char* rule : {"fixed", "q", "stable:2", "verify"})
    for (bool continuous : {true, false}) {
      HaltOptions ho;
      ho.batch_size = 4;
      ho.continuous = continuous;
      nlohmann::json h =
          infer_with_halting(m, data, parse_halt_rule(rule), task_verifier(m.config()), ho)
              .to_json();
      h.erase("seconds");
      h.erase("puzzles_per_second");
      out["halting"].push_back(h);
    }
  return out;
}

TEST(GuardedOps, evaluation_and_halting_match_the_plain_backend) {
  const DatasetSplit data = sudoku_split(6);
  GuardedOps guarded;
  const auto plain = make_cpu_ops();
  const nlohmann::json g = eval_outputs(guarded, data), p = eval_outputs(*plain, data);
  EXPECT_EQ(g.dump(), p.dump());
  EXPECT_GT(p["halting"][2]["mean_steps"].get<double>(), 1.0);  // the q rule stops rows at
  EXPECT_LT(p["halting"][2]["mean_steps"].get<double>(), 4.0);  // different steps
}

// Two training steps, then a checkpoint and a model file from `ops`.
void save_files(Ops& ops, const std::string& config, const std::string& prefix) {
  const RunConfig rc = parse_run_config(config, "test");
  Model m(ops, rc.model);
  m.init_weights(3);
  Optimizer opt(m, rc.train);
  const Batch batch = make_batch(4, rc.model);
  Carry carry = make_carry(m, batch.B);
  for (int64_t step = 1; step <= 2; ++step) {
    opt.zero_grad();
    const StepResult r = supervision_step(m, carry, batch, {}, opt.grads());
    opt.update(step, 3, carry.data.puzzle_ids, r.dprefix.data());
  }
  TrainProgress p;
  p.step = 2;
  p.total_steps = 3;
  save_checkpoint(prefix + "checkpoint.safetensors", m, rc, opt, download_carry(carry), p);
  save_model_file(m, rc, prefix + "model.safetensors");
}

TEST(GuardedOps, checkpoints_and_model_files_round_trip) {
  const std::string dir = test::temp_dir();
  for (const std::string& config : {trm_attention(), hrm()}) {
    SCOPED_TRACE(config);
    GuardedOps guarded;
    const auto plain = make_cpu_ops();
    save_files(guarded, config, dir + "/guarded.");
    save_files(*plain, config, dir + "/plain.");
    for (const char* file : {"checkpoint.safetensors", "model.safetensors"})
      EXPECT_TRUE(test::read_file(dir + "/guarded." + file) ==
                  test::read_file(dir + "/plain." + file))
          << file;
    // Loading into guarded memory and saving again gives the same files.
    const std::string ckpt = dir + "/guarded.checkpoint.safetensors";
    const RunConfig rc = read_checkpoint_config(ckpt);
    Model m(guarded, rc.model);
    Optimizer opt(m, rc.train);
    HostCarry carry;
    const TrainProgress p = load_checkpoint(ckpt, m, opt, 4, &carry);
    save_checkpoint(dir + "/again.checkpoint.safetensors", m, rc, opt, carry, p);
    EXPECT_TRUE(test::read_file(dir + "/again.checkpoint.safetensors") == test::read_file(ckpt));
    const LoadedModel lm = load_model_file(guarded, dir + "/guarded.model.safetensors");
    save_model_file(*lm.model, lm.config, dir + "/again.model.safetensors");
    EXPECT_TRUE(test::read_file(dir + "/again.model.safetensors") ==
                test::read_file(dir + "/guarded.model.safetensors"));
  }
  fs::remove_all(dir);
}

// The whole loop: chunks, evaluation on the EMA weights, model files and checkpoints, and — on
// the guarded backend — a stop at a step budget and a resume, ending where the plain run ends.
TEST(GuardedOps, a_training_run_with_a_resume_matches_the_plain_backend) {
  const std::string dir = test::temp_dir();
  const DatasetSplit data = sudoku_split(8);
  const RunConfig rc = parse_run_config(sudoku_config(false), "test");
  auto evaluator = [&](Model& m) {
    EvalOptions eo;
    eo.batch_size = 4;
    return evaluate(m, data, eo).to_json();
  };
  auto run = [&](Ops& ops, const std::string& out, int64_t max_steps, bool resume) {
    TrainerOptions o;
    o.out = dir + "/" + out;
    o.max_steps = max_steps;
    o.resume = resume;
    o.progress = false;
    return Trainer(ops, rc, data, o, evaluator).run();
  };
  GuardedOps guarded;
  const auto plain = make_cpu_ops();
  EXPECT_EQ(run(*plain, "plain", -1, false), TrainExit::Finished);
  EXPECT_EQ(run(guarded, "guarded", 3, false), TrainExit::Budget);
  EXPECT_EQ(run(guarded, "guarded", -1, true), TrainExit::Finished);
  EXPECT_TRUE(test::read_file(dir + "/guarded/model.safetensors") ==
              test::read_file(dir + "/plain/model.safetensors"));
  // The checkpoints differ in their elapsed time only.
  SafetensorsReader g(dir + "/guarded/checkpoint.safetensors"),
      p(dir + "/plain/checkpoint.safetensors");
  ASSERT_EQ(g.tensors().size(), p.tensors().size());
  for (const TensorInfo& t : p.tensors()) {
    std::string a(t.end - t.begin, '\0'), b(a);
    g.read_raw(g.info(t.name), a.data());
    p.read_raw(t, b.data());
    EXPECT_TRUE(a == b) << t.name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ponder
