// smt.h — the Stride Memory Transformer (SMT): a GPT-2 decoder that reads a short window of recent
// token embeddings plus the outputs of a Mamba memory, which is written every `stride` tokens with an
// attention-pooled summary of the window. docs/smt.md.
//
// Sources: the SMT reference code's README and defaults (StrideMemoryTransformer, SMTConfig with
// n_ssm_outputs = 15, m_input_tokens = 50, stride = 16; WindowedTransformer = pretrained GPT-2;
// AttentionPooling; SSMMemory = mamba-130m); GPT-2 (Radford et al. 2019) and Mamba (Gu & Dao 2023)
// are models/transformer.h and models/mamba.h unchanged; truncated BPTT with the state detached at
// segment boundaries as in Transformer-XL (Dai et al. 2019, Section 3.2).
//
// Legend: B batch, L sequence length, D d_model (the transformer's = the memory's), V vocabulary,
// n memory slots (n_ssm_outputs), m token slots (m_input_tokens), W = n + m window, s stride,
// C chunk length, M_w the memory output of write w (w = 0, 1, ...), E(x) token embedding (wte).
//
// ---- The definition (sequential mode), for t = 0 .. L-1 --------------------------------------
//   w(t) = writes before t = #{u : 0 < u < t, u % s == 0} = (t - 1) / s for t >= 1, 0 for t = 0
//   j = min(w(t), n),  k = min(t + 1, m)
//   window_t = [ M_{w-j} .. M_{w-1} | E(x_{t-k+1}) .. E(x_t) ]                     (j + k, D)
//   h = GPT2(window_t): learned positions 0 .. j+k-1, causal, after the final LayerNorm (j + k, D)
//   logits_t = h[j+k-1] · wte^T                                       (V), the head tied to wte
//   if t > 0 and t % s == 0:   M_{w(t)} = Mamba.step(Pool(h))          (D), the state carried on
// So token t's prediction never sees its own write, and L tokens make (L - 1) / s writes (63 for
// 1024 with s = 16).
// Padding at the start: a window with fewer than n memory outputs or m tokens is simply shorter: it
// holds the j + k vectors that exist, at positions 0 .. j+k-1, and nothing else is attended to or
// pooled. (The original's window manager is not public; this is ssmlab's choice, documented in
// docs/smt.md.) Chunked mode left-pads such windows to W and masks the pad keys (the InferenceCache
// left padding of models/: positions count from the first real slot), which computes the same thing.
//
// ---- Chunked TBPTT mode -----------------------------------------------------------------------
// Per chunk of C tokens [t0, t0 + C): (1) the writes of the chunk, in order (each needs the window of
// its step, so they are sequential: one GPT-2 pass over one window per write); (2) every window of
// the chunk at once: one unfold over the token embeddings, one over the memory outputs, a gather
// into the compact layout, and one batched GPT-2 pass over (B·C, W, D); the logits of the chunk go
// to the caller (who computes the loss and calls backward); (3) the memory state and the outputs kept
// for the next windows are detached, so no gradient crosses a chunk boundary. In eval mode both modes
// give the same logits (tests/smt: fp32, <= 1e-5).
//
// Pooling (AttentionPooling, d_k = pool_dim): a_i = softmax_i(q · W_k h_i / sqrt(d_k)),
// Pool(h) = Σ_i a_i h_i, with a learned query q (d_k) and key map W_k (d_k, D); parameters "pool.*".
// NOTE: the values are the hidden states themselves (no value projection), so the written vector
// lives in the transformer's output space and the memory needs no input adapter.
//
// Vocabulary: the LM head is the transformer's tied embedding, sized to the tokenizer (GPT-2: 50,257;
// pad = EOS = 50256). The memory takes vectors, never tokens: its own token embedding (the original's
// 50,280 rows, mamba-130m's padded vocabulary) is unused and frozen (requires_grad false, no
// optimizer state); built from scratch it has vocab_size 1 (8 rows after padding).
//
// n_ssm_outputs = 0 is the memory-less ablation "GPT-2 restricted to the m-token window" (no pooling,
// no memory, no writes): smt_train --arch gpt2_window.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/inference_cache.h"
#include "models/mamba.h"
#include "models/transformer.h"

