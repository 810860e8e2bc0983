#include "train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/batcher.h"
#include "dist/comm.h"
#include "train/act.h"
#include "train/checkpoint.h"
#include "train/model_file.h"
#include "train/optimizer.h"

namespace ponder {

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  g_signal = sig;
}

// Initialises the weights before the optimizer copies them into the EMA.
Model& initialised(Model& m, int64_t seed) {
  m.init_weights(uint64_t(seed));
  return m;
}

std::string duration_str(double s) {
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

}  // namespace

bool stop_requested() {
  return g_signal != 0;
}

int64_t total_train_steps(const TrainConfig& t, const DatasetMeta& m) {
  return int64_t(double(t.epochs) * double(m.total_groups) * m.mean_puzzle_examples /
                 double(*t.global_batch_size));
}

// What every rank must agree on after a step, combined by a maximum over the ranks.
enum StepFlag { kSignal, kBudget, kPeriodicCheckpoint, kFlags };

struct Trainer::Impl {
  Ops& ops;
  Comm& comm = Comm::world();
  RunConfig cfg;
  const DatasetSplit& data;
  TrainerOptions opt;
  Evaluator evaluate;
  Model model;
  Optimizer optimizer;
  // Data parallel: rank r owns rows [r·B, (r+1)·B) of each global batch; B = global / ranks.
  const int64_t global_batch, local_batch;
  const bool leader = comm.rank() == 0;  // writes logs, checkpoints and models, evaluates
  Carry carry;
  TrainBatcher batcher;
  TrainProgress progress;
  int64_t epochs_per_chunk, total_chunks;
  std::ofstream log;
  std::chrono::steady_clock::time_point session_start;
  double elapsed_at_start = 0;
  double last_checkpoint = 0, last_print = -1;
  bool tty = isatty(2);

  Impl(Ops& o, RunConfig c, const DatasetSplit& d, TrainerOptions options, Evaluator e)
      : ops(o),
        cfg(std::move(c)),
        data(d),
        opt(std::move(options)),
        evaluate(std::move(e)),
        model(o, cfg.model),
        optimizer(initialised(model, cfg.train.seed), cfg.train),
        global_batch(*cfg.train.global_batch_size),
        local_batch(global_batch / comm.size()),
        carry(make_carry(model, local_batch)),
        batcher(d, *cfg.train.global_batch_size, cfg.train.eval_interval.value_or(cfg.train.epochs),
                uint64_t(cfg.train.seed)) {
    comm.require_consistent_launch();
    PONDER_CHECK(global_batch % comm.size() == 0, "global_batch_size ", global_batch,
                 " cannot be split evenly across the ", comm.size(),
                 " processes of this run (the reference requires it too)");
    epochs_per_chunk = cfg.train.eval_interval.value_or(cfg.train.epochs);
    PONDER_CHECK(cfg.train.epochs % epochs_per_chunk == 0, "eval_interval ", epochs_per_chunk,
                 " must divide epochs ", cfg.train.epochs, " (as in the reference)");
    total_chunks = cfg.train.epochs / epochs_per_chunk;
    progress.total_steps = total_train_steps(cfg.train, data.meta);
    PONDER_CHECK(progress.total_steps >= 1, "this run has no training steps: ", cfg.train.epochs,
                 " epochs of ", data.meta.total_groups, " groups at batch ",
                 *cfg.train.global_batch_size);
  }

