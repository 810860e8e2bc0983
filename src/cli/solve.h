// Solvers behind `ponder solve`, one per task family; the command picks one from the model's
// vocabulary and sequence length.
#pragma once

#include <string>

#include "data/arc.h"
#include "model/model.h"

namespace ponder::cli {

struct ArcSolveOptions {
  std::string task;  // an ARC task JSON file
  std::string data;  // the dataset the model was trained on, for the task's puzzle identifiers
  std::string svg;
  bool show_steps = false;
};
void solve_arc(Model& m, const ArcSolveOptions& o);

}  // namespace ponder::cli
