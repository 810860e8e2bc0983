// A few training steps of a small model on a fixed 8-row Sudoku-shaped batch, from a fixed
// initialisation: what the determinism and backend-parity tests run and compare.
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

// `arch` is the config's "arch" object as JSON; EMA on, puzzle ids 0..3.
inline TinyRun tiny_training_run(Ops& ops, const std::string& arch, int steps) {
  RunConfig rc = parse_run_config(
      R"({"arch": )" + arch + R"(, "vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 4,
          "lr": 1e-3, "lr_warmup_steps": 0, "ema": true})",
      "tiny run");
  Model m(ops, rc.model);
  m.init_weights(3);
  Optimizer opt(m, rc.train);
  const int64_t B = 8;
  Batch batch;
  batch.B = B;
  batch.L = 81;
  for (int64_t i = 0; i < B * 81; ++i) {
    batch.inputs.push_back(int32_t(1 + i * 7 % 10));
    batch.labels.push_back(int32_t(1 + i * 3 % 10));
  }
  for (int64_t b = 0; b < B; ++b) batch.puzzle_ids.push_back(int32_t(b % 4));
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
