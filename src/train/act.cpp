#include "train/act.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace ponder {

Carry make_carry(Model& m, int64_t B) {
  const ModelConfig& c = m.config();
  const size_t n = size_t(B) * size_t(c.seq_total()) * size_t(c.hidden_size);
  Ops& ops = m.ops();
  Carry carry;
  carry.B = B;
  carry.zH = DeviceArray<float>(ops, n);
  carry.zL = DeviceArray<float>(ops, n);
  carry.steps.assign(size_t(B), 0);
  carry.halted.assign(size_t(B), 1);
  carry.data.B = B;
  carry.data.L = c.seq_len;
  carry.data.inputs.assign(size_t(B * c.seq_len), 0);
  carry.data.labels.assign(size_t(B * c.seq_len), kIgnoreLabel);
  carry.data.puzzle_ids.assign(size_t(B), 0);
  carry.tokens_dev = DeviceArray<int32_t>(ops, size_t(B * c.seq_len));
  carry.ids_dev = DeviceArray<int32_t>(ops, size_t(B));
  carry.dlogits_dev = DeviceArray<float>(ops, size_t(B * c.seq_len * c.vocab_size));
  carry.dq_dev = DeviceArray<float>(ops, size_t(B * 2));
  carry.dprefix_dev = DeviceArray<float>(ops, size_t(B) * size_t(std::max(c.puzzle_emb_ndim, 0)));
  return carry;
}

Batch rows_of(const Batch& b, int64_t first, int64_t n) {
  PONDER_CHECK(first >= 0 && first + n <= b.B, "internal: rows ", first, "..", first + n,
               " of a batch of ", b.B);
  const auto L = long(b.L), b0 = long(first), b1 = long(first + n);
  Batch out;
  out.B = n;
  out.L = b.L;
  out.inputs.assign(b.inputs.begin() + b0 * L, b.inputs.begin() + b1 * L);
  out.labels.assign(b.labels.begin() + b0 * L, b.labels.begin() + b1 * L);
  out.puzzle_ids.assign(b.puzzle_ids.begin() + b0, b.puzzle_ids.begin() + b1);
  return out;
}

HostCarry download_carry(const Carry& c) {
  HostCarry h;
  h.B = c.B;
  h.zH.resize(c.zH.size());
  h.zL.resize(c.zL.size());
  c.zH.download(h.zH.data(), h.zH.size());
  c.zL.download(h.zL.data(), h.zL.size());
  h.steps = c.steps;
  h.halted = c.halted;
  h.data = c.data;
  return h;
}

void upload_carry(Carry& c, const HostCarry& h, int64_t first) {
  c.data = rows_of(h.data, first, c.B);  // checks the range
  const size_t row = c.zH.size() / size_t(c.B), b0 = size_t(first), n = size_t(c.B);
  c.zH.upload(h.zH.data() + b0 * row, n * row);
  c.zL.upload(h.zL.data() + b0 * row, n * row);
  c.steps.assign(h.steps.begin() + long(b0), h.steps.begin() + long(b0 + n));
  c.halted.assign(h.halted.begin() + long(b0), h.halted.begin() + long(b0 + n));
}

