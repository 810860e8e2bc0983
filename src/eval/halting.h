// Inference that stops when the answer is found. The references always run N_sup supervision
// steps at evaluation; here each puzzle stops on a rule a user chooses, and with continuous
// batching a row that stops takes the next puzzle at once, so the saved steps become throughput.
//
// Rules:  fixed      all N_sup steps (the reference)
//         q          the model's own halting signal (TRM: q_halt > 0; HRM: q_halt > q_continue)
//         stable:K   the predicted answer unchanged over the last K steps
//         verify     a task verifier accepts the answer (Sudoku: every rule holds and the givens
//                    are kept; maze: a shortest S→G path); tasks without one run all steps
// Every rule also stops at N_sup.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.h"
#include "model/model.h"

namespace ponder {

struct HaltRule {
  enum Kind { Fixed, Q, Stable, Verify } kind = Fixed;
  int stable_steps = 2;
  std::string name() const;
  // Whether the rule stops a puzzle after this step (the stop at N_sup is the caller's):
  // `unchanged` counts the steps in a row whose answer equals the one before; `verified` is asked
  // only by the verify rule.
  bool stops(const ModelConfig& c, float q_halt, float q_continue, int unchanged,
             const std::function<bool()>& verified) const;
};
HaltRule parse_halt_rule(const std::string& text);  // "fixed", "q", "stable:K", "verify"

// Whether a prediction (L tokens) is a right answer to its input, judged from the input alone.
using Verifier = std::function<bool(const int32_t* input, const int32_t* pred)>;
Verifier task_verifier(const ModelConfig& c);  // empty when the task has none

struct HaltOptions {
  int64_t batch_size = 64;
  int64_t max_examples = -1;
  bool continuous = true;  // refill a stopped row at once; false: a batch waits for its last row
};

struct HaltResult {
  std::string rule;
  int64_t count = 0;  // puzzles with labels
  double exact_accuracy = 0, token_accuracy = 0, mean_steps = 0;
  int64_t supervision_steps = 0;  // batched steps run (rows × steps, padding included)
  double seconds = 0, puzzles_per_second = 0;
  nlohmann::json to_json() const;
};

HaltResult infer_with_halting(Model& m, const DatasetSplit& split, const HaltRule& rule,
                              const Verifier& verify, const HaltOptions& o);

}  // namespace ponder
