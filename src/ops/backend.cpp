// Choosing a backend. The CUDA one exists only in builds that found the CUDA toolkit; without
// it, asking for a GPU is an error that says how to get one.
#include "core/error.h"
#include "ops/ops.h"

namespace ponder {

#ifdef PONDER_HAVE_CUDA
std::unique_ptr<Ops> make_cuda_ops(MatmulPrecision precision, int device);  // ops/cuda/device.cu
#else
int cuda_device_count() {
  return 0;
}
#endif

std::unique_ptr<Ops> make_ops(Device device, MatmulPrecision precision, int gpu) {
  if (device == Device::Cpu) return make_cpu_ops(precision);
#ifdef PONDER_HAVE_CUDA
  return make_cuda_ops(precision, gpu);
#else
  fail(
      "--device cuda: this ponder was built without the CUDA backend (no CUDA toolkit was found "
      "when it was configured); install the toolkit, set CUDA_HOME, and rebuild (make build)");
#endif
}

}  // namespace ponder