StepResult supervision_step(Model& m, Carry& carry, const Batch& incoming, const StepOptions& opt,
                            float* grads) {
  const ModelConfig& c = m.config();
  Ops& ops = m.ops();
  const int64_t B = carry.B, L = c.seq_len, V = c.vocab_size, S = c.seq_total(), D = c.hidden_size;
  PONDER_CHECK(incoming.B == B && incoming.L == L, "internal: batch of ", incoming.B, "×",
               incoming.L, " for a carry of ", B, "×", L);
  const size_t row = size_t(S * D);

  // 1. Halted rows start over on the incoming puzzle; the others keep theirs (the incoming row
  //    in their slot is dropped, as in the reference).
  for (int64_t b = 0; b < B; ++b) {
    if (!carry.halted[size_t(b)]) continue;
    ops.tile(carry.zH.data() + b * row, m.H_init(), size_t(S), size_t(D));
    ops.tile(carry.zL.data() + b * row, m.L_init(), size_t(S), size_t(D));
    carry.steps[size_t(b)] = 0;
    std::copy_n(incoming.inputs.begin() + b * L, L, carry.data.inputs.begin() + b * L);
    std::copy_n(incoming.labels.begin() + b * L, L, carry.data.labels.begin() + b * L);
    carry.data.puzzle_ids[size_t(b)] = incoming.puzzle_ids[size_t(b)];
  }
  carry.tokens_dev.upload(carry.data.inputs.data(), size_t(B * L));
  carry.ids_dev.upload(carry.data.puzzle_ids.data(), size_t(B));

  // 2. The inner model.
  const bool backward = opt.train && opt.backward;
  m.forward(carry.zH.data(), carry.zL.data(), carry.tokens_dev.data(), carry.ids_dev.data(), B,
            backward);
  StepResult r;
  r.logits = Array<float>(size_t(B * L * V));
  ops.download(r.logits.data(), m.logits(B), r.logits.size() * sizeof(float));
  std::vector<float> q(static_cast<size_t>(2 * B));
  ops.download(q.data(), m.q(B), q.size() * sizeof(float));
  r.q_halt.resize(size_t(B));
  r.q_continue.resize(size_t(B));
  for (int64_t b = 0; b < B; ++b) {
    r.q_halt[size_t(b)] = q[size_t(2 * b)];
    r.q_continue[size_t(b)] = q[size_t(2 * b + 1)];
  }

  // 3. Steps and halting. Evaluation always runs halt_max_steps steps.
  const int N = c.halt_max_steps;
  std::vector<uint8_t> last(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const int32_t steps = ++carry.steps[size_t(b)];
    last[size_t(b)] = steps >= N;
    uint8_t halted = last[size_t(b)];
    if (opt.train && N > 1) {
      const bool want = c.act_continue() ? r.q_halt[size_t(b)] > r.q_continue[size_t(b)]
                                         : r.q_halt[size_t(b)] > 0.0f;
      halted |= want;
      if (opt.explore) {
        // With probability halt_exploration_prob, insist on at least U{2..N} steps.
        const RandomStream rng(opt.seed, opt.step);
        int min_halt = 0;
        const uint64_t g = uint64_t(opt.first_row + b);  // the row in the global batch
        if (rng.uniform(2 * g) < c.halt_exploration_prob)
          min_halt = int(rng.integer(2 * g + 1, 2, N));
        halted &= steps >= min_halt;
      }
    }
    carry.halted[size_t(b)] = halted;
  }

  // 4. The bootstrapped q_continue target: the q of the next step from the new carry, without
  //    gradient (PQN-style; no replay buffer, no target network).
  if (opt.train && N > 1 && c.act_continue()) {
    if (!carry.zH_tmp.size()) {
      carry.zH_tmp = DeviceArray<float>(ops, carry.zH.size());
      carry.zL_tmp = DeviceArray<float>(ops, carry.zL.size());
    }
    ops.copy(carry.zH_tmp.data(), carry.zH.data(), carry.zH.size() * sizeof(float));
    ops.copy(carry.zL_tmp.data(), carry.zL.data(), carry.zL.size() * sizeof(float));
    m.forward(carry.zH_tmp.data(), carry.zL_tmp.data(), carry.tokens_dev.data(),
              carry.ids_dev.data(), B, false);
    std::vector<float> next(static_cast<size_t>(2 * B));
    ops.download(next.data(), m.q(B), next.size() * sizeof(float));
    r.target_q_continue.resize(size_t(B));
    for (int64_t b = 0; b < B; ++b) {
      const float h = next[size_t(2 * b)], k = next[size_t(2 * b + 1)];
      const float x = last[size_t(b)] ? h : std::max(h, k);
      r.target_q_continue[size_t(b)] = 1.0f / (1.0f + std::exp(-x));
    }
  }

  // 5. Loss on every row, metrics on the rows that halted now.
  LossInputs li;
  li.B = B;
  li.L = L;
  li.V = V;
  li.logits = r.logits.data();
  li.labels = carry.data.labels.data();
  li.q = q.data();
  li.target_q_continue = r.target_q_continue.empty() ? nullptr : r.target_q_continue.data();
  li.halted = carry.halted.data();
  li.steps = carry.steps.data();
  li.type = c.loss_type;
  Array<float> dlogits(backward ? r.logits.size() : 0);
  std::vector<float> dq(backward ? size_t(2 * B) : 0);
  r.loss = act_loss(li, opt.grad_scale, backward ? dlogits.data() : nullptr,
                    backward ? dq.data() : nullptr);

  // 6. Backward through the gradient cycle.
  if (backward) {
    carry.dlogits_dev.upload(dlogits.data(), dlogits.size());
    carry.dq_dev.upload(dq.data(), dq.size());
    m.backward(carry.dlogits_dev.data(), carry.dq_dev.data(), grads, carry.dprefix_dev.data());
    r.dprefix = Array<float>(carry.dprefix_dev.size());
    carry.dprefix_dev.download(r.dprefix.data(), r.dprefix.size());
  }
  return r;
}

}  // namespace ponder
