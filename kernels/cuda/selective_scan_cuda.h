// selective_scan_cuda.h — params struct and launchers of the CUDA selective scan (selective_scan_cuda.cu).
// Pure CUDA: raw pointers, no ATen, so the .cu compiles wherever nvcc exists (CI checks it without a GPU).
// The LibTorch binding (kernels/selective_scan_cuda.cpp) validates shapes and fills this struct.
//
// Legend: Bt batch, D channels, L length, N states (kScanMaxN per launch, see n0), G groups of B/C.
// Layouts (all contiguous, L innermost):
//   u, delta, z, out, du, ddelta, dz, dout : (Bt, D, L)   elem_t = float or bf16
//   B, C : (Bt, G, N, L) elem_t (shared B/C is G = 1)      dB, dC : (Bt, G, N, L) float, zeroed, atomically summed
//   A : (D, N) float   D_skip, delta_bias : (D) float     dA : (D, N), dD, ddelta_bias : (D) float, zeroed
//   last_state : (Bt, D, N) float       chunk_states : (Bt, D, ceil(L / kScanChunk), N) float — the state at
//   each chunk's start, written by the forward when non-null and read by the backward (no Bt·D·L·N memory).
#pragma once

#include <cuda_runtime_api.h>

namespace ssmlab::kernels::cuda {

constexpr int kScanMaxN = 16;    // states per launch, held in registers per thread (larger N: several launches)
constexpr int kScanChunk = 32;   // timesteps per shared-memory tile (and per saved state)
constexpr int kScanChannels = 32;  // channels per block (one warp): D / G must be a multiple

struct ScanParams {
  int batch = 0, dim = 0, seqlen = 0, dstate = 0, groups_B = 1, groups_C = 1;
  bool bf16 = false;           // elem_t: false → float, true → __nv_bfloat16
  bool delta_softplus = false;
  // State slice of this launch: states n0 .. n0 + kScanMaxN - 1 of dstate (A, B, C, states, dA, dB, dC are
  // indexed with the full dstate). N > kScanMaxN runs one launch per slice on one stream; then the
  // per-slice partial results are summed in fp32 (y_partial, accumulate_f32) and the z gate is applied
  // by the caller (z = nullptr here), D_skip/dD given to the first slice only.
  int n0 = 0;
  float* y_partial = nullptr;  // forward: when set, y (pre-gate, + D·u if D_skip) goes here instead of out:
                               // written by the slice with n0 = 0, added by the others
  bool accumulate_f32 = false; // backward: du, ddelta are float*, written by slice 0 and added by the others
  // forward inputs
  const void* u = nullptr;
  const void* delta = nullptr;
  const void* z = nullptr;     // optional
  const void* B = nullptr;
  const void* C = nullptr;
  const float* A = nullptr;
  const float* D_skip = nullptr;      // optional
  const float* delta_bias = nullptr;  // optional
  // forward outputs
  void* out = nullptr;
  float* last_state = nullptr;
  float* chunk_states = nullptr;      // optional in forward, required in backward
  // backward
  const void* dout = nullptr;
  const float* dlast = nullptr;       // optional gradient of last_state
  void* du = nullptr;
  void* ddelta = nullptr;
  void* dz = nullptr;                 // when z
  float* dA = nullptr;
  float* dB = nullptr;
  float* dC = nullptr;
  float* dD = nullptr;                // when D_skip
  float* ddelta_bias = nullptr;       // when delta_bias
};

// Both return the launch's error (cudaSuccess when queued fine) and never synchronize.
cudaError_t scan_fwd_launch(const ScanParams& p, cudaStream_t stream);
cudaError_t scan_bwd_launch(const ScanParams& p, cudaStream_t stream);

// Causal depthwise conv1d + SiLU (Mamba's short convolution), conv1d_cuda.cu.
//   x, out, dout, dx : (Bt, D, L) elem_t;  weight : (D, W) float, W ≤ 4;  bias : (D) float (optional)
//   out[b,d,t] = silu(bias[d] + Σ_k weight[d,k] · x[b,d,t-W+1+k])  (x before 0 is zero)
//   dweight (D, W), dbias (D): float, zeroed, atomically summed.
struct ConvParams {
  int batch = 0, dim = 0, seqlen = 0, width = 0;
  bool bf16 = false, silu = true;
  const void* x = nullptr;
  const float* weight = nullptr;
  const float* bias = nullptr;
  void* out = nullptr;
  const void* dout = nullptr;
  void* dx = nullptr;
  float* dweight = nullptr;
  float* dbias = nullptr;
};
cudaError_t conv1d_fwd_launch(const ConvParams& p, cudaStream_t stream);

// One decode step of the causal conv1d (+ SiLU), in place (Dao-AILab/causal-conv1d's causal_conv1d_update):
//   conv_state (Bt, D, W) elem_t, newest input last: shifted left by one, x appended;
//   out[b, d] = silu(bias[d] + Σ_k weight[d, k] · conv_state[b, d, k])   (after the shift)
//   x (Bt, D) elem_t, rows x_row_stride elements apart (a view into in_proj's output); out (Bt, D) elem_t
//   contiguous; weight (D, W) float, W ≤ 4; bias (D) float (optional).
struct ConvUpdateParams {
  int batch = 0, dim = 0, width = 0;
  long long x_row_stride = 0;
  bool bf16 = false, silu = true;
  void* conv_state = nullptr;
  const void* x = nullptr;
  const float* weight = nullptr;
  const float* bias = nullptr;
  void* out = nullptr;
};
cudaError_t conv1d_update_launch(const ConvUpdateParams& p, cudaStream_t stream);
cudaError_t conv1d_bwd_launch(const ConvParams& p, cudaStream_t stream);

}  // namespace ssmlab::kernels::cuda
