#include "eval/halting.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "data/maze.h"
#include "data/sudoku_dataset.h"
#include "eval/evaluate.h"
#include "train/act.h"

namespace ponder {

std::string HaltRule::name() const {
  switch (kind) {
    case Q:
      return "q";
    case Stable:
      return "stable:" + std::to_string(stable_steps);
    case Verify:
      return "verify";
    default:
      return "fixed";
  }
}

bool HaltRule::stops(const ModelConfig& c, float q_halt, float q_continue, int unchanged,
                     const std::function<bool()>& verified) const {
  switch (kind) {
    case Q:
      return wants_halt(c, q_halt, q_continue);
    case Stable:
      return unchanged >= stable_steps - 1;
    case Verify:
      return verified();
    default:
      return false;
  }
}

HaltRule parse_halt_rule(const std::string& text) {
  HaltRule r;
  if (text == "fixed") return r;
  if (text == "q")
    r.kind = HaltRule::Q;
  else if (text == "verify")
    r.kind = HaltRule::Verify;
  else if (text.rfind("stable:", 0) == 0) {
    r.kind = HaltRule::Stable;
    try {
      size_t used = 0;
      r.stable_steps = std::stoi(text.substr(7), &used);
      PONDER_CHECK(used == text.size() - 7, "");
    } catch (const std::exception&) {
      fail("halting rule '", text, "': expected stable:K with K a whole number ≥ 2");
    }
    PONDER_CHECK(r.stable_steps >= 2, "halting rule '", text,
                 "': K must be ≥ 2 (the same answer K steps in a row)");
  } else {
    fail("unknown halting rule '", text, "' (expected fixed, q, stable:K or verify)");
  }
  return r;
}

Verifier task_verifier(const ModelConfig& c) {
  if (is_sudoku_model(c.vocab_size, c.seq_len))
    return [](const int32_t* input, const int32_t* pred) {
      return sudoku_solves(sudoku_from_tokens(input), sudoku_from_tokens(pred));
    };
  if (const int side = maze_side(c.vocab_size, c.seq_len))
    return [side](const int32_t* input, const int32_t* pred) {
      return maze_valid_path(maze_from_tokens(input, side), maze_from_tokens(pred, side), side);
    };
  return {};
}

nlohmann::json HaltResult::to_json() const {
  return {{"rule", rule},
          {"count", count},
          {"exact_accuracy", exact_accuracy},
          {"token_accuracy", token_accuracy},
          {"mean_steps", mean_steps},
          {"supervision_steps", supervision_steps},
          {"seconds", seconds},
          {"puzzles_per_second", puzzles_per_second}};
}

HaltResult infer_with_halting(Model& m, const DatasetSplit& split, const HaltRule& rule,
                              const Verifier& verify, const HaltOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& c = m.config();
  const int64_t L = c.seq_len;
  int64_t n = split.examples();
  if (o.max_examples >= 0) n = std::min(n, o.max_examples);
  const int64_t B = std::clamp<int64_t>(n, 1, o.batch_size);
  std::vector<int32_t> example_id(static_cast<size_t>(n), 0);
  for (int64_t p = 0; p < split.puzzles(); ++p)
    for (int64_t e = split.puzzle_indices[size_t(p)];
         e < std::min<int64_t>(split.puzzle_indices[size_t(p) + 1], n); ++e)
      example_id[size_t(e)] = split.puzzle_identifiers[size_t(p)];
  const int ignore = split.meta.ignore_label_id.value_or(-100);

  Carry carry = make_carry(m, B);
  Batch b;
  b.B = B;
  b.L = L;
  b.inputs.assign(size_t(B * L), 0);
  b.labels.assign(size_t(B * L), -100);
  b.puzzle_ids.assign(size_t(B), 0);
  struct Slot {
    int64_t example = -1;  // −1: idle
    int steps = 0, same = 0;
    std::vector<int32_t> prev;
  };
  std::vector<Slot> slots(static_cast<size_t>(B));
  int64_t next = 0;
  // Puts the next puzzle (or padding) in row s; the next step resets the row's state.
  auto load = [&](int64_t s) {
    Slot& sl = slots[size_t(s)];
    sl = Slot{};
    int32_t* in = &b.inputs[size_t(s * L)];
    int32_t* lab = &b.labels[size_t(s * L)];
    if (next < n) {
      sl.example = next++;
      for (int64_t t = 0; t < L; ++t) {
        in[t] = split.inputs[size_t(sl.example * L + t)];
        const int y = split.labels[size_t(sl.example * L + t)];
        lab[t] = y == ignore ? -100 : y;
      }
      b.puzzle_ids[size_t(s)] = example_id[size_t(sl.example)];
    } else {
      std::fill(in, in + L, 0);
      std::fill(lab, lab + L, -100);
      b.puzzle_ids[size_t(s)] = 0;
    }
    carry.halted[size_t(s)] = 1;
  };
  for (int64_t s = 0; s < B; ++s) load(s);

  HaltResult r;
  r.rule = rule.name();
  StepOptions so;
  so.train = false;
  so.backward = false;
  double exact = 0, token = 0, steps = 0;
  auto active = [&] {
    return std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return s.example >= 0; });
  };
  while (active()) {
    StepResult st = supervision_step(m, carry, b, so, nullptr);
    r.supervision_steps += B;
    for (int64_t s = 0; s < B; ++s) {
      Slot& sl = slots[size_t(s)];
      if (sl.example < 0) {
        carry.halted[size_t(s)] = 1;
        continue;
      }
      const int32_t* pred = &st.loss.preds[size_t(s * L)];
      ++sl.steps;
      sl.same =
          !sl.prev.empty() && std::equal(sl.prev.begin(), sl.prev.end(), pred) ? sl.same + 1 : 0;
      sl.prev.assign(pred, pred + L);
      const bool stop = sl.steps >= c.halt_max_steps ||
                        rule.stops(c, st.q_halt[size_t(s)], st.q_continue[size_t(s)], sl.same, [&] {
                          return verify && verify(&b.inputs[size_t(s * L)], pred);
                        });
      carry.halted[size_t(s)] = stop;
      if (!stop) continue;
      const int32_t* lab = &b.labels[size_t(s * L)];
      int64_t valid = 0, right = 0;
      for (int64_t t = 0; t < L; ++t) {
        valid += lab[t] != -100;
        right += lab[t] != -100 && pred[t] == lab[t];
      }
      if (valid) {
        r.count++;
        exact += right == valid;
        token += double(right) / double(valid);
        steps += sl.steps;
      }
      if (o.continuous) {
        load(s);
      } else {
        sl.example = -1;
        carry.halted[size_t(s)] = 1;
      }
    }
    if (!o.continuous && !active())
      for (int64_t s = 0; s < B; ++s) load(s);
  }
  const double cnt = double(std::max<int64_t>(r.count, 1));
  r.exact_accuracy = exact / cnt;
  r.token_accuracy = token / cnt;
  r.mean_steps = steps / cnt;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.puzzles_per_second = double(r.count) / std::max(r.seconds, 1e-9);
  return r;
}

}  // namespace ponder
