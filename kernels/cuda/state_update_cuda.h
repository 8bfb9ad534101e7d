// state_update_cuda.h — params and launcher of the fused decode step (state_update_cuda.cu), the CUDA path
// of kernels/selective_state_update.h. Pure CUDA (raw pointers, no ATen): compiled wherever nvcc exists.
//   state (Bt, D, N) float, updated in place;  x, dt, z, out (Bt, D) elem_t;  B, C (Bt, N) elem_t;
//   A (D, N) float;  D_skip, dt_bias (D) float (optional);  elem_t = float or bf16. All contiguous, except
//   that rows of B, C and z may be strided (views into a wider projection): their last dim is contiguous and
//   row b starts at b * <x>_row_stride elements.
#pragma once

#include <cuda_runtime_api.h>

namespace ssmlab::kernels::cuda {

struct StateUpdateParams {
  int batch = 0, dim = 0, dstate = 0;
  long long B_row_stride = 0, C_row_stride = 0, z_row_stride = 0;  // elements between batch rows
  bool bf16 = false, dt_softplus = false;
  float* state = nullptr;
  const void* x = nullptr;
  const void* dt = nullptr;
  const void* z = nullptr;            // optional
  const void* B = nullptr;
  const void* C = nullptr;
  const float* A = nullptr;
  const float* D_skip = nullptr;      // optional
  const float* dt_bias = nullptr;     // optional
  void* out = nullptr;
};

// Queues the kernel on `stream` (no synchronization); returns the launch's error.
cudaError_t state_update_launch(const StateUpdateParams& p, cudaStream_t stream);

}  // namespace ssmlab::kernels::cuda