  std::string path(const char* name) const { return opt.out + "/" + name; }
  double elapsed() const {
    return elapsed_at_start +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start).count();
  }

  void prepare_directory() {
    namespace fs = std::filesystem;
    const bool has_run =
        fs::exists(path("checkpoint.safetensors")) || fs::exists(path("model.safetensors"));
    if (opt.resume) {
      PONDER_CHECK(fs::exists(path("checkpoint.safetensors")), path("checkpoint.safetensors"),
                   ": not found; nothing to resume");
      HostCarry all;
      progress =
          load_checkpoint(path("checkpoint.safetensors"), model, optimizer, global_batch, &all);
      upload_carry(carry, all, comm.rank() * local_batch);
      batcher.restore(progress.batcher);
      elapsed_at_start = progress.elapsed_seconds;
    } else {
      PONDER_CHECK(!has_run || opt.force, opt.out,
                   ": holds a run already; pass --resume to continue it or --force to start over");
      if (!leader) return;
      fs::create_directories(opt.out);
      if (opt.force) {
        fs::remove(path("metrics.jsonl"));
        fs::remove(path("checkpoint.safetensors"));
        fs::remove(path("model.safetensors"));
      }
    }
    if (!leader) return;
    const std::string text = run_config_json(cfg);
    write_file_atomic(path("config.json"), {{text.data(), text.size()}});
    log.open(path("metrics.jsonl"), std::ios::app);
    PONDER_CHECK(log, path("metrics.jsonl"), ": cannot open for writing");
  }

  // Collective: every rank's carry rows go into the checkpoint, which the leader writes.
  void checkpoint() {
    const HostCarry all = gather_carry();
    if (leader) {
      progress.batcher = batcher.state();
      progress.elapsed_seconds = elapsed();
      save_checkpoint(path("checkpoint.safetensors"), model, cfg, optimizer, all, progress);
    }
    last_checkpoint = elapsed();
  }

  // The carry of the global batch: every rank's rows in rank order.
  HostCarry gather_carry() {
    HostCarry mine = download_carry(carry);
    if (comm.size() == 1) return mine;
    HostCarry all;
    all.B = global_batch;
    const int W = comm.size();
    auto gather = [&](auto& local, auto& global) {
      global.resize(local.size() * size_t(W));
      comm.allgather(local.data(), local.size() * sizeof(local[0]), global.data());
    };
    gather(mine.zH, all.zH);
    gather(mine.zL, all.zL);
    gather(mine.steps, all.steps);
    gather(mine.halted, all.halted);
    all.data.B = global_batch;
    all.data.L = mine.data.L;
    gather(mine.data.inputs, all.data.inputs);
    gather(mine.data.labels, all.data.labels);
    gather(mine.data.puzzle_ids, all.data.puzzle_ids);
    return all;
  }

  // Sums the gradients over the ranks and gathers the puzzle rows each rank touched, so that
  // every rank applies the same update as one process with the whole batch.
  void combine_gradients(std::vector<int32_t>* ids, std::vector<float>* dprefix,
                         const StepResult& r) {
    comm.allreduce_sum(model.ops(), optimizer.grads(), model.layout().total());
    ids->resize(size_t(global_batch));
    comm.allgather(carry.data.puzzle_ids.data(), size_t(local_batch) * sizeof(int32_t),
                   ids->data());
    dprefix->resize(r.dprefix.size() * size_t(comm.size()));
    comm.allgather(r.dprefix.data(), r.dprefix.size() * sizeof(float), dprefix->data());
  }

  // The loss and metrics of the whole global batch.
  void combine_metrics(LossResult* loss) {
    LossMetrics& m = loss->metrics;
    double v[] = {loss->total, m.count,   m.accuracy,    m.exact_accuracy, m.q_halt_accuracy,
                  m.steps,     m.lm_loss, m.q_halt_loss, m.q_continue_loss};
    comm.allreduce_sum(v, std::size(v));
    loss->total = v[0];
    m = {v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
  }

  // Runs fn with the EMA weights in the model (when the EMA is on), then restores the live ones.
  template <class F>
  void with_eval_weights(F&& fn) {
    if (!cfg.train.ema) return fn();
    const size_t n = model.layout().total();
    DeviceArray<float> live(ops, n);
    ops.copy(live.data(), model.params(), n * sizeof(float));
    ops.copy(model.params(), optimizer.ema(), n * sizeof(float));
    model.params_changed();
    fn();
    ops.copy(model.params(), live.data(), n * sizeof(float));
    model.params_changed();
  }

  void evaluate_and_save() {
    if (!leader) return;
    if (opt.progress && tty) std::fprintf(stderr, "\n");
    with_eval_weights([&] {
      save_model_file(model, cfg, path("model.safetensors"));
      nlohmann::json rec = evaluate ? evaluate(model) : nlohmann::json();
      if (!rec.is_null()) {
        rec["type"] = "eval";
        rec["step"] = progress.step;
        rec["elapsed"] = elapsed();
        log << rec.dump() << "\n" << std::flush;
        std::fprintf(
            stderr,
            "eval at step %lld: exact %.4f token %.4f (ACT halting: exact %.4f, mean steps %.2f)\n",
            (long long)progress.step, rec.value("exact_accuracy", 0.0),
            rec.value("token_accuracy", 0.0), rec["act"].value("exact_accuracy", 0.0),
            rec["act"].value("mean_steps", 0.0));
        if (rec.contains("arc"))
          std::fprintf(stderr, "  ARC pass@1 %.4f pass@2 %.4f (%lld tasks)\n",
                       rec["arc"].value("pass@1", 0.0), rec["arc"].value("pass@2", 0.0),
                       (long long)rec["arc"].value("tasks", 0));
        if (rec.contains("valid_shortest_path"))
          std::fprintf(stderr, "  valid shortest paths %.4f\n",
                       rec.value("valid_shortest_path", 0.0));
      }
    });
  }

  void report(const StepResult& r, double step_seconds) {
    if (!leader) return;
    const LossMetrics& m = r.loss.metrics;
    const double gbs = double(*cfg.train.global_batch_size), count = std::max(m.count, 1.0);
    const double epoch = double(progress.step) * gbs /
                         (double(data.meta.total_groups) * data.meta.mean_puzzle_examples);
    nlohmann::json rec = {{"type", "train"},
                          {"step", progress.step},
                          {"epoch", epoch},
                          {"lr", optimizer.last_lr()},
                          {"loss", r.loss.total / gbs},
                          {"lm_loss", m.lm_loss / gbs},
                          {"q_halt_loss", m.q_halt_loss / gbs},
                          {"q_continue_loss", m.q_continue_loss / gbs},
                          {"count", m.count},
                          {"accuracy", m.accuracy / count},
                          {"exact_accuracy", m.exact_accuracy / count},
                          {"q_halt_accuracy", m.q_halt_accuracy / count},
                          {"steps", m.steps / count},
                          {"step_seconds", step_seconds},
                          {"elapsed", elapsed()}};
    log << rec.dump() << "\n";
    if (!opt.progress) return;
    const double now = elapsed();
    if (now - last_print < (tty ? 0.5 : 30.0) && progress.step != 1) return;
    last_print = now;
    const double rate = double(progress.step - first_step) / std::max(now - elapsed_at_start, 1e-9);
    double remaining = double(progress.total_steps - progress.step) / std::max(rate, 1e-9);
    if (opt.minutes > 0) remaining = std::min(remaining, opt.minutes * 60 - now);
    std::fprintf(stderr,
                 "%sstep %lld/%lld | epoch %.2f | loss %.4f | acc %.3f exact %.3f | %.2f steps/s | "
                 "ETA %s   %s",
                 tty ? "\r" : "", (long long)progress.step, (long long)progress.total_steps, epoch,
                 r.loss.total / gbs, m.accuracy / count, m.exact_accuracy / count, rate,
                 duration_str(std::max(remaining, 0.0)).c_str(), tty ? "" : "\n");
    log << std::flush;
  }

  int64_t first_step = 0;

  TrainExit run() {
    prepare_directory();
    session_start = std::chrono::steady_clock::now();
    first_step = progress.step;
    last_checkpoint = elapsed();
    if (progress.finished) {
      std::fprintf(stderr, "%s: the run finished already (step %lld)\n", opt.out.c_str(),
                   (long long)progress.step);
      return TrainExit::Finished;
    }
    g_signal = 0;
    auto old_int = std::signal(SIGINT, on_signal);
    auto old_term = std::signal(SIGTERM, on_signal);
    struct Restore {
      decltype(old_int) i, t;
      ~Restore() {
        std::signal(SIGINT, i);
        std::signal(SIGTERM, t);
      }
    } restore{old_int, old_term};

    const double grad_scale = 1.0 / double(global_batch);
    const int64_t first_row = comm.rank() * local_batch;
    DataBatch db;
    Batch global, batch;
    std::vector<int32_t> ids;
    std::vector<float> dprefix;
    for (int64_t chunk = batcher.state().chunk; chunk <= total_chunks; ++chunk) {
      if (batcher.state().chunk != chunk) batcher.start_chunk(chunk);
      while (progress.step < progress.total_steps && batcher.next(&db)) {
        const auto t0 = std::chrono::steady_clock::now();
        global.B = db.B;
        global.L = db.L;
        global.inputs.swap(db.inputs);
        global.labels.swap(db.labels);
        global.puzzle_ids.swap(db.puzzle_ids);
        batch = rows_of(global, first_row, local_batch);
        ++progress.step;
        StepOptions so;
        so.train = true;
        so.explore = true;
        so.seed = uint64_t(cfg.train.seed);
        so.step = uint64_t(progress.step);
        so.first_row = first_row;
        so.grad_scale = grad_scale;
        optimizer.zero_grad();
        StepResult r = supervision_step(model, carry, batch, so, optimizer.grads());
        combine_gradients(&ids, &dprefix, r);
        optimizer.update(progress.step, progress.total_steps, ids, dprefix.data());
        combine_metrics(&r.loss);
        report(r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        // The leader's clock decides budgets and periodic checkpoints; a signal to any rank
        // stops all of them.
        int flags[kFlags] = {g_signal != 0, 0, 0};
        if (leader) {
          flags[kBudget] = (opt.minutes > 0 && elapsed() >= opt.minutes * 60) ||
                           (opt.max_steps >= 0 && progress.step >= opt.max_steps);
          flags[kPeriodicCheckpoint] = elapsed() - last_checkpoint >= opt.checkpoint_minutes * 60;
        }
        comm.allreduce_max(flags, kFlags);
        TrainExit stop = TrainExit::Finished;
        bool stopping = false;
        if (flags[kSignal]) {
          stop = TrainExit::Interrupted;
          stopping = true;
        } else if (flags[kBudget]) {
          stop = TrainExit::Budget;
          stopping = true;
        }
        if (stopping) {
          if (opt.progress && tty) std::fprintf(stderr, "\n");
          if (stop == TrainExit::Budget) {
            evaluate_and_save();
            if (g_signal) stop = TrainExit::Interrupted;  // the evaluation was cut short
          }
          checkpoint();
          if (leader)
            std::fprintf(stderr, "%s at step %lld; checkpoint %s (continue with --resume)\n",
                         stop == TrainExit::Interrupted ? "interrupted" : "budget reached",
                         (long long)progress.step, path("checkpoint.safetensors").c_str());
          return stop;
        }
        if (flags[kPeriodicCheckpoint]) checkpoint();
      }
      if (progress.step >= progress.total_steps || chunk == total_chunks) break;
      if (chunk - 1 >= cfg.train.min_eval_interval) {
        batcher.start_chunk(chunk + 1);  // the checkpoint must point past the finished chunk
        evaluate_and_save();
        checkpoint();
      }
    }
    progress.finished = true;
    evaluate_and_save();
    checkpoint();
    if (leader)
      std::fprintf(stderr, "finished at step %lld; model %s\n", (long long)progress.step,
                   path("model.safetensors").c_str());
    return TrainExit::Finished;
  }
};

Trainer::Trainer(Ops& ops, RunConfig config, const DatasetSplit& train, TrainerOptions options,
                 Evaluator evaluate)
    : impl_(std::make_unique<Impl>(ops, std::move(config), train, std::move(options),
                                   std::move(evaluate))) {}
Trainer::~Trainer() = default;
TrainExit Trainer::run() {
  return impl_->run();
}
Model& Trainer::model() {
  return impl_->model;
}

}  // namespace ponder
