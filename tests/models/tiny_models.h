// tiny_models.h — the small configuration every model family is tested at (test_models, test_models_cuda).
#pragma once

#include "models/registry.h"

namespace ssmlab::test {

// vocab 11, width 16, 2 layers, 4 heads; Mamba: 4 states (32 inner channels: one CUDA scan warp);
// Mamba-2: head dim 8, chunk 4.
inline models::ModelConfig tiny_model_config() {
  models::ModelConfig c;
  c.vocab_size = 11;
  c.d_model = 16;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_state = 4;
  c.headdim = 8;
  c.chunk_size = 4;
  return c;
}

}  // namespace ssmlab::test
