// GEMMs on the GPU through cuBLAS. Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ,
// so each call passes B first. In bf16 (MatmulPrecision::BF16) the operands are rounded into
// dense bf16 staging buffers and multiplied with fp32 accumulation on the tensor cores, the same
// arithmetic as the CPU's bf16 path; in fp32 they are multiplied as they are, without TF32.
#include <cuda_bf16.h>

#include "core/error.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/launch.cuh"

namespace ponder {

namespace {

// Element (b, r, c) of op(X[b]) (R × Cc, op = transpose when `trans`) goes to
// dst[b·dst_batch + r·dst_row + c], converted to T.
template <class T>
__global__ void stage_kernel(T* dst, const float* src, int64_t batch, int64_t stride, int64_t R,
                             int64_t Cc, int64_t ld, bool trans, int64_t dst_row,
                             int64_t dst_batch) {
  const int64_t total = batch * R * Cc;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % Cc, r = (i / Cc) % R, b = i / (Cc * R);
    const float v = src[b * stride + (trans ? c * ld + r : r * ld + c)];
    dst[b * dst_batch + r * dst_row + c] = T(v);
  }
}

template <class T>
void stage(cudaStream_t stream, T* dst, const float* src, int64_t batch, int64_t stride, int64_t R,
           int64_t Cc, int64_t ld, bool trans, int64_t dst_row, int64_t dst_batch) {
  const int64_t total = batch * R * Cc;
  if (total == 0) return;
  const int threads = 256;
  const int blocks = int(std::min<int64_t>((total + threads - 1) / threads, 65535));
  stage_kernel<T><<<blocks, threads, 0, stream>>>(dst, src, batch, stride, R, Cc, ld, trans,
                                                  dst_row, dst_batch);
  cuda_check_launch("stage_kernel");
}

}  // namespace

void CudaOps::gemm(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  PONDER_CHECK(!g.a_bf16 && !g.b_bf16,
               "internal: the CUDA backend multiplies fp32 operands (its bf16_operands() is false)");
  const bool bf16 = precision_ == MatmulPrecision::BF16;
  // A batch accumulating into one C would race in a batched call: it becomes a single GEMM over
  // K·batch, [op(A[0]) … op(A[n−1])]·[op(B[0]); …; op(B[n−1])].
  const bool reduce = g.batch > 1 && g.stride_c == 0;
  PONDER_CHECK(!reduce || g.beta == 1.0f, "internal: a batch accumulating into one C needs beta 1");
  if (g.K == 0) {
    // Nothing to multiply: C = beta·C (cuBLAS would also want leading dimensions ≥ 1).
    if (g.beta == 1.0f) return;
    const int64_t M = g.M, N = g.N, ldc = g.ldc, stride_c = g.stride_c;
    float* C = g.C;
    const float beta = g.beta;
    cuda::for_each(
        stream_, g.batch * M * N,
        [=] __device__(int64_t i) {
          const int64_t j = i % N, r = (i / N) % M, b = i / (M * N);
          float& c = C[b * stride_c + r * ldc + j];
          c = beta == 0.0f ? 0.0f : beta * c;  // beta 0 overwrites, even NaN, as BLAS does
        },
        "gemm (K = 0)");
    return;
  }
  const cudaDataType type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const void *A = g.A, *B = g.B;
  int64_t lda = g.lda, ldb = g.ldb, stride_a = g.stride_a, stride_b = g.stride_b, K = g.K,
          batch = g.batch;
  bool ta = g.trans_a, tb = g.trans_b;
  if (bf16 || reduce) {
    // Dense op(A) [M, K] and op(B) [K, N] per batch item (or side by side along K to reduce).
    const int64_t na = reduce || g.stride_a ? g.batch : 1, nb = reduce || g.stride_b ? g.batch : 1;
    const size_t elem = bf16 ? 2 : 4;
    void* a = scratch(0, size_t(na * g.M * g.K) * elem);
    void* b = scratch(1, size_t(nb * g.K * g.N) * elem);
    const int64_t a_row = reduce ? g.batch * g.K : g.K, a_batch = reduce ? g.K : g.M * g.K;
    const int64_t b_batch = g.K * g.N;
    auto stage_both = [&](auto* a_dst, auto* b_dst) {  // the same layouts in bf16 or fp32
      stage(stream_, a_dst, g.A, na, g.stride_a, g.M, g.K, g.lda, g.trans_a, a_row, a_batch);
      stage(stream_, b_dst, g.B, nb, g.stride_b, g.K, g.N, g.ldb, g.trans_b, g.N, b_batch);
    };
    if (bf16)
      stage_both(static_cast<__nv_bfloat16*>(a), static_cast<__nv_bfloat16*>(b));
    else
      stage_both(static_cast<float*>(a), static_cast<float*>(b));
    A = a;
    B = b;
    ta = tb = false;
    lda = a_row;
    ldb = g.N;
    stride_a = na > 1 && !reduce ? a_batch : 0;
    stride_b = nb > 1 && !reduce ? b_batch : 0;
    if (reduce) {
      K *= g.batch;
      batch = 1;
    }
  }
  const float alpha = g.alpha, beta = g.beta;
  cublas_check(
      cublasGemmStridedBatchedEx(
          blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(g.N), int(g.M),
          int(K), &alpha, B, type, int(ldb), stride_b, A, type, int(lda), stride_a, &beta, g.C,
          CUDA_R_32F, int(g.ldc), g.stride_c, int(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "gemm");
}

namespace {
// One dense row-major product C[M,N] = op(A)·op(B) + beta·C.
GemmArgs dense(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float beta, const float* A,
               int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool a_bf16,
               bool b_bf16) {
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.M = M;
  g.N = N;
  g.K = K;
  g.beta = beta;
  g.A = A;
  g.lda = lda;
  g.B = B;
  g.ldb = ldb;
  g.C = C;
  g.ldc = ldc;
  g.a_bf16 = a_bf16;
  g.b_bf16 = b_bf16;
  return g;
}
}  // namespace

void CudaOps::linear(float* y, const float* x, const float* W, int64_t M, int64_t N, int64_t K,
                     bool accumulate, bool x_bf16) {
  gemm(dense(false, true, M, N, K, accumulate ? 1.0f : 0.0f, x, K, W, K, y, N, x_bf16, false));
}

void CudaOps::linear_backward_input(float* dx, const float* dy, const float* W, int64_t M,
                                    int64_t N, int64_t K, bool accumulate, bool dy_bf16) {
  gemm(dense(false, false, M, K, N, accumulate ? 1.0f : 0.0f, dy, N, W, K, dx, K, dy_bf16, false));
}

void CudaOps::linear_backward_weight(float* dW, const float* dy, const float* x, int64_t M,
                                     int64_t N, int64_t K, bool dy_bf16, bool x_bf16) {
  gemm(dense(true, false, N, K, M, 1.0f, dy, N, x, K, dW, K, dy_bf16, x_bf16));
}

}  // namespace ponder
