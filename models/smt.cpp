// smt.cpp — the Stride Memory Transformer (see smt.h for the definition and the shapes).
#include "models/smt.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <stdexcept>

namespace ssmlab::models {

namespace F = torch::nn::functional;

TransformerOptions gpt2_options(int64_t d_model, int64_t n_layer, int64_t n_head, int64_t vocab_size, int64_t n_positions) {
  return TransformerOptions(d_model, n_layer, n_head, vocab_size)
      .pos(PosEncoding::Learned)
      .max_position_embeddings(n_positions)
      .activation(Activation::GeluTanh)
      .tie_embeddings(true)
      .ln_eps(1e-5);
}

void SmtOptions::validate() const {
  auto bad = [](const std::string& m) { throw std::invalid_argument("SMT: " + m); };
  if (m_input_tokens_ < 1) bad("m_input_tokens must be >= 1 (got " + std::to_string(m_input_tokens_) + ")");
  if (n_ssm_outputs_ < 0) bad("n_ssm_outputs must be >= 0 (got " + std::to_string(n_ssm_outputs_) + ")");
  if (stride_ < 1) bad("stride must be >= 1 (got " + std::to_string(stride_) + ")");
  if (has_memory() && stride_ > m_input_tokens_)
    bad("stride " + std::to_string(stride_) + " > m_input_tokens " + std::to_string(m_input_tokens_) +
        ": tokens between two writes would never be in any pooled window");
  if (!(dropout_ >= 0.0 && dropout_ < 1.0)) bad("dropout must be in [0, 1)");
  transformer_.validate();
  if (transformer_.pos() == PosEncoding::Learned && transformer_.max_position_embeddings() < window())
    bad("the transformer has " + std::to_string(transformer_.max_position_embeddings()) +
        " learned positions, fewer than the window n + m = " + std::to_string(window()));
  if (has_memory() && memory_.d_model() != transformer_.d_model())
    bad("the memory's d_model " + std::to_string(memory_.d_model()) + " differs from the transformer's " +
        std::to_string(transformer_.d_model()) + " (the memory reads and writes transformer-sized vectors)");
}

std::vector<std::string> SmtOptions::warnings() const {
  std::vector<std::string> w;
  if (has_memory() && stride_ != m_input_tokens_ / 3)
    w.push_back("SMT: stride " + std::to_string(stride_) + " != m_input_tokens / 3 = " + std::to_string(m_input_tokens_ / 3) +
                " (the original's recommended ratio: every token is in about three pooled windows)");
  return w;
}

int64_t smt_writes_before(int64_t t, int64_t stride) { return t >= 1 ? (t - 1) / stride : 0; }
int64_t smt_write_count(int64_t L, int64_t stride) { return smt_writes_before(L, stride); }

SmtWindow smt_window_at(int64_t t, const SmtOptions& o) {
  SmtWindow win;
  if (o.has_memory()) {
    const int64_t w = smt_writes_before(t, o.stride()), j = std::min(w, o.n_ssm_outputs());
    for (int64_t i = w - j; i < w; ++i) win.writes.push_back(i);
  }
  const int64_t k = std::min(t + 1, o.m_input_tokens());
  for (int64_t i = t - k + 1; i <= t; ++i) win.tokens.push_back(i);
  return win;
}

// ---- attention pooling ----------------------------------------------------------------------
AttentionPoolingImpl::AttentionPoolingImpl(int64_t d_model, int64_t d_k) {
  query = register_parameter("query", torch::randn({d_k}) * 0.02);
  key = register_module("key", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_k).bias(false)));
}

torch::Tensor AttentionPoolingImpl::forward(const torch::Tensor& h) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(query.size(0)));
  auto scores = torch::matmul(key(h), query.to(h.scalar_type())) * scale;    // (B, S)
  auto a = torch::softmax(scores.to(torch::kFloat32), -1).to(h.scalar_type());  // (B, S)
  return torch::matmul(a.unsqueeze(1), h).squeeze(1);                        // (B, D)
}

// ---- the model -------------------------------------------------------------------------------
struct SmtImpl::State {
  InferenceCache cache;                 // the memory's conv and SSM states, B rows
  std::vector<torch::Tensor> outs;      // M_base .. M_{base + outs.size() - 1}, each (B, D)
  int64_t base = 0;
  int64_t n_writes = 0;
  torch::Tensor norm_sum;               // Σ_w mean_b |M_w| (a tensor: no device sync per write)
};

