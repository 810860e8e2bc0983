#include "dist/comm.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"

#ifdef PONDER_HAVE_MPI
#include <mpi.h>
#endif
#ifdef PONDER_HAVE_NCCL
#include <nccl.h>

#include "ops/cuda/cuda_ops.h"
#endif

namespace ponder {

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Whether an MPI launcher started this process (environment of OpenMPI, MPICH/Hydra, PMIx).
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace

#ifdef PONDER_HAVE_NCCL
struct Comm::Nccl {
  ncclComm_t comm = nullptr;
  int device = -1;
  ~Nccl() {
    if (comm) ncclCommDestroy(comm);
  }
};

namespace {
void nccl_check(ncclResult_t r, const char* what) {
  PONDER_CHECK(r == ncclSuccess, "NCCL: ", what, ": ", ncclGetErrorString(r));
}
}  // namespace
#else
struct Comm::Nccl {};
#endif

Comm& Comm::world() {
  static Comm c;
  return c;
}

Comm::Comm() {
  if (!launched_by_mpi()) {
    const int world = env_int("WORLD_SIZE", 1);
    if (world > 1)
      problem_ = "WORLD_SIZE=" + std::to_string(world) +
                 " is set but ponder was not started by an MPI launcher; ponder's data-parallel "
                 "training runs on MPI: start it with `mpirun -np " +
                 std::to_string(world) + " ponder train …`";
    return;
  }
#ifdef PONDER_HAVE_MPI
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) MPI_Init(nullptr, nullptr);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_free(&local);
  mpi_ = true;
#else
  const int world = env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 2));
  if (world > 1)
    problem_ = "started by an MPI launcher with " + std::to_string(world) +
               " processes, but this ponder was built without MPI (install libopenmpi-dev and "
               "rebuild: make build)";
#endif
}

void Comm::require_consistent_launch() const {
  PONDER_CHECK(problem_.empty(), problem_);
}

void Comm::allreduce_sum(Ops& ops, float* x, size_t n) {
  if (size_ == 1) return;
  if (ops.host_memory()) return allreduce_sum(x, n);
#ifdef PONDER_HAVE_NCCL
  if (auto* cuda = dynamic_cast<CudaOps*>(&ops)) {
    if (!nccl_) {
      // NCCL binds to the current device and allocates with plain cudaMalloc: make sure it is
      // this backend's GPU, and hand the stream pool's cached blocks back to the driver first.
      cuda_check(cudaSetDevice(cuda->device()), "cudaSetDevice");
      cuda->synchronize();
      cudaMemPool_t pool;
      cuda_check(cudaDeviceGetDefaultMemPool(&pool, cuda->device()), "cudaDeviceGetDefaultMemPool");
      cuda_check(cudaMemPoolTrimTo(pool, 0), "cudaMemPoolTrimTo");
      // Rank 0's unique id reaches every rank over MPI; then NCCL connects the GPUs itself.
      ncclUniqueId id{};
      if (rank_ == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
      auto nc = std::make_unique<Nccl>();
      nc->device = cuda->device();
      nccl_check(ncclCommInitRank(&nc->comm, size_, id, rank_), "ncclCommInitRank");
      nccl_ = std::move(nc);
    }
    PONDER_CHECK(nccl_->device == cuda->device(), "internal: NCCL set up for GPU ", nccl_->device,
                 ", used from GPU ", cuda->device());
    // A ring all-reduce: every rank ends with the same bits.
    nccl_check(ncclAllReduce(x, x, n, ncclFloat, ncclSum, nccl_->comm, cuda->stream()),
               "ncclAllReduce");
    return;
  }
#endif
  std::vector<float> host(n);
  ops.download(host.data(), x, n * sizeof(float));
  allreduce_sum(host.data(), n);
  ops.upload(x, host.data(), n * sizeof(float));
}

void Comm::release_gpus() {
  nccl_.reset();
}

Comm::~Comm() {
  nccl_.reset();  // before MPI goes
#ifdef PONDER_HAVE_MPI
  if (mpi_) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
#endif
}

#ifdef PONDER_HAVE_MPI
namespace {
// A reduction to rank 0 and a broadcast of its result: every rank gets the same bits whatever
// order MPI's reduction algorithm adds in, so replicated parameters never drift apart.
void sum_everywhere(void* x, size_t n, MPI_Datatype type) {
  PONDER_CHECK(n <= size_t(INT32_MAX), "internal: reduction of ", n, " elements");
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Reduce(rank == 0 ? MPI_IN_PLACE : x, rank == 0 ? x : nullptr, int(n), type, MPI_SUM, 0,
             MPI_COMM_WORLD);
  MPI_Bcast(x, int(n), type, 0, MPI_COMM_WORLD);
}
}  // namespace
#endif

void Comm::allreduce_sum(float* x, size_t n) {
#ifdef PONDER_HAVE_MPI
  if (size_ > 1) sum_everywhere(x, n, MPI_FLOAT);
#endif
}

void Comm::allreduce_sum(double* x, size_t n) {
#ifdef PONDER_HAVE_MPI
  if (size_ > 1) sum_everywhere(x, n, MPI_DOUBLE);
#endif
}

void Comm::allreduce_max(int* x, size_t n) {
#ifdef PONDER_HAVE_MPI
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, x, int(n), MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
}

void Comm::allgather(const void* send, size_t bytes, void* recv) {
#ifdef PONDER_HAVE_MPI
  if (size_ > 1) {
    PONDER_CHECK(bytes <= size_t(INT32_MAX), "internal: allgather of ", bytes, " bytes per rank");
    MPI_Allgather(send, int(bytes), MPI_BYTE, recv, int(bytes), MPI_BYTE, MPI_COMM_WORLD);
    return;
  }
#endif
  if (bytes) std::memmove(recv, send, bytes);
}

void Comm::abort(int code) {
#ifdef PONDER_HAVE_MPI
  if (mpi_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace ponder
