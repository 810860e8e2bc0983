// `ponder solve MODEL TASK.json` for ARC models: every version of the task the model was trained
// with (from the dataset's identifiers.json) predicts each test input; the predictions are cropped,
// de-augmented and voted on as in evaluation, and shown next to the demonstration pairs.
#include <unistd.h>

#include <cmath>

#include "cli/solve.h"
#include "core/error.h"
#include "eval/arc_render.h"
#include "train/act.h"

namespace ponder::cli {

namespace {

struct Version {
  int32_t model_id;  // the row of the model's puzzle table
  std::string name;
};

std::vector<Version> task_versions(const ArcTask& task, const std::string& data, int64_t num_ids) {
  std::vector<Version> v;
  if (!data.empty()) {
    const auto ids = read_identifiers(data);
    PONDER_CHECK(int64_t(ids.size()) <= num_ids, data, "/identifiers.json: ", ids.size(),
                 " puzzle identifiers, but the model has ", num_ids,
                 " (was it trained on this dataset?)");
    for (size_t i = 1; i < ids.size(); ++i) {
      std::string name;
      arc_parse_version_name(ids[i], &name);
      if (name == task.name) v.push_back({int32_t(i), ids[i]});
    }
    if (v.empty())
      std::printf("task %s is not in %s; using the blank puzzle embedding\n", task.name.c_str(),
                  data.c_str());
  }
  if (v.empty())  // no learned embedding: the 8 dihedral views with the blank identifier
    for (int t = 0; t < 8; ++t) {
      ArcAug a;
      a.t = t;
      v.push_back({0, arc_version_name(task.name, a)});
    }
  return v;
}

}  // namespace

void solve_arc(Model& m, const ArcSolveOptions& o) {
  const ModelConfig& c = m.config();
  const ArcTask task = read_arc_task(o.task);
  const std::vector<Version> versions = task_versions(task, o.data, c.num_puzzle_identifiers);
  std::vector<std::string> names{"<blank>"};
  for (const auto& v : versions) names.push_back(v.name);
  // One voter per supervision step, to show how the voted answer is refined.
  std::vector<ArcVoter> voters(size_t(c.halt_max_steps), ArcVoter(names));
  struct Row {
    int32_t voter_id, model_id;
    std::vector<int32_t> input, label;
  };
  std::vector<Row> rows;
  for (size_t v = 0; v < versions.size(); ++v) {
    std::string base;
    const ArcAug a = arc_parse_version_name(versions[v].name, &base);
    for (const auto& p : task.test) {
      const auto in = arc_encode(arc_augment(p.input, a), 0, 0),
                 out = arc_encode(arc_augment(p.output, a), 0, 0);
      Row r{int32_t(v + 1), versions[v].model_id, {in.begin(), in.end()}, {}};
      for (uint8_t t : out) r.label.push_back(t ? int32_t(t) : -100);
      rows.push_back(std::move(r));
    }
  }
  std::printf("task %s: %zu demonstration pairs, %zu test inputs, %zu versions voting\n",
              task.name.c_str(), task.train.size(), task.test.size(), versions.size());
  StepOptions so;
  so.train = false;
  so.backward = false;
  const int64_t chunk = 32;
  for (size_t first = 0; first < rows.size(); first += size_t(chunk)) {
    const int64_t B = std::min<int64_t>(chunk, int64_t(rows.size() - first));
    Batch b;
    b.B = B;
    b.L = kArcSeqLen;
    for (int64_t r = 0; r < B; ++r) {
      const Row& row = rows[first + size_t(r)];
      b.inputs.insert(b.inputs.end(), row.input.begin(), row.input.end());
      b.labels.insert(b.labels.end(), row.label.begin(), row.label.end());
      b.puzzle_ids.push_back(row.model_id);
    }
    Carry carry = make_carry(m, B);
    for (int k = 0; k < c.halt_max_steps; ++k) {
      StepResult s = supervision_step(m, carry, b, so, nullptr);
      for (int64_t r = 0; r < B; ++r)
        voters[size_t(k)].add(rows[first + size_t(r)].voter_id, &b.inputs[size_t(r * kArcSeqLen)],
                              &s.loss.preds[size_t(r * kArcSeqLen)],
                              1.0 / (1.0 + std::exp(-double(s.q_halt[size_t(r)]))));
    }
  }

  const bool colour = isatty(1);
  std::vector<ArcRow> picture;
  for (size_t i = 0; i < task.train.size(); ++i) {
    ArcRow row{{"demo " + std::to_string(i + 1) + " input", task.train[i].input},
               {"output", task.train[i].output}};
    std::printf("%s", arc_render_terminal(row, colour).c_str());
    picture.push_back(row);
  }
  int solved = 0;
  for (size_t i = 0; i < task.test.size(); ++i) {
    const ArcPair& p = task.test[i];
    if (o.show_steps) {
      std::printf("test %zu, the voted answer after each supervision step:\n", i + 1);
      ArcGrid prev;
      for (int k = 0; k < c.halt_max_steps; ++k) {
        const auto cand = voters[size_t(k)].ranked(task.name, p.input);
        const ArcGrid& top = cand[0].grid;
        std::printf("step %2d: %lld of %zu votes, %s%s\n", k + 1, (long long)cand[0].count,
                    versions.size(), top == prev ? "unchanged" : "changed",
                    top == p.output ? ", right" : "");
        if (!(top == prev)) std::printf("%s", arc_render_terminal({{"", top}}, colour).c_str());
        prev = top;
      }
    }
    const auto cand = voters.back().ranked(task.name, p.input);
    ArcRow row{{"test " + std::to_string(i + 1) + " input", p.input}};
    for (size_t k = 0; k < std::min<size_t>(2, cand.size()); ++k)
      row.push_back({"attempt " + std::to_string(k + 1) + " (" + std::to_string(cand[k].count) +
                         " votes, q " +
                         std::to_string(cand[k].q_sum / double(cand[k].count)).substr(0, 4) + ")",
                     cand[k].grid});
    row.push_back({"expected", p.output});
    std::printf("%s", arc_render_terminal(row, colour).c_str());
    const bool right = !cand.empty() &&
                       (cand[0].grid == p.output || (cand.size() > 1 && cand[1].grid == p.output));
    solved += right;
    std::printf("test %zu: %s\n", i + 1,
                right ? (cand[0].grid == p.output ? "solved by attempt 1" : "solved by attempt 2")
                      : "not solved");
    picture.push_back(row);
  }
  std::printf("%d of %zu test inputs solved within two attempts\n", solved, task.test.size());
  if (!o.svg.empty()) {
    write_arc_svg(o.svg,
                  "ARC task " + task.name + ": demonstrations, test inputs and voted attempts",
                  picture);
    std::printf("wrote %s\n", o.svg.c_str());
  }
}

}  // namespace ponder::cli
