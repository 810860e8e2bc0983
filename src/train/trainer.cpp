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

struct Trainer::Impl {
  Ops& ops;
  RunConfig cfg;
  const DatasetSplit& data;
  TrainerOptions opt;
  Evaluator evaluate;
  Model model;
  Optimizer optimizer;
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
        carry(make_carry(model, *cfg.train.global_batch_size)),
        batcher(d, *cfg.train.global_batch_size, cfg.train.eval_interval.value_or(cfg.train.epochs),
                uint64_t(cfg.train.seed)) {
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
      progress = load_checkpoint(path("checkpoint.safetensors"), model, optimizer, carry);
      batcher.restore(progress.batcher);
      elapsed_at_start = progress.elapsed_seconds;
    } else {
      PONDER_CHECK(!has_run || opt.force, opt.out,
                   ": holds a run already; pass --resume to continue it or --force to start over");
      fs::create_directories(opt.out);
      if (opt.force) {
        fs::remove(path("metrics.jsonl"));
        fs::remove(path("checkpoint.safetensors"));
        fs::remove(path("model.safetensors"));
      }
    }
    const std::string text = run_config_json(cfg);
    write_file_atomic(path("config.json"), {{text.data(), text.size()}});
    log.open(path("metrics.jsonl"), std::ios::app);
    PONDER_CHECK(log, path("metrics.jsonl"), ": cannot open for writing");
  }

  void checkpoint() {
    progress.batcher = batcher.state();
    progress.elapsed_seconds = elapsed();
    save_checkpoint(path("checkpoint.safetensors"), model, cfg, optimizer, carry, progress);
    last_checkpoint = elapsed();
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

    const double grad_scale = 1.0 / double(*cfg.train.global_batch_size);
    DataBatch db;
    Batch batch;
    for (int64_t chunk = batcher.state().chunk; chunk <= total_chunks; ++chunk) {
      if (batcher.state().chunk != chunk) batcher.start_chunk(chunk);
      while (progress.step < progress.total_steps && batcher.next(&db)) {
        const auto t0 = std::chrono::steady_clock::now();
        batch.B = db.B;
        batch.L = db.L;
        batch.inputs.swap(db.inputs);
        batch.labels.swap(db.labels);
        batch.puzzle_ids.swap(db.puzzle_ids);
        ++progress.step;
        StepOptions so;
        so.train = true;
        so.explore = true;
        so.seed = uint64_t(cfg.train.seed);
        so.step = uint64_t(progress.step);
        so.grad_scale = grad_scale;
        optimizer.zero_grad();
        StepResult r = supervision_step(model, carry, batch, so, optimizer.grads());
        optimizer.update(progress.step, progress.total_steps, carry.data.puzzle_ids,
                         r.dprefix.data());
        report(r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        TrainExit stop = TrainExit::Finished;
        bool stopping = false;
        if (g_signal) {
          stop = TrainExit::Interrupted;
          stopping = true;
        } else if ((opt.minutes > 0 && elapsed() >= opt.minutes * 60) ||
                   (opt.max_steps >= 0 && progress.step >= opt.max_steps)) {
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
          std::fprintf(stderr, "%s at step %lld; checkpoint %s (continue with --resume)\n",
                       stop == TrainExit::Interrupted ? "interrupted" : "budget reached",
                       (long long)progress.step, path("checkpoint.safetensors").c_str());
          return stop;
        }
        if (elapsed() - last_checkpoint >= opt.checkpoint_minutes * 60) checkpoint();
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
