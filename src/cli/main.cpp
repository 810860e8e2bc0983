// ponder: train, evaluate and run tiny recursive reasoning models (TRM, HRM).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "core/error.h"
#include "dist/comm.h"
#include "perf/peak.h"

namespace ponder::cli {
namespace {
MatmulPrecision g_matmul = MatmulPrecision::F32;
Device g_device = Device::Cpu;
}  // namespace
MatmulPrecision matmul_precision() {
  return g_matmul;
}
Device device() {
  return g_device;
}
std::unique_ptr<Ops> make_backend() {
  // Only a GPU run asks the CUDA runtime anything: a CPU run does not start it.
  if (g_device == Device::Cpu) return make_ops(Device::Cpu, g_matmul);
  const int gpus = cuda_device_count();
  return make_ops(Device::Cuda, g_matmul, gpus > 0 ? Comm::world().local_rank() % gpus : 0);
}
}  // namespace ponder::cli

int main(int argc, char** argv) {
  CLI::App app{"ponder: tiny recursive reasoning models (TRM, HRM) on the CPU and GPU"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "worker threads (default: all cores, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 4096));
  std::string matmul = "fp32";
  app.add_option("--matmul", matmul,
                 "GEMM precision: fp32, or bf16 (operands rounded to bf16, fp32 accumulation; AMX "
                 "where the CPU has it)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  std::string device = "cpu";
  app.add_option("--device", device,
                 "where the model runs: cpu, or cuda (an NVIDIA GPU; under mpirun one per process)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  // Global options may also follow the subcommand (`ponder bench --matmul bf16`).
  app.fallthrough();
  app.parse_complete_callback([&] {
    // Ranks sharing a machine share its cores, unless told otherwise.
    const ponder::Comm& comm = ponder::Comm::world();
    if (threads == 0 && !std::getenv("OMP_NUM_THREADS") && comm.local_size() > 1)
      threads = std::max(1, omp_get_num_procs() / comm.local_size());
    if (threads > 0) omp_set_num_threads(threads);
    ponder::cli::g_matmul =
        matmul == "bf16" ? ponder::MatmulPrecision::BF16 : ponder::MatmulPrecision::F32;
    ponder::cli::g_device = device == "cuda" ? ponder::Device::Cuda : ponder::Device::Cpu;
    // Without AMX, bf16 GEMMs run on the vector units, and only a CPU whose bf16 dot products
    // outrun its FMAs makes them faster than fp32 ones; a short measurement (~0.1 s) tells.
    if (matmul == "bf16" && device == "cpu" && !ponder::cpu_has_amx() && comm.rank() == 0) {
      const double speedup = ponder::bf16_dot_speedup(0.1);
      if (!ponder::bf16_dots_outrun_fp32(speedup)) {
        char dots[64] = "no bf16 dot-product instructions (AVX512-BF16)";
        if (speedup > 0)
          std::snprintf(dots, sizeof dots, "bf16 dot products at %.1fx its fp32 FMA rate", speedup);
        std::fprintf(stderr,
                     "ponder: note: this CPU has no AMX (oneDNN ISA %s) and %s: bf16 GEMMs run "
                     "slower than fp32 ones here (training steps measured 1.5-1.8x slower on "
                     "such a CPU; docs/PERF.md v0.8)\n",
                     ponder::cpu_matmul_isa(), dots);
      }
    }
  });
  ponder::cli::add_step_command(app);
  ponder::cli::add_init_command(app);
  ponder::cli::add_inspect_command(app);
  ponder::cli::add_data_command(app);
  ponder::cli::add_train_command(app);
  ponder::cli::add_eval_command(app);
  ponder::cli::add_solve_command(app);
  ponder::cli::add_bench_command(app);
  // In a run of several processes an error on one rank ends them all, instead of leaving the
  // others waiting in a collective.
  auto fail = [](const char* what) {
    ponder::Comm& comm = ponder::Comm::world();
    if (comm.size() > 1) {
      std::fprintf(stderr, "ponder: error (rank %d of %d): %s\n", comm.rank(), comm.size(), what);
      comm.abort(1);
    }
    std::fprintf(stderr, "ponder: error: %s\n", what);
    return 1;
  };
  try {
    ponder::Comm::world();  // MPI starts before anything else when mpirun launched us
    app.parse(argc, argv);
    ponder::Comm::world().release_gpus();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ponder::Error& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  }
  return 0;
}
