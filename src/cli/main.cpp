// ponder: train, evaluate and run tiny recursive reasoning models (TRM, HRM).
#include <omp.h>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "core/error.h"

namespace ponder::cli {
namespace {
MatmulPrecision g_matmul = MatmulPrecision::F32;
}
MatmulPrecision matmul_precision() {
  return g_matmul;
}
}  // namespace ponder::cli

int main(int argc, char** argv) {
  CLI::App app{"ponder: tiny recursive reasoning models (TRM, HRM) on the CPU"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (default: all cores, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 4096));
  std::string matmul = "fp32";
  app.add_option("--matmul", matmul,
                 "GEMM precision: fp32, or bf16 (operands rounded to bf16, fp32 accumulation; AMX "
                 "where the CPU has it)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  // Global options may also follow the subcommand (`ponder bench --matmul bf16`).
  app.fallthrough();
  app.parse_complete_callback([&] {
    if (threads > 0) omp_set_num_threads(threads);
    ponder::cli::g_matmul =
        matmul == "bf16" ? ponder::MatmulPrecision::BF16 : ponder::MatmulPrecision::F32;
  });
  ponder::cli::add_step_command(app);
  ponder::cli::add_init_command(app);
  ponder::cli::add_inspect_command(app);
  ponder::cli::add_data_command(app);
  ponder::cli::add_train_command(app);
  ponder::cli::add_eval_command(app);
  ponder::cli::add_solve_command(app);
  ponder::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ponder::Error& e) {
    std::fprintf(stderr, "ponder: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "ponder: error: out of memory\n");
    return 1;
  }
  return 0;
}
