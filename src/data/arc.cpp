#include "data/arc.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/rng.h"
#include "data/dihedral.h"
#include "io/json_reader.h"

namespace ponder {

namespace fs = std::filesystem;

std::string ArcGrid::key() const {
  std::string k{char(h), char(w)};
  k.append(cells.begin(), cells.end());
  return k;
}

ArcGrid arc_grid_from_json(const nlohmann::json& j, const std::string& where) {
  PONDER_CHECK(j.is_array() && !j.empty(), where, ": expected a grid (a non-empty list of rows)");
  ArcGrid g;
  g.h = int(j.size());
  PONDER_CHECK(g.h <= kArcSide, where, ": ", g.h, " rows; ARC grids have at most ", kArcSide);
  for (int r = 0; r < g.h; ++r) {
    const auto& row = j[size_t(r)];
    PONDER_CHECK(row.is_array() && !row.empty(), where, ": row ", r, " is not a non-empty list");
    if (r == 0) g.w = int(row.size());
    PONDER_CHECK(int(row.size()) == g.w, where, ": ragged rows (row 0 has ", g.w, " cells, row ", r,
                 " has ", row.size(), ")");
    PONDER_CHECK(g.w <= kArcSide, where, ": ", g.w, " columns; ARC grids have at most ", kArcSide);
    for (int c = 0; c < g.w; ++c) {
      const auto& v = row[size_t(c)];
      PONDER_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= 9, where,
                   ": row ", r, " column ", c, " is ", v.dump(), ", expected a colour 0–9");
      g.cells.push_back(uint8_t(v.get<int>()));
    }
  }
  return g;
}

nlohmann::json arc_grid_to_json(const ArcGrid& g) {
  nlohmann::json rows = nlohmann::json::array();
  for (int r = 0; r < g.h; ++r)
    rows.push_back(std::vector<int>(g.cells.begin() + r * g.w, g.cells.begin() + (r + 1) * g.w));
  return rows;
}

namespace {

std::vector<ArcPair> read_pairs(const nlohmann::json& task, const char* part,
                                const std::string& where) {
  PONDER_CHECK(task.contains(part) && task[part].is_array(), where, ": missing the '", part,
               "' list");
  std::vector<ArcPair> pairs;
  for (size_t i = 0; i < task[part].size(); ++i) {
    const auto& p = task[part][i];
    const std::string at = where + ": " + part + "[" + std::to_string(i) + "]";
    PONDER_CHECK(p.is_object() && p.contains("input"), at, ": missing 'input'");
    PONDER_CHECK(
        p.contains("output"), at, ": missing 'output'",
        std::string(part) == "test" ? " (test outputs are needed to build and score)" : "");
    pairs.push_back({arc_grid_from_json(p["input"], at + ".input"),
                     arc_grid_from_json(p["output"], at + ".output")});
  }
  return pairs;
}

ArcTask task_from_json(const nlohmann::json& j, const std::string& name, const std::string& where) {
  PONDER_CHECK(j.is_object(), where, ": expected an object with 'train' and 'test'");
  ArcTask t;
  t.name = name;
  t.train = read_pairs(j, "train", where);
  t.test = read_pairs(j, "test", where);
  PONDER_CHECK(!t.train.empty(), where, ": no demonstration pairs");
  PONDER_CHECK(!t.test.empty(), where, ": no test pairs");
  t.original = j;
  return t;
}

// The Kaggle layout: {task: {"train": […], "test": [{"input"}…]}} and, beside it,
// {task: [output, …]}.
std::vector<ArcTask> read_combined(const std::string& path) {
  std::string sol = path;
  sol.replace(sol.rfind("challenges"), 10, "solutions");
  PONDER_CHECK(fs::exists(sol), path, ": needs its test outputs in ", sol);
  nlohmann::json ch = read_json_file(path), so = read_json_file(sol);
  PONDER_CHECK(ch.is_object(), path, ": expected an object {task: …}");
  std::vector<ArcTask> tasks;
  for (auto& [name, task] : ch.items()) {
    PONDER_CHECK(so.contains(name) && so[name].is_array(), sol, ": no outputs for task ", name);
    PONDER_CHECK(
        task.contains("test") && task["test"].is_array() && task["test"].size() == so[name].size(),
        sol, ": task ", name, " has ", so[name].size(), " outputs for its test inputs");
    for (size_t i = 0; i < so[name].size(); ++i) task["test"][i]["output"] = so[name][i];
    tasks.push_back(task_from_json(task, name, path + ": task " + name));
  }
  return tasks;
}

}  // namespace