SmtImpl::SmtImpl(SmtOptions o, TransformerLM t, MambaLM m) : options(std::move(o)) {
  if (t) options.transformer(t->options);
  if (m) options.memory(m->options);
  options.validate();
  for (const auto& w : options.warnings()) std::cerr << "warning: " << w << "\n";
  if (!t) t = TransformerLM(options.transformer());
  transformer = register_module("transformer", t);
  // Dropout is a training-time setting of this model, not of the loaded folder.
  transformer->options.dropout(options.dropout());
  for (const auto& l : *transformer->gpt_neox->layers) l->as<TransformerLayerImpl>()->dropout = options.dropout();
  if (!options.has_memory()) return;
  if (!m) m = MambaLM(MambaOptions(options.memory()).vocab_size(1));
  memory = register_module("memory", m);
  memory->backbone->embeddings->weight.set_requires_grad(false);  // the memory never reads tokens
  if (memory->lm_head) memory->lm_head->weight.set_requires_grad(false);
  pool = register_module("pool", AttentionPooling(options.transformer().d_model(), options.d_k()));
}

nlohmann::json SmtImpl::param_counts() const {
  auto trainable = [](const torch::nn::Module& mod) {
    int64_t n = 0;
    for (const auto& p : mod.parameters()) n += p.requires_grad() ? p.numel() : 0;
    return n;
  };
  nlohmann::json j{{"transformer", trainable(*transformer)},
                   {"memory", memory ? trainable(*memory) : 0},
                   {"pool", pool ? trainable(*pool) : 0}};
  j["total"] = j["transformer"].get<int64_t>() + j["memory"].get<int64_t>() + j["pool"].get<int64_t>();
  return j;
}

torch::Tensor SmtImpl::head(const torch::Tensor& h_last) { return F::linear(h_last, transformer->lm_head_weight()); }

// emb: embeddings of tokens [lo, lo + emb.size(1)); the window of step t, unpadded (j + k vectors).
torch::Tensor SmtImpl::run_window(const torch::Tensor& emb, int64_t lo, const State& st, int64_t t) {
  const SmtWindow win = smt_window_at(t, options);
  std::vector<torch::Tensor> parts;
  for (int64_t w : win.writes) parts.push_back(st.outs[w - st.base].to(emb.scalar_type()).unsqueeze(1));  // (B, 1, D)
  const int64_t k = static_cast<int64_t>(win.tokens.size());
  parts.push_back(emb.narrow(1, t - k + 1 - lo, k));                                     // (B, k, D)
  return transformer->forward_features(torch::cat(parts, 1));                            // (B, j + k, D)
}

void SmtImpl::write(const torch::Tensor& h, State& st) {
  auto x = pool->forward(h);                                                             // (B, D)
  int64_t i = 0;
  for (const auto& l : *memory->backbone->layers) x = l->as<MambaLayerImpl>()->step(x, st.cache.layers[i++]);
  auto out = memory->backbone->norm_f(x);                                                // (B, D) = M_w
  st.outs.push_back(out);
  auto nrm = out.detach().to(torch::kFloat32).norm(2, -1).mean();
  st.norm_sum = st.norm_sum.defined() ? st.norm_sum + nrm : nrm;
  ++st.n_writes;
}

// Every window of steps [t0, t1) in one batched pass. emb: tokens [lo, t1), lo = max(0, t0 - m + 1).
torch::Tensor SmtImpl::chunk_logits(const torch::Tensor& emb, int64_t lo, const State& st, int64_t t0, int64_t t1) {
  const int64_t n = options.n_ssm_outputs(), m = options.m_input_tokens(), W = options.window();
  const int64_t B = emb.size(0), C = t1 - t0, D = emb.size(2);
  auto zeros = [&](int64_t rows) { return torch::zeros({B, rows, D}, emb.options()); };
  // Token part: rows t - m + 1 .. t for each t, zeros before the sequence start.
  auto tok = emb;                                                                        // (B, t1 - lo, D)
  const int64_t missing = (m - 1) - (t0 - lo);
  if (missing > 0) tok = torch::cat({zeros(missing), tok}, 1);                          // (B, m - 1 + C, D)
  auto windows = tok.unfold(1, m, 1).permute({0, 1, 3, 2});                             // (B, C, m, D)
  std::vector<int64_t> j_of(C, 0), k_of(C);
  for (int64_t c = 0; c < C; ++c) {
    const auto win = smt_window_at(t0 + c, options);
    j_of[c] = static_cast<int64_t>(win.writes.size());
    k_of[c] = static_cast<int64_t>(win.tokens.size());
  }
  if (n > 0) {  // memory part: M_{w-n} .. M_{w-1} for each t, zeros before the first write
    std::vector<torch::Tensor> outs;
    for (const auto& o : st.outs) outs.push_back(o.to(emb.scalar_type()));
    auto M = outs.empty() ? zeros(0) : torch::stack(outs, 1);                            // (B, cnt, D)
    auto all = torch::cat({zeros(n), M}, 1).unfold(1, n, 1).permute({0, 1, 3, 2});      // (B, cnt + 1, n, D)
    std::vector<int64_t> start(C);
    for (int64_t c = 0; c < C; ++c) start[c] = smt_writes_before(t0 + c, options.stride()) - st.base;
    auto mem = all.index_select(1, torch::tensor(start, torch::kLong).to(emb.device()));  // (B, C, n, D)
    windows = torch::cat({mem, windows}, 2);                                             // (B, C, W, D)
  }
  // Compact layout: the j + k real slots at the end, left-padded (pads masked, positions from the first
  // real slot), so that each window is the sequential mode's window.
  std::vector<int64_t> idx(C * W), lengths(B * C);
  int64_t max_pad = 0;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t j = j_of[c], k = k_of[c], P = W - j - k;
    max_pad = std::max(max_pad, P);
    for (int64_t s = 0; s < W; ++s) {
      const int64_t r = s - P;
      idx[c * W + s] = r < 0 ? 0 : (r < j ? n - j + r : n + m - k + (r - j));
    }
    for (int64_t b = 0; b < B; ++b) lengths[b * C + c] = j + k;
  }
  auto gather_idx = torch::tensor(idx, torch::kLong).to(emb.device()).view({1, C, W, 1}).expand({B, C, W, D});
  auto x = windows.gather(2, gather_idx).reshape({B * C, W, D});                        // (B·C, W, D)
  torch::Tensor h;
  if (max_pad == 0) {
    h = transformer->forward_features(x);                                                // (B·C, W, D)
  } else {
    auto pads = InferenceCache::allocate(B * C, W, options.transformer().n_layer(), emb.device());  // no KV buffers
    pads.set_left_padding(lengths, W);
    h = transformer->forward_features(x, &pads);
  }
  return head(h.select(1, W - 1)).view({B, C, -1});                                     // (B, C, V)
}

