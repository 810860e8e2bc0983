// The CUDA backend's device, stream, cuBLAS handle and memory. Memory comes from the stream's
// pool (cudaMallocAsync), so the carry and scratch buffers a step allocates cost no device-wide
// synchronisation; copies to the host wait for the stream, copies from it are stream-ordered.
#include <cstdio>

#include "core/error.h"
#include "ops/cuda/cuda_ops.h"

namespace ponder {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

void cublas_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLAS: ") + what + ": " + cublasGetStatusString(s));
}

void cuda_check_launch(const char* kernel) {
  cuda_check(cudaGetLastError(), kernel);
}

int cuda_device_count() {
  int n = 0;
  // No driver, no device, or a driver older than the runtime: all mean "no usable GPU".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return 0;
  }
  return n;
}

std::unique_ptr<Ops> make_cuda_ops(MatmulPrecision precision, int device) {
  return std::make_unique<CudaOps>(precision, device);
}

CudaOps::CudaOps(MatmulPrecision precision, int device) : precision_(precision), device_(device) {
  const int n = cuda_device_count();
  PONDER_CHECK(n > 0,
               "--device cuda: no CUDA GPU is visible to this process (no NVIDIA driver, "
               "no GPU, or CUDA_VISIBLE_DEVICES hides them); run on the CPU with "
               "--device cpu");
  PONDER_CHECK(device >= 0 && device < n, "--device cuda: GPU ", device, " requested, but only ", n,
               " visible");
  cuda_check(cudaSetDevice(device), "cudaSetDevice");
  // Freed blocks stay in the stream's pool instead of going back to the driver at every
  // synchronisation, so per-step buffers are reused rather than reallocated.
  cudaMemPool_t pool;
  cuda_check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
  uint64_t keep = UINT64_MAX;
  cuda_check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
             "cudaMemPoolSetAttribute");
  cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  cublas_check(cublasCreate(&blas_), "cublasCreate");
  cublas_check(cublasSetStream(blas_, stream_), "cublasSetStream");
  // fp32 GEMMs stay fp32 (no TF32), so that --matmul fp32 means the same on every backend.
  cublas_check(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
}

CudaOps::~CudaOps() {
  for (Scratch& s : scratch_)
    if (s.p) cudaFreeAsync(s.p, stream_);
  cudaStreamSynchronize(stream_);
  cublasDestroy(blas_);
  cudaStreamDestroy(stream_);
}

void* CudaOps::alloc(size_t bytes) {
  void* p = nullptr;
  const size_t n = bytes ? bytes : 1;
  cudaError_t e = cudaMallocAsync(&p, n, stream_);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not to be blamed on the next kernel launch
    throw std::bad_alloc();
  }
  cuda_check(e, "cudaMallocAsync");
  cuda_check(cudaMemsetAsync(p, 0, n, stream_), "cudaMemsetAsync");
  return p;
}

void CudaOps::free(void* p) {
  cudaFreeAsync(p, stream_);
}

void CudaOps::upload(void* dst, const void* host_src, size_t bytes) {
  if (!bytes) return;
  cuda_check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  // The host buffer may be reused as soon as we return.
  cuda_check(cudaStreamSynchronize(stream_), "upload");
}

void CudaOps::download(void* host_dst, const void* src, size_t bytes) {
  if (!bytes) return;
  cuda_check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
  cuda_check(cudaStreamSynchronize(stream_), "download");
}

void CudaOps::copy(void* dst, const void* src, size_t bytes) {
  if (dst == src || !bytes) return;
  cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
}

void CudaOps::synchronize() {
  cuda_check(cudaStreamSynchronize(stream_), "synchronize");
}

void* CudaOps::scratch(int slot, size_t bytes) {
  Scratch& s = scratch_[slot];
  if (s.bytes < bytes) {
    if (s.p) cuda_check(cudaFreeAsync(s.p, stream_), "cudaFreeAsync");
    s.p = nullptr;
    s.bytes = 0;
    cuda_check(cudaMallocAsync(&s.p, bytes, stream_), "cudaMallocAsync (scratch)");
    s.bytes = bytes;
  }
  return s.p;
}

}  // namespace ponder
