// Subcommands of the `ponder` program. Each add_* registers its options and its callback; errors
// are thrown as ponder::Error and printed once by main().
#pragma once

#include <CLI/CLI.hpp>

#include "ops/ops.h"

namespace ponder::cli {

// The GEMM precision chosen with the global --matmul option, for the backend a command makes.
MatmulPrecision matmul_precision();
// The device chosen with the global --device option.
Device device();
// The backend of --device and --matmul. Under mpirun each process of a machine takes its own GPU
// (its local rank modulo the GPUs it can see).
std::unique_ptr<Ops> make_backend();

void add_step_command(CLI::App& app);
void add_init_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_solve_command(CLI::App& app);
void add_bench_command(CLI::App& app);

}  // namespace ponder::cli
