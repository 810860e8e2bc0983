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

// `steps` training steps of the tiny model `arch` from seed 3 on tiny_batch(8).
inline TinyRun tiny_training_run(Ops& ops, const std::string& arch, int steps) {
  const RunConfig rc = tiny_run_config(arch);
  Model m(ops, rc.model);
  m.init_weights(3);
  Optimizer opt(m, rc.train);
  const int64_t B = 8;
  const Batch batch = tiny_batch(B);
  Carry carry = make_carry(m, B);
  StepOptions so;
  so.grad_scale = 1.0 / double(B);
  TinyRun t;
  for (int64_t step = 1; step <= steps; ++step) {
    opt.zero_grad();
    StepResult r = supervision_step(m, carry, batch, so, opt.grads());
    if (step == 1) {
      t.first_loss = r.loss.total;
      t.logits.assign(r.logits.data(), r.logits.data() + r.logits.size());
    }
    opt.update(step, steps, carry.data.puzzle_ids, r.dprefix.data());
  }
  t.params.resize(size_t(m.layout().total()));
  ops.download(t.params.data(), m.params(), t.params.size() * sizeof(float));
  t.table.resize(size_t(m.puzzle_table_size()));
  ops.download(t.table.data(), m.puzzle_table(), t.table.size() * sizeof(float));
  return t;
}

}  // namespace ponder::test
