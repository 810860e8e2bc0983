// The processes of a data-parallel run. A plain `ponder` is rank 0 of 1 and every collective is
// a copy or nothing; under `mpirun -np N ponder …` (OpenMPI, MPICH, or Slurm's PMI) the ranks
// are the MPI world and the collectives are MPI's. ponder has no networking of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ops/ops.h"

namespace ponder {

class Comm {
 public:
  // The world, initialising MPI on first use when this process was started by an MPI launcher.
  static Comm& world();
  // Fails with a clear message when the environment asks for several processes that this one
  // cannot join: torchrun-style WORLD_SIZE without an MPI launcher, or mpirun with a ponder
  // built without MPI. Training calls it; single-process commands ignore such variables.
  void require_consistent_launch() const;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Processes of this run on this machine (for the default thread count), and this one's index
  // among them (for its GPU).
  int local_size() const { return local_size_; }
  int local_rank() const { return local_rank_; }

  // x = Σ over ranks, in place, bit-identical on every rank.
  void allreduce_sum(float* x, size_t n);
  void allreduce_sum(double* x, size_t n);
  void allreduce_max(int* x, size_t n);  // elementwise
  // The same for x in `ops`' memory: host collectives for the CPU's; for a GPU's, NCCL between
  // the GPUs when ponder was built with it (bootstrapped over MPI), otherwise through the host.
  void allreduce_sum(Ops& ops, float* x, size_t n);
  // Frees the NCCL communicator while the CUDA runtime is still up (before main returns; a
  // static destructor would run after the runtime has shut down).
  void release_gpus();
  // recv (size()·bytes) = every rank's `bytes` of send, in rank order, on every rank.
  void allgather(const void* send, size_t bytes, void* recv);

  // Ends the whole run after an error on one rank, so that the others do not wait forever.
  [[noreturn]] void abort(int code);
  ~Comm();

 private:
  Comm();
  int rank_ = 0, size_ = 1, local_size_ = 1, local_rank_ = 0;
  bool mpi_ = false;
  std::string problem_;
  struct Nccl;  // the NCCL communicator, made on first use
  std::unique_ptr<Nccl> nccl_;
};

}  // namespace ponder
