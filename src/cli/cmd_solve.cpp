// `ponder solve MODEL PUZZLE`: solve one Sudoku (an 81-character string, or every puzzle of a
// file) or one ARC task (a task JSON), and show how the answer is refined, supervision step by
// supervision step.
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "cli/commands.h"
#include "cli/solve.h"
#include "core/error.h"
#include "data/sudoku_dataset.h"
#include "eval/evaluate.h"
#include "eval/halting.h"
#include "ops/ops.h"
#include "train/act.h"
#include "train/model_file.h"

namespace ponder::cli {

namespace {

// A 9×9 grid with box rules. `mark` flags cells shown highlighted (changed since the last step);
// givens are dimmed on a terminal.
void print_grid(const SudokuGrid& g, const SudokuGrid& givens, const std::vector<bool>& mark,
                bool colour) {
  for (int r = 0; r < 9; ++r) {
    if (r % 3 == 0) std::printf("  +-------+-------+-------+\n");
    std::printf("  ");
    for (int c = 0; c < 9; ++c) {
      const size_t i = size_t(r * 9 + c);
      if (c % 3 == 0) std::printf("| ");
      const char d = g[i] ? char('0' + g[i]) : '.';
      if (colour && mark[i])
        std::printf("\033[1;33m%c\033[0m", d);
      else if (colour && givens[i])
        std::printf("\033[2m%c\033[0m", d);
      else
        std::printf("%c", d);
      std::printf(!colour && mark[i] ? "*" : " ");
    }
    std::printf("|\n");
  }
  std::printf("  +-------+-------+-------+\n");
}

std::string rule_break(const SudokuGrid& g) {
  for (uint8_t d : g)
    if (!d) return "some cells hold no digit";
  return sudoku_conflict(g);
}

struct SolveOptions {
  std::string model, puzzle, data, svg, halt = "q";
  bool show_steps = false, all_steps = false;
};

void solve_one(Model& m, const SudokuExample& e, const SolveOptions& o, bool colour) {
  const ModelConfig& c = m.config();
  Carry carry = make_carry(m, 1);
  Batch b;
  b.B = 1;
  b.L = 81;
  const auto q = sudoku_tokens(e.question);
  b.inputs.assign(q.begin(), q.end());
  const bool known = sudoku_is_solution(e.answer);
  const auto a = sudoku_tokens(e.answer);
  b.labels.assign(81, -100);
  if (known) b.labels.assign(a.begin(), a.end());
  b.puzzle_ids = {0};
  StepOptions so;
  so.train = false;
  so.backward = false;
  std::printf("puzzle %s\n", sudoku_to_string(e.question).c_str());
  SudokuGrid prev = e.question, answer{};
  float q_halt = 0;
  int used = 0, same = 0;
  const HaltRule rule = parse_halt_rule(o.all_steps ? "fixed" : o.halt);
  for (int k = 1; k <= c.halt_max_steps; ++k) {
    StepResult r = supervision_step(m, carry, b, so, nullptr);
    answer = sudoku_from_tokens(r.loss.preds.data());
    q_halt = r.q_halt[0];
    used = k;
    same = k > 1 && answer == prev ? same + 1 : 0;
    const bool halt = rule.stops(c, r.q_halt[0], r.q_continue[0], same,
                                 [&] { return sudoku_solves(e.question, answer); });
    if (o.show_steps) {
      std::vector<bool> changed(81);
      int n_changed = 0;
      for (size_t i = 0; i < 81; ++i) n_changed += changed[i] = answer[i] != prev[i];
      std::printf("step %d: halting confidence %.3f, %d cells changed%s\n", k,
                  1.0 / (1.0 + std::exp(-double(q_halt))), n_changed, halt ? " — halts here" : "");
      print_grid(answer, e.question, changed, colour);
    }
    prev = answer;
    if (halt) break;
  }
  if (!o.show_steps) print_grid(answer, e.question, std::vector<bool>(81, false), colour);
  std::printf("%d supervision step%s, halting confidence %.3f\n", used, used == 1 ? "" : "s",
              1.0 / (1.0 + std::exp(-double(q_halt))));
  if (sudoku_solves(e.question, answer)) {
    std::printf("valid: the answer obeys every rule and keeps the givens%s\n",
                known ? (answer == e.answer ? " (and equals the known solution)" : "") : "");
  } else if (sudoku_is_solution(answer)) {
    std::printf("NOT valid: a complete grid, but it changes some givens of the puzzle\n");
  } else {
    std::printf("NOT valid: the model's answer breaks the rules (%s)\n",
                rule_break(answer).c_str());
  }
}

}  // namespace

void add_solve_command(CLI::App& app) {
  auto o = std::make_shared<SolveOptions>();
  CLI::App* cmd = app.add_subcommand(
      "solve", "Solve a Sudoku or an ARC task with a trained model, step by step");
  cmd->add_option("model", o->model, "model file")->required();
  cmd->add_option("puzzle", o->puzzle,
                  "Sudoku: 81 characters (1-9 givens, '.' or '0' blanks), or a puzzle file; "
                  "ARC: a task JSON file")
      ->required();
  cmd->add_option("--data", o->data,
                  "ARC: the dataset the model was trained on (its task versions vote)");
  cmd->add_option("--svg", o->svg, "ARC: draw the demonstrations, test inputs and attempts as SVG");
  cmd->add_flag("--show-steps", o->show_steps,
                "print the grid after each supervision step, changes marked");
  cmd->add_option(
      "--halt", o->halt,
      "Sudoku: when to stop — q (the model's halting signal, default), stable:K (the same "
      "answer K steps in a row), verify (the grid obeys every rule), fixed (all steps)");
  cmd->add_flag("--all-steps", o->all_steps, "run all halt_max_steps steps (--halt fixed)");
  cmd->callback([o] {
    auto ops = make_backend();
    LoadedModel lm = load_model_file(*ops, o->model);
    const ModelConfig& c = lm.config.model;
    if (is_arc_model(c.vocab_size, c.seq_len)) {
      solve_arc(*lm.model, {o->puzzle, o->data, o->svg, o->show_steps});
      return;
    }
    PONDER_CHECK(o->data.empty() && o->svg.empty(), "--data and --svg are for ARC models");
    PONDER_CHECK(is_sudoku_model(c.vocab_size, c.seq_len), o->model,
                 ": is neither a Sudoku nor an ARC model (seq_len ", c.seq_len, ", vocab_size ",
                 c.vocab_size, ")");
    std::vector<SudokuExample> puzzles;
    if (std::filesystem::is_regular_file(o->puzzle)) {
      SudokuReadOptions ro;
      ro.need_answer = false;
      puzzles = read_sudoku_file(o->puzzle, ro);
    } else {
      SudokuExample e;
      const std::string err = sudoku_parse(o->puzzle, &e.question);
      PONDER_CHECK(err.empty(), "puzzle '", o->puzzle, "' ", err,
                   " (give 81 characters or an existing puzzle file)");
      const SolveResult known = sudoku_solve(e.question, 2);
      if (known.solutions == 1) e.answer = known.first;  // to report whether the model matches it
      puzzles.push_back(e);
    }
    const bool colour = isatty(1);
    for (size_t i = 0; i < puzzles.size(); ++i) {
      if (i) std::printf("\n");
      solve_one(*lm.model, puzzles[i], *o, colour);
    }
  });
}

}  // namespace ponder::cli