namespace ssmlab::models {

// GPT-2's shape in TransformerOptions (learned positions, tanh GELU, tied head, LayerNorm eps 1e-5).
TransformerOptions gpt2_options(int64_t d_model, int64_t n_layer, int64_t n_head, int64_t vocab_size,
                                int64_t n_positions = 1024);

struct SmtOptions {
  SmtOptions(TransformerOptions transformer = gpt2_options(768, 12, 12, 50257),
             MambaOptions memory = MambaOptions(768, 24, 1))
      : transformer_(std::move(transformer)), memory_(std::move(memory)) {}
  TORCH_ARG(int64_t, n_ssm_outputs) = 15;   // n: memory outputs in the window (0: no memory at all)
  TORCH_ARG(int64_t, m_input_tokens) = 50;  // m: token embeddings in the window
  TORCH_ARG(int64_t, stride) = 16;          // s: write after the logits of t when t > 0 and t % s == 0
  TORCH_ARG(int64_t, pool_dim) = 0;         // d_k of the attention pooling; 0 = D
  TORCH_ARG(double, dropout) = 0.1;         // the transformer's embedding and residual dropout
  TORCH_ARG(TransformerOptions, transformer);
  TORCH_ARG(MambaOptions, memory);          // d_model must equal the transformer's
 public:
  int64_t window() const { return n_ssm_outputs_ + m_input_tokens_; }
  int64_t d_k() const { return pool_dim_ > 0 ? pool_dim_ : transformer_.d_model(); }
  bool has_memory() const { return n_ssm_outputs_ > 0; }
  // Throws std::invalid_argument naming the field: m >= 1, n >= 0, 1 <= stride <= m, D equal for
  // transformer and memory, learned positions >= W, dropout in [0, 1).
  void validate() const;
  // Non-fatal remarks: the original warns unless stride == m / 3 (integer division).
  std::vector<std::string> warnings() const;
};

// Writes before step t, w(t) above, and the writes of a sequence of L tokens: (L - 1) / s.
int64_t smt_writes_before(int64_t t, int64_t stride);
int64_t smt_write_count(int64_t L, int64_t stride);
// What window_t holds: the indices of the memory writes (oldest first) and of the tokens.
struct SmtWindow {
  std::vector<int64_t> writes;  // w-j .. w-1
  std::vector<int64_t> tokens;  // t-k+1 .. t
};
SmtWindow smt_window_at(int64_t t, const SmtOptions& o);

// Attention pooling with a learned query (see above). h (B, S, D) -> (B, D).
class AttentionPoolingImpl : public torch::nn::Module {
 public:
  AttentionPoolingImpl(int64_t d_model, int64_t d_k);
  torch::Tensor forward(const torch::Tensor& h);
  torch::Tensor query;         // (d_k)
  torch::nn::Linear key{nullptr};  // D -> d_k, no bias
};
TORCH_MODULE(AttentionPooling);

enum class SmtMode { Sequential, Chunked };

struct SmtAux {
  int64_t n_writes = 0;       // writes per sequence in this forward
  double memory_norm = 0.0;   // mean L2 norm of the written memory outputs M_w (0 without writes)
};

struct SmtOutput {
  torch::Tensor logits;       // (B, L, V)
  SmtAux aux;
};

class SmtImpl : public torch::nn::Module {
 public:
  // From scratch; or around a loaded GPT-2 (`transformer`) and/or Mamba (`memory`), whose options then
  // replace o.transformer() / o.memory() (a shape mismatch is a std::invalid_argument naming both).
  explicit SmtImpl(SmtOptions o, TransformerLM transformer = nullptr, MambaLM memory = nullptr);

  // tokens (B, L) -> logits (B, L, V). Chunked: chunks of chunk_len tokens (0 = one chunk of L),
  // the memory detached between chunks; the logits of all chunks are concatenated.
  SmtOutput forward(const torch::Tensor& tokens, SmtMode mode = SmtMode::Chunked, int64_t chunk_len = 0);
  // Truncated BPTT: for each chunk, on_chunk(logits (B, C, V), t0) (compute the loss, call backward),
  // then the memory is detached. Returns the aux record of the whole sequence.
  using ChunkFn = std::function<void(const torch::Tensor& logits, int64_t t0)>;
  SmtAux forward_chunks(const torch::Tensor& tokens, int64_t chunk_len, const ChunkFn& on_chunk);

  int64_t vocab_size() const { return options.transformer().vocab_size(); }
  // Trainable parameters per part: transformer, memory (without its unused token embedding), pool.
  nlohmann::json param_counts() const;

  SmtOptions options;
  TransformerLM transformer{nullptr};
  MambaLM memory{nullptr};          // null when n_ssm_outputs = 0
  AttentionPooling pool{nullptr};   // null when n_ssm_outputs = 0

 private:
  struct State;                     // the memory's recurrent cache and its recent outputs
  // emb: embeddings of tokens [lo, lo + emb.size(1)).
  torch::Tensor run_window(const torch::Tensor& emb, int64_t lo, const State& st, int64_t t);  // hidden (B, j+k, D)
  void write(const torch::Tensor& h, State& st);                                              // pool -> memory step
  torch::Tensor chunk_logits(const torch::Tensor& emb, int64_t lo, const State& st, int64_t t0, int64_t t1);  // (B, C, V)
  torch::Tensor head(const torch::Tensor& h_last);                                 // (..., D) -> (..., V)
};
TORCH_MODULE(Smt);

}  // namespace ssmlab::models