ArcTask read_arc_task(const std::string& path) {
  return task_from_json(read_json_file(path), fs::path(path).stem().string(), path);
}

std::vector<ArcTask> read_arc_tasks(const std::string& path) {
  PONDER_CHECK(fs::exists(path), path, ": not found");
  std::vector<ArcTask> tasks;
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.stem() < b.stem(); });
    for (size_t i = 0; i < files.size(); ++i) {
      PONDER_CHECK(i == 0 || files[i].stem() != files[i - 1].stem(), path, ": two tasks named ",
                   files[i].stem().string(), " (", files[i - 1].string(), ", ", files[i].string(),
                   ")");
      tasks.push_back(read_arc_task(files[i].string()));
    }
  } else if (path.find("challenges") != std::string::npos) {
    tasks = read_combined(path);
  } else {
    tasks.push_back(read_arc_task(path));
  }
  PONDER_CHECK(!tasks.empty(), path, ": no ARC task files (*.json)");
  return tasks;
}

std::vector<uint8_t> arc_encode(const ArcGrid& g, int r0, int c0) {
  std::vector<uint8_t> out(kArcSeqLen, 0);
  for (int i = 0; i < g.h; ++i)
    for (int j = 0; j < g.w; ++j)
      out[size_t((r0 + i) * kArcSide + c0 + j)] = uint8_t(g.cells[size_t(i * g.w + j)] + 2);
  const int eos_r = r0 + g.h, eos_c = c0 + g.w;
  if (eos_r < kArcSide)
    for (int j = c0; j < eos_c; ++j) out[size_t(eos_r * kArcSide + j)] = 1;
  if (eos_c < kArcSide)
    for (int i = r0; i < eos_r; ++i) out[size_t(i * kArcSide + eos_c)] = 1;
  return out;
}

ArcGrid arc_crop(const int32_t* tokens) {
  int best_r = 0, best_c = 0, best_area = 0, num_c = kArcSide;
  for (int r = 1; r <= kArcSide; ++r) {
    for (int c = 1; c <= num_c; ++c) {
      const int32_t x = tokens[(r - 1) * kArcSide + c - 1];
      if (x < 2 || x > 11) {
        num_c = c - 1;
        break;
      }
    }
    if (r * num_c > best_area) {
      best_area = r * num_c;
      best_r = r;
      best_c = num_c;
    }
  }
  ArcGrid g;
  g.h = best_r;
  g.w = best_c;
  for (int i = 0; i < best_r; ++i)
    for (int j = 0; j < best_c; ++j) g.cells.push_back(uint8_t(tokens[i * kArcSide + j] - 2));
  return g;
}

bool ArcAug::identity() const {
  for (int c = 0; c < 10; ++c)
    if (perm[size_t(c)] != c) return false;
  return t == 0;
}

ArcGrid arc_augment(const ArcGrid& g, const ArcAug& a) {
  std::vector<uint8_t> mapped(g.cells.size());
  for (size_t i = 0; i < mapped.size(); ++i) mapped[i] = a.perm[g.cells[i]];
  const bool swap = dihedral_swaps_axes(a.t);
  return {swap ? g.w : g.h, swap ? g.h : g.w, dihedral(mapped, g.h, g.w, a.t)};
}

ArcGrid arc_deaugment(const ArcGrid& g, const ArcAug& a) {
  const int t = kDihedralInverse[a.t];
  const bool swap = dihedral_swaps_axes(t);
  ArcGrid out{swap ? g.w : g.h, swap ? g.h : g.w, dihedral(g.cells, g.h, g.w, t)};
  std::array<uint8_t, 10> inv{};
  for (int c = 0; c < 10; ++c) inv[a.perm[size_t(c)]] = uint8_t(c);
  for (auto& v : out.cells) v = inv[v];
  return out;
}

