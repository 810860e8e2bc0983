// Small models on a fixed Sudoku-shaped batch, from a fixed initialisation: the configuration,
// batch and architectures that the determinism, backend-parity, no-grad-pass and steady-state
// tests share, and a few training steps of one (what most of them run and compare).
#pragma once

#include <string>
#include <vector>

#include "model/model.h"
#include "train/act.h"
#include "train/optimizer.h"
#include "train/run_config.h"

namespace ponder::test {

struct TinyRun {
  std::vector<float> params, table;  // after the last step
  std::vector<float> logits;         // of the first step
  std::vector<float> grads, dprefix;  // of the first step: parameters', puzzle embedding rows'
  double first_loss = 0;
};

// Small TRM-MLP, TRM-Att and HRM architectures ("arch" objects) with the phases every model runs:
// no-grad cycles, a gradient cycle, both mixers and both halves of HRM.
inline const char* const kTinyArchs[] = {
    R"({"name": "trm", "hidden_size": 64, "num_heads": 2, "H_cycles": 3, "L_cycles": 2,
        "mlp_t": true, "puzzle_emb_ndim": 64})",
    R"({"name": "trm", "hidden_size": 64, "num_heads": 2, "H_cycles": 3, "L_cycles": 2,
        "puzzle_emb_ndim": 64})",
    R"({"name": "hrm", "hidden_size": 64, "num_heads": 2, "H_cycles": 2, "L_cycles": 2,
        "H_layers": 1, "L_layers": 1, "puzzle_emb_ndim": 64})"};

// The run configuration of a tiny run: `arch` is the config's "arch" object as JSON; EMA on,
// puzzle ids 0..3.
inline RunConfig tiny_run_config(const std::string& arch) {
  return parse_run_config(
      R"({"arch": )" + arch + R"(, "vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 4,
          "lr": 1e-3, "lr_warmup_steps": 0, "ema": true})",
      "tiny run");
}

// A fixed Sudoku-shaped batch of B rows with puzzle ids 0..3.
inline Batch tiny_batch(int64_t B) {
  Batch batch;
  batch.B = B;
  batch.L = 81;
  for (int64_t i = 0; i < B * 81; ++i) {
    batch.inputs.push_back(int32_t(1 + i * 7 % 10));
    batch.labels.push_back(int32_t(1 + i * 3 % 10));
  }
  for (int64_t b = 0; b < B; ++b) batch.puzzle_ids.push_back(int32_t(b % 4));
  return batch;
}

// The tiny model `arch` from seed 3, its optimizer, and a carry over tiny_batch(8).
struct TinyModel {
  static constexpr int64_t B = 8;
  TinyModel(Ops& ops, const std::string& arch)
      : rc(tiny_run_config(arch)),
        m(ops, rc.model),
        opt(initialised(m), rc.train),
        carry(make_carry(m, B)) {}
  TinyModel(const TinyModel&) = delete;
  TinyModel& operator=(const TinyModel&) = delete;

  // A training step: gradients, then the optimizer's update `step` of `total`.
  StepResult train_step(int64_t step, int64_t total) {
    opt.zero_grad();
    StepOptions so;
    so.grad_scale = 1.0 / double(B);
    StepResult r = supervision_step(m, carry, batch, so, opt.grads());
    opt.update(step, total, carry.data.puzzle_ids, r.dprefix.data());
    return r;
  }
  // An evaluation step: no gradients, halting without exploration.
  void eval_step() {
    StepOptions so;
    so.train = false;
    so.backward = false;
    supervision_step(m, carry, batch, so, nullptr);
  }

  RunConfig rc;
  Model m;
  Optimizer opt;  // its EMA starts from the initialised weights
  Batch batch = tiny_batch(B);
  Carry carry;

 private:
  static Model& initialised(Model& m) {
    m.init_weights(3);
    return m;
  }
};

// `steps` training steps of the tiny model `arch` (TinyModel).
inline TinyRun tiny_training_run(Ops& ops, const std::string& arch, int steps) {
  TinyModel tm(ops, arch);
  TinyRun t;
  for (int64_t step = 1; step <= steps; ++step) {
    const StepResult r = tm.train_step(step, steps);
    if (step == 1) {
      t.first_loss = r.loss.total;
      t.logits.assign(r.logits.data(), r.logits.data() + r.logits.size());
      t.dprefix.assign(r.dprefix.data(), r.dprefix.data() + r.dprefix.size());
      t.grads.resize(size_t(tm.m.layout().total()));
      ops.download(t.grads.data(), tm.opt.grads(), t.grads.size() * sizeof(float));
    }
  }
  t.params.resize(size_t(tm.m.layout().total()));
  ops.download(t.params.data(), tm.m.params(), t.params.size() * sizeof(float));
  t.table.resize(size_t(tm.m.puzzle_table_size()));
  ops.download(t.table.data(), tm.m.puzzle_table(), t.table.size() * sizeof(float));
  return t;
}

}  // namespace ponder::test