SmtAux SmtImpl::forward_chunks(const torch::Tensor& tokens, int64_t chunk_len, const ChunkFn& on_chunk) {
  const int64_t B = tokens.size(0), L = tokens.size(1), m = options.m_input_tokens(), n = options.n_ssm_outputs();
  const int64_t C = chunk_len > 0 ? chunk_len : L;
  State st;
  if (options.has_memory()) st.cache = memory->new_cache(B, 1);
  for (int64_t t0 = 0; t0 < L; t0 += C) {
    const int64_t t1 = std::min(L, t0 + C), lo = std::max<int64_t>(0, t0 - m + 1);
    // Embeddings per chunk, so that each chunk's graph is its own (backward frees it).
    auto emb = transformer->gpt_neox->embed_in(tokens.slice(1, lo, t1));                 // (B, t1 - lo, D)
    if (options.has_memory())                                                             // (1) the writes, in order
      for (int64_t t = std::max<int64_t>(t0, 1); t < t1; ++t)
        if (t % options.stride() == 0) write(run_window(emb, lo, st, t), st);
    on_chunk(chunk_logits(emb, lo, st, t0, t1), t0);                                     // (2) every window at once
    if (!options.has_memory()) continue;                                                  // (3) detach the memory
    const int64_t keep = std::min<int64_t>(n, static_cast<int64_t>(st.outs.size()));
    std::vector<torch::Tensor> kept;
    for (size_t i = st.outs.size() - keep; i < st.outs.size(); ++i) kept.push_back(st.outs[i].detach());
    st.base += static_cast<int64_t>(st.outs.size()) - keep;
    st.outs = std::move(kept);
    for (auto& l : st.cache.layers) {
      l.conv_state = l.conv_state.detach();
      l.ssm_state = l.ssm_state.detach();
    }
  }
  SmtAux aux;
  aux.n_writes = st.n_writes;
  aux.memory_norm = st.n_writes > 0 ? st.norm_sum.item<double>() / static_cast<double>(st.n_writes) : 0.0;
  return aux;
}

SmtOutput SmtImpl::forward(const torch::Tensor& tokens, SmtMode mode, int64_t chunk_len) {
  SmtOutput out;
  if (mode == SmtMode::Chunked) {
    std::vector<torch::Tensor> parts;
    out.aux = forward_chunks(tokens, chunk_len, [&](const torch::Tensor& logits, int64_t) { parts.push_back(logits); });
    out.logits = torch::cat(parts, 1);                                                   // (B, L, V)
    return out;
  }
  const int64_t B = tokens.size(0), L = tokens.size(1);
  State st;
  if (options.has_memory()) st.cache = memory->new_cache(B, 1);
  auto emb = transformer->gpt_neox->embed_in(tokens);                                    // (B, L, D)
  std::vector<torch::Tensor> logits;
  for (int64_t t = 0; t < L; ++t) {
    auto h = run_window(emb, 0, st, t);                                                  // (B, j + k, D)
    logits.push_back(head(h.select(1, h.size(1) - 1)));                                  // (B, V)
    if (options.has_memory() && t > 0 && t % options.stride() == 0) write(h, st);        // after the logits of t
  }
  out.logits = torch::stack(logits, 1);                                                  // (B, L, V)
  out.aux.n_writes = st.n_writes;
  out.aux.memory_norm = st.n_writes > 0 ? st.norm_sum.item<double>() / static_cast<double>(st.n_writes) : 0.0;
  return out;
}

}  // namespace ssmlab::models