std::string arc_version_name(const std::string& task, const ArcAug& a) {
  if (a.identity()) return task;
  std::string perm;
  for (uint8_t c : a.perm) perm += char('0' + c);
  return task + "|||t" + std::to_string(a.t) + "|||" + perm;
}

ArcAug arc_parse_version_name(const std::string& name, std::string* task) {
  static const std::regex trm(R"(^(.*)\|\|\|t([0-7])\|\|\|([0-9]{10})$)"),
      hrm(R"(^(.*)_t([0-7])_([0-9]{10})$)");
  std::smatch m;
  ArcAug a;
  if (!std::regex_match(name, m, trm) && !std::regex_match(name, m, hrm)) {
    *task = name;  // the original version
    return a;
  }
  *task = m[1];
  a.t = std::stoi(m[2]);
  const std::string perm = m[3];
  std::array<bool, 10> seen{};
  for (int c = 0; c < 10; ++c) {
    a.perm[size_t(c)] = uint8_t(perm[size_t(c)] - '0');
    seen[a.perm[size_t(c)]] = true;
  }
  PONDER_CHECK(std::all_of(seen.begin(), seen.end(), [](bool s) { return s; }) && a.perm[0] == 0,
               "puzzle name '", name, "': the colour map ", perm, " is not a permutation fixing 0");
  return a;
}

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The dedup key of a version: its examples' grids, sorted, as the reference's puzzle hash covers
// them (exact bytes instead of SHA-256 digests: the same equality, without collisions).
std::string version_key(const ArcTask& task, const ArcAug& a) {
  std::vector<std::string> ex;
  for (const auto* part : {&task.train, &task.test})
    for (const auto& p : *part)
      ex.push_back(arc_augment(p.input, a).key() + arc_augment(p.output, a).key());
  std::sort(ex.begin(), ex.end());
  std::string k;
  for (const auto& e : ex) k += std::to_string(e.size()) + ":" + e;
  return k;
}

// The original, then distinct random versions until num_aug more or tries_factor·num_aug draws.
std::vector<ArcAug> task_versions(const ArcTask& task, const ArcBuildOptions& o,
                                  const RandomStream& rng) {
  std::vector<ArcAug> versions{ArcAug{}};
  std::set<std::string> seen{version_key(task, ArcAug{})};
  uint64_t draw = 0;
  for (int trial = 0; trial < o.tries_factor * o.num_aug && int(versions.size()) < o.num_aug + 1;
       ++trial) {
    ArcAug a;
    a.t = int(rng.integer(draw++, 0, 7));
    for (int i = 9; i > 1; --i)
      std::swap(a.perm[size_t(i)], a.perm[size_t(rng.integer(draw++, 1, i))]);
    if (seen.insert(version_key(task, a)).second) versions.push_back(a);
  }
  return versions;
}

}  // namespace

ArcDataset build_arc_dataset(const std::vector<ArcSubset>& subsets, const ArcBuildOptions& o) {
  PONDER_CHECK(o.num_aug >= 0, "--num-aug must be ≥ 0");
  std::map<std::string, std::string> owner;  // task → subset, to refuse a task in two subsets
  for (const auto& s : subsets)
    for (const auto& t : s.tasks) {
      auto [it, fresh] = owner.emplace(t.name, s.name);
      PONDER_CHECK(fresh, "task ", t.name, " is in both ", it->second, " and ", s.name,
                   " (never train on a task of the test set under another name)");
    }
  ArcDataset d;
  d.identifiers = {"<blank>"};
  d.test_puzzles = nlohmann::json::object();
  // The versions of every task first (the costly part, in parallel), then the examples, written
  // once into buffers of their final size.
  std::vector<std::vector<std::vector<ArcAug>>> all_versions(subsets.size());
  int64_t train_examples = 0, test_examples = 0;
  for (size_t si = 0; si < subsets.size(); ++si) {
    const ArcSubset& s = subsets[si];
    auto& versions = all_versions[si];
    versions.resize(s.tasks.size());
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < s.tasks.size(); ++i)
      versions[i] = task_versions(s.tasks[i], o, RandomStream(o.seed, fnv1a(s.tasks[i].name)));
    for (size_t i = 0; i < s.tasks.size(); ++i) {
      const int64_t n = int64_t(versions[i].size()), demos = int64_t(s.tasks[i].train.size()),
                    tests = int64_t(s.tasks[i].test.size());
      train_examples += n * (s.is_test_set ? demos : demos + tests);
      test_examples += s.is_test_set ? n * tests : 0;
    }
  }
  DatasetBuilder train(kArcSeqLen, kArcVocab), test(kArcSeqLen, kArcVocab);
  train.reserve(train_examples);
  test.reserve(test_examples);
  for (size_t si = 0; si < subsets.size(); ++si) {
    const ArcSubset& s = subsets[si];
    const auto& versions = all_versions[si];
    ArcSubsetCounts n;
    n.name = s.name;
    for (size_t i = 0; i < s.tasks.size(); ++i) {
      const ArcTask& task = s.tasks[i];
      const RandomStream rng(o.seed, fnv1a(task.name) ^ 0x7472616e736cull);  // translation draws
      uint64_t draw = 0;
      n.tasks++;
      n.demonstrations += int64_t(task.train.size());
      n.test_inputs += int64_t(task.test.size());
      n.versions += int64_t(versions[i].size());
      n.short_tasks += int(versions[i].size()) < o.num_aug + 1;
      const int32_t first_id = int32_t(d.identifiers.size());
      train.begin_group();
      std::vector<const ArcPair*> demos;
      for (const auto& p : task.train) demos.push_back(&p);
      if (!s.is_test_set)
        for (const auto& p : task.test) demos.push_back(&p);
      for (const ArcAug& a : versions[i]) {
        train.add_puzzle(int32_t(d.identifiers.size()));
        d.identifiers.push_back(arc_version_name(task.name, a));
        const int64_t fixed = rng.integer(draw++, 0, int64_t(demos.size()) - 1);
        for (size_t e = 0; e < demos.size(); ++e) {
          const ArcGrid in = arc_augment(demos[e]->input, a),
                        out = arc_augment(demos[e]->output, a);
          int r0 = 0, c0 = 0;
          if (int64_t(e) != fixed) {
            r0 = int(rng.integer(draw++, 0, kArcSide - std::max(in.h, out.h)));
            c0 = int(rng.integer(draw++, 0, kArcSide - std::max(in.w, out.w)));
          }
          train.add_example(arc_encode(in, r0, c0), arc_encode(out, r0, c0));
        }
      }
      if (!s.is_test_set) continue;
      d.test_puzzles[task.name] = task.original;
      test.begin_group();
      for (size_t v = 0; v < versions[i].size(); ++v) {
        test.add_puzzle(first_id + int32_t(v));
        for (const auto& p : task.test)
          test.add_example(arc_encode(arc_augment(p.input, versions[i][v]), 0, 0),
                           arc_encode(arc_augment(p.output, versions[i][v]), 0, 0));
      }
    }
    d.counts.push_back(n);
  }
  // ignore_label_id 0: PAD cells of the labels are not scored, EOS cells are.
  d.train = train.finish(int(d.identifiers.size()), 0);
  d.test = test.finish(int(d.identifiers.size()), 0);
  return d;
}

// ---- evaluation --------------------------------------------------------------------------

void ArcVoter::add(int32_t puzzle_id, const int32_t* input, const int32_t* pred, double q) {
  if (puzzle_id == 0) return;  // padding rows
  PONDER_CHECK(puzzle_id > 0 && size_t(puzzle_id) < ids_.size(), "puzzle identifier ", puzzle_id,
               " is not in identifiers.json (", ids_.size(), " names)");
  std::string task;
  const ArcAug a = arc_parse_version_name(ids_[size_t(puzzle_id)], &task);
  const ArcGrid in = arc_deaugment(arc_crop(input), a), out = arc_deaugment(arc_crop(pred), a);
  auto& cands = votes_[task][in.key()];
  auto it =
      std::find_if(cands.begin(), cands.end(), [&](const Candidate& c) { return c.grid == out; });
  if (it == cands.end()) it = cands.insert(cands.end(), Candidate{out, 0, 0.0});
  it->count++;
  it->q_sum += q;
}

std::vector<ArcVoter::Candidate> ArcVoter::ranked(const std::string& task,
                                                  const ArcGrid& input) const {
  auto t = votes_.find(task);
  if (t == votes_.end()) return {};
  auto in = t->second.find(input.key());
  if (in == t->second.end()) return {};
  std::vector<Candidate> c = in->second;
  std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.q_sum / double(a.count) > b.q_sum / double(b.count);
  });
  return c;
}

ArcVoter::Result ArcVoter::result(const nlohmann::json& test_puzzles,
                                  const std::vector<int>& ks) const {
  Result r;
  r.ks = ks;
  r.pass_trm.assign(ks.size(), 0.0);
  r.pass_hrm.assign(ks.size(), 0.0);
  r.submission = nlohmann::json::object();
  for (const auto& [name, puzzle] : test_puzzles.items()) {
    const ArcTask task = task_from_json(puzzle, name, "test puzzle " + name);
    std::vector<int> solved(ks.size(), 0);
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& pair : task.test) {
      const std::vector<Candidate> c = ranked(name, pair.input);
      r.test_inputs++;
      if (c.empty()) {
        // Kaggle wants every test input answered; the reference leaves these out.
        r.unanswered++;
        const nlohmann::json none = {{0}};
        attempts.push_back({{"attempt_1", none}, {"attempt_2", none}});
        continue;
      }
      for (size_t k = 0; k < ks.size(); ++k)
        for (size_t i = 0; i < c.size() && int(i) < ks[k]; ++i)
          if (c[i].grid == pair.output) {
            solved[k]++;
            break;
          }
      attempts.push_back(
          {{"attempt_1", arc_grid_to_json(c[0].grid)},
           {"attempt_2", arc_grid_to_json(c[std::min<size_t>(1, c.size() - 1)].grid)}});
    }
    r.submission[name] = attempts;
    r.tasks++;
    for (size_t k = 0; k < ks.size(); ++k) {
      r.pass_trm[k] += double(solved[k]) / double(task.test.size());
      r.pass_hrm[k] += solved[k] == int(task.test.size());
    }
  }
  for (size_t k = 0; k < ks.size(); ++k) {
    r.pass_trm[k] /= double(std::max<int64_t>(r.tasks, 1));
    r.pass_hrm[k] /= double(std::max<int64_t>(r.tasks, 1));
  }
  return r;
}

nlohmann::json ArcVoter::Result::to_json() const {
  nlohmann::json j{{"tasks", tasks}, {"test_inputs", test_inputs}, {"unanswered", unanswered}};
  for (size_t k = 0; k < ks.size(); ++k) {
    j["pass@" + std::to_string(ks[k])] = pass_trm[k];
    j["hrm.pass@" + std::to_string(ks[k])] = pass_hrm[k];
  }
  return j;
}

nlohmann::json arc_test_puzzles(const std::string& dir, const DatasetSplit& test,
                                const std::vector<std::string>& identifiers) {
  if (fs::exists(dir + "/test_puzzles.json")) return read_json_file(dir + "/test_puzzles.json");
  // HRM builds: the ground truth is the unaugmented test rows.
  nlohmann::json tp = nlohmann::json::object();
  const int64_t L = test.meta.seq_len;
  std::vector<int32_t> in(static_cast<size_t>(L)), out(static_cast<size_t>(L));
  for (int64_t p = 0; p < test.puzzles(); ++p) {
    const int32_t id = test.puzzle_identifiers[size_t(p)];
    PONDER_CHECK(id >= 0 && size_t(id) < identifiers.size(), dir,
                 "/identifiers.json: no name for puzzle id ", id);
    std::string task;
    if (!arc_parse_version_name(identifiers[size_t(id)], &task).identity()) continue;
    if (!tp.contains(task))
      tp[task] = {{"train", nlohmann::json::array()}, {"test", nlohmann::json::array()}};
    for (int32_t e = test.puzzle_indices[size_t(p)]; e < test.puzzle_indices[size_t(p) + 1]; ++e) {
      std::copy_n(test.inputs.begin() + e * L, L, in.begin());
      std::copy_n(test.labels.begin() + e * L, L, out.begin());
      tp[task]["test"].push_back({{"input", arc_grid_to_json(arc_crop(in.data()))},
                                  {"output", arc_grid_to_json(arc_crop(out.data()))}});
    }
  }
  PONDER_CHECK(!tp.empty(), dir,
               ": no test_puzzles.json and no unaugmented test rows to score against");
  return tp;
}

}  // namespace ponder
