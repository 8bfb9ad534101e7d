// models.cpp: GPT-NeoX, GPT-2 and Mamba with Hugging Face parameter names; cached generation.
//
// Each forward mirrors the transformers implementation operation by operation (same op order where
// it matters for fp32 rounding), so logits agree to ~1e-6 on the fixtures:
//   GPT-NeoX: modeling_gpt_neox.py (fused QKV viewed as (nh, 3*hd), rotate_half RoPE on the first
//             rotary_ndims of each head, parallel residual x + attn(ln1 x) + mlp(ln2 x)).
//   GPT-2:    modeling_gpt2.py (Conv1D = x @ W + b with W stored (in, out); q|k|v split by columns;
//             learned positions; gelu_new).
//   Mamba:    modeling_mamba.py slow_forward (causal depthwise conv, selective scan
//             h_t = exp(dt A) h_{t-1} + dt B_t u_t, y_t = C_t h_t + D u_t, gated by silu(z)).
// Mamba: loaded by default into models/' MambaLM (ssmlab::models, same HF parameter names, step()
// for O(1) decoding). MambaReference below is a second, self-contained implementation written
// straight from transformers' slow_forward; LoadOptions::reference_mamba selects it, and the parity
// tests run both, so a change in models/ or kernels/ that breaks parity shows which side moved.
#include "ssmlab/hf/models.h"

#include "models/mamba.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

namespace fs = std::filesystem;
namespace F = torch::nn::functional;
using torch::Tensor;

namespace ssmlab::hf {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

Tensor activate(const Tensor& x, const std::string& act) {
  if (act == "gelu") return torch::gelu(x);
  if (act == "gelu_new" || act == "gelu_fast" || act == "gelu_pytorch_tanh") {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as transformers' NewGELUActivation
    return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * torch::pow(x, 3.0))));
  }
  if (act == "relu") return torch::relu(x);
  if (act == "silu") return torch::silu(x);
  throw Error("unsupported activation " + act);
}

// Causal softmax attention of T new queries against S = past + T keys.
// q (B,nh,T,hd), k/v (B,nh,S,hd) -> (B,nh,T,hd)
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, int64_t past, double scale) {
  const int64_t T = q.size(2), S = k.size(2);
  Tensor scores = torch::matmul(q, k.transpose(-1, -2)) * scale;  // (B,nh,T,S)
  if (T > 1 || past + T != S) {
    auto qi = torch::arange(T, torch::kInt64).unsqueeze(1) + past;
    auto kj = torch::arange(S, torch::kInt64).unsqueeze(0);
    scores = scores.masked_fill(kj > qi, -std::numeric_limits<float>::infinity());
  }
  return torch::matmul(torch::softmax(scores, -1), v);
}

struct KV {
  Tensor k, v;  // (B,nh,S,hd)
  void append(Tensor& k_new, Tensor& v_new) {
    if (k.defined()) {
      k = torch::cat({k, k_new}, 2);
      v = torch::cat({v, v_new}, 2);
    } else {
      k = k_new;
      v = v_new;
    }
  }
};

std::vector<std::shared_ptr<torch::nn::Module>> as_vector(torch::nn::ModuleList& l) {
  std::vector<std::shared_ptr<torch::nn::Module>> v;
  for (const auto& m : *l) v.push_back(m);
  return v;
}

// -------------------------------------------------------------------------------------------
// GPT-NeoX
// -------------------------------------------------------------------------------------------
struct NeoXAttention : torch::nn::Module {
  torch::nn::Linear query_key_value{nullptr}, dense{nullptr};
  NeoXAttention(const GPTNeoXConfig& c) {
    query_key_value = register_module(
        "query_key_value", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, 3 * c.hidden_size).bias(c.attention_bias)));
    dense = register_module("dense",
                            torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.hidden_size).bias(c.attention_bias)));
  }
};
struct NeoXMLP : torch::nn::Module {
  torch::nn::Linear dense_h_to_4h{nullptr}, dense_4h_to_h{nullptr};
  NeoXMLP(const GPTNeoXConfig& c) {
    dense_h_to_4h = register_module("dense_h_to_4h", torch::nn::Linear(c.hidden_size, c.intermediate_size));
    dense_4h_to_h = register_module("dense_4h_to_h", torch::nn::Linear(c.intermediate_size, c.hidden_size));
  }
};
struct NeoXLayer : torch::nn::Module {
  torch::nn::LayerNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  std::shared_ptr<NeoXAttention> attention;
  std::shared_ptr<NeoXMLP> mlp;
  NeoXLayer(const GPTNeoXConfig& c) {
    auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
    input_layernorm = register_module("input_layernorm", ln());
    post_attention_layernorm = register_module("post_attention_layernorm", ln());
    attention = register_module("attention", std::make_shared<NeoXAttention>(c));
    mlp = register_module("mlp", std::make_shared<NeoXMLP>(c));
  }
};
struct NeoXBase : torch::nn::Module {
  torch::nn::Embedding embed_in{nullptr};
  torch::nn::ModuleList layers;
  torch::nn::LayerNorm final_layer_norm{nullptr};
  NeoXBase(const GPTNeoXConfig& c) {
    embed_in = register_module("embed_in", torch::nn::Embedding(c.vocab_size, c.hidden_size));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_layers; ++i) layers->push_back(std::make_shared<NeoXLayer>(c));
    final_layer_norm = register_module(
        "final_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  }
};
struct NeoXLMModule : torch::nn::Module {
  std::shared_ptr<NeoXBase> gpt_neox;
  torch::nn::Linear embed_out{nullptr};
  NeoXLMModule(const GPTNeoXConfig& c) {
    gpt_neox = register_module("gpt_neox", std::make_shared<NeoXBase>(c));
    if (!c.tie_word_embeddings)
      embed_out = register_module("embed_out", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
  }
};

// x (B,nh,T,hd): rotate_half RoPE on the first rd dims, positions past..past+T-1
Tensor apply_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, int64_t rd) {
  Tensor xr = x.narrow(-1, 0, rd), xp = x.narrow(-1, rd, x.size(-1) - rd);
  Tensor x1 = xr.narrow(-1, 0, rd / 2), x2 = xr.narrow(-1, rd / 2, rd / 2);
  Tensor rot = torch::cat({-x2, x1}, -1);
  return torch::cat({xr * cos + rot * sin, xp}, -1);
}

class NeoXModel : public CausalLM {
 public:
  explicit NeoXModel(const ModelConfig& cfg) : c_(cfg.neox) {
    cfg_ = cfg;
    m_ = std::make_shared<NeoXLMModule>(c_);
    m_->eval();
    const int64_t rd = c_.rotary_ndims();
    inv_freq_ = 1.0 / torch::pow(c_.rope_theta, torch::arange(0, rd, 2, torch::kInt64).to(torch::kFloat32) / rd);
  }
  torch::nn::Module& module() override { return *m_; }
  Tensor logits(const Tensor& ids) override {
    std::vector<KV> cache(c_.num_layers);
    return forward(ids, cache, 0);
  }
  void reset(int64_t) override {
    cache_.assign(c_.num_layers, KV());
    past_ = 0;
  }
  Tensor step(const Tensor& ids) override {
    if (cache_.size() != static_cast<std::size_t>(c_.num_layers)) reset(ids.size(0));
    Tensor out = forward(ids, cache_, past_);
    past_ += ids.size(1);
    return out;
  }
  int64_t cached_tokens() const override { return past_; }

 private:
  Tensor forward(const Tensor& ids, std::vector<KV>& cache, int64_t past) {
    torch::NoGradGuard ng;
    const int64_t B = ids.size(0), T = ids.size(1), nh = c_.num_heads, hd = c_.head_size(), rd = c_.rotary_ndims();
    Tensor pos = torch::arange(past, past + T, torch::kInt64).to(torch::kFloat32);
    Tensor freqs = torch::outer(pos, inv_freq_);          // (T, rd/2)
    Tensor emb = torch::cat({freqs, freqs}, -1);          // (T, rd)
    Tensor cos = emb.cos(), sin = emb.sin();
    Tensor h = m_->gpt_neox->embed_in(ids);               // (B,T,H)
    auto layers = as_vector(m_->gpt_neox->layers);
    for (std::size_t l = 0; l < layers.size(); ++l) {
      auto& L = static_cast<NeoXLayer&>(*layers[l]);
      Tensor a_in = L.input_layernorm(h);
      Tensor qkv = L.attention->query_key_value(a_in).view({B, T, nh, 3 * hd}).transpose(1, 2);  // (B,nh,T,3hd)
      Tensor q = qkv.narrow(-1, 0, hd), k = qkv.narrow(-1, hd, hd), v = qkv.narrow(-1, 2 * hd, hd);
      q = apply_rotary(q, cos, sin, rd);
      k = apply_rotary(k, cos, sin, rd);
      Tensor vv = v.contiguous();
      cache[l].append(k, vv);
      Tensor ctx = attend(q, cache[l].k, cache[l].v, past, 1.0 / std::sqrt(static_cast<double>(hd)));
      Tensor attn = L.attention->dense(ctx.transpose(1, 2).reshape({B, T, nh * hd}));
      if (c_.parallel_residual) {
        Tensor mlp = L.mlp->dense_4h_to_h(activate(L.mlp->dense_h_to_4h(L.post_attention_layernorm(h)), c_.act));
        h = mlp + attn + h;
      } else {
        h = attn + h;
        h = L.mlp->dense_4h_to_h(activate(L.mlp->dense_h_to_4h(L.post_attention_layernorm(h)), c_.act)) + h;
      }
    }
    h = m_->gpt_neox->final_layer_norm(h);
    const Tensor& W = c_.tie_word_embeddings ? m_->gpt_neox->embed_in->weight : m_->embed_out->weight;
    return F::linear(h, W);
  }
  GPTNeoXConfig c_;
  std::shared_ptr<NeoXLMModule> m_;
  Tensor inv_freq_;
  std::vector<KV> cache_;
  int64_t past_ = 0;
};

// -------------------------------------------------------------------------------------------
// GPT-2
// -------------------------------------------------------------------------------------------
// transformers' Conv1D: y = x @ weight + bias with weight stored (in, out).
struct Conv1D : torch::nn::Module {
  Tensor weight, bias;
  Conv1D(int64_t in, int64_t out) {
    weight = register_parameter("weight", torch::zeros({in, out}));
    bias = register_parameter("bias", torch::zeros({out}));
  }
  Tensor forward(const Tensor& x) {
    auto sizes = x.sizes().vec();
    sizes.back() = weight.size(1);
    return torch::addmm(bias, x.reshape({-1, x.size(-1)}), weight).view(sizes);
  }
};
struct GPT2Attn : torch::nn::Module {
  std::shared_ptr<Conv1D> c_attn, c_proj;
  GPT2Attn(const GPT2Config& c) {
    c_attn = register_module("c_attn", std::make_shared<Conv1D>(c.n_embd, 3 * c.n_embd));
    c_proj = register_module("c_proj", std::make_shared<Conv1D>(c.n_embd, c.n_embd));
  }
};
struct GPT2MLP : torch::nn::Module {
  std::shared_ptr<Conv1D> c_fc, c_proj;
  GPT2MLP(const GPT2Config& c) {
    c_fc = register_module("c_fc", std::make_shared<Conv1D>(c.n_embd, c.n_inner));
    c_proj = register_module("c_proj", std::make_shared<Conv1D>(c.n_inner, c.n_embd));
  }
};
struct GPT2Block : torch::nn::Module {
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  std::shared_ptr<GPT2Attn> attn;
  std::shared_ptr<GPT2MLP> mlp;
  GPT2Block(const GPT2Config& c) {
    auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_eps)); };
    ln_1 = register_module("ln_1", ln());
    attn = register_module("attn", std::make_shared<GPT2Attn>(c));
    ln_2 = register_module("ln_2", ln());
    mlp = register_module("mlp", std::make_shared<GPT2MLP>(c));
  }
};
struct GPT2Base : torch::nn::Module {
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::ModuleList h;
  torch::nn::LayerNorm ln_f{nullptr};
  GPT2Base(const GPT2Config& c) {
    wte = register_module("wte", torch::nn::Embedding(c.vocab_size, c.n_embd));
    wpe = register_module("wpe", torch::nn::Embedding(c.n_positions, c.n_embd));
    h = register_module("h", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(std::make_shared<GPT2Block>(c));
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.n_embd}).eps(c.layer_norm_eps)));
  }
};
struct GPT2LMModule : torch::nn::Module {
  std::shared_ptr<GPT2Base> transformer;
  GPT2LMModule(const GPT2Config& c) { transformer = register_module("transformer", std::make_shared<GPT2Base>(c)); }
};

class GPT2Model : public CausalLM {
 public:
  explicit GPT2Model(const ModelConfig& cfg) : c_(cfg.gpt2) {
    cfg_ = cfg;
    m_ = std::make_shared<GPT2LMModule>(c_);
    m_->eval();
  }
  torch::nn::Module& module() override { return *m_; }
  Tensor logits(const Tensor& ids) override {
    std::vector<KV> cache(c_.n_layer);
    return forward(ids, cache, 0);
  }
  void reset(int64_t) override {
    cache_.assign(c_.n_layer, KV());
    past_ = 0;
  }
  Tensor step(const Tensor& ids) override {
    if (cache_.size() != static_cast<std::size_t>(c_.n_layer)) reset(ids.size(0));
    Tensor out = forward(ids, cache_, past_);
    past_ += ids.size(1);
    return out;
  }
  int64_t cached_tokens() const override { return past_; }
  int64_t max_positions() const override { return c_.n_positions; }

 private:
  Tensor forward(const Tensor& ids, std::vector<KV>& cache, int64_t past) {
    torch::NoGradGuard ng;
    const int64_t B = ids.size(0), T = ids.size(1), nh = c_.n_head, hd = c_.n_embd / c_.n_head, H = c_.n_embd;
    if (past + T > c_.n_positions)
      throw Error("GPT-2 context of " + std::to_string(past + T) + " tokens exceeds n_positions=" +
                  std::to_string(c_.n_positions));
    auto& tr = *m_->transformer;
    Tensor pos = torch::arange(past, past + T, torch::kInt64);
    Tensor h = tr.wte(ids) + tr.wpe(pos).unsqueeze(0);  // (B,T,H)
    const double scale = c_.scale_attn_weights ? 1.0 / std::sqrt(static_cast<double>(hd)) : 1.0;
    auto blocks = as_vector(tr.h);
    for (std::size_t l = 0; l < blocks.size(); ++l) {
      auto& L = static_cast<GPT2Block&>(*blocks[l]);
      Tensor qkv = L.attn->c_attn->forward(L.ln_1(h));  // (B,T,3H)
      auto heads = [&](int64_t i) { return qkv.narrow(-1, i * H, H).view({B, T, nh, hd}).transpose(1, 2); };
      Tensor q = heads(0), k = heads(1), v = heads(2);
      cache[l].append(k, v);
      Tensor ctx = attend(q, cache[l].k, cache[l].v, past, scale);
      h = h + L.attn->c_proj->forward(ctx.transpose(1, 2).reshape({B, T, H}));
      h = h + L.mlp->c_proj->forward(activate(L.mlp->c_fc->forward(L.ln_2(h)), c_.act));
    }
    h = tr.ln_f(h);
    return F::linear(h, tr.wte->weight);  // tied lm_head
  }
  GPT2Config c_;
  std::shared_ptr<GPT2LMModule> m_;
  std::vector<KV> cache_;
  int64_t past_ = 0;
};

// -------------------------------------------------------------------------------------------
// Mamba (transformers' MambaForCausalLM names)
// -------------------------------------------------------------------------------------------
struct RMSNorm : torch::nn::Module {
  Tensor weight;
  double eps;
  RMSNorm(int64_t d, double e) : eps(e) { weight = register_parameter("weight", torch::ones({d})); }
  Tensor forward(const Tensor& x) {
    Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
    return weight * (x * torch::rsqrt(var + eps));
  }
};
struct ConvParams : torch::nn::Module {
  Tensor weight, bias;
  ConvParams(int64_t d, int64_t k, bool has_bias) {
    weight = register_parameter("weight", torch::zeros({d, 1, k}));
    if (has_bias) bias = register_parameter("bias", torch::zeros({d}));
  }
};
struct MambaMixer : torch::nn::Module {
  torch::nn::Linear in_proj{nullptr}, x_proj{nullptr}, dt_proj{nullptr}, out_proj{nullptr};
  std::shared_ptr<ConvParams> conv1d;
  Tensor A_log, D;
  MambaMixer(const MambaConfig& c) {
    in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(c.d_model, 2 * c.d_inner).bias(c.bias)));
    conv1d = register_module("conv1d", std::make_shared<ConvParams>(c.d_inner, c.d_conv, c.conv_bias));
    x_proj = register_module("x_proj", torch::nn::Linear(torch::nn::LinearOptions(c.d_inner, c.dt_rank + 2 * c.d_state).bias(false)));
    dt_proj = register_module("dt_proj", torch::nn::Linear(torch::nn::LinearOptions(c.dt_rank, c.d_inner).bias(true)));
    A_log = register_parameter("A_log", torch::zeros({c.d_inner, c.d_state}));
    D = register_parameter("D", torch::ones({c.d_inner}));
    out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(c.d_inner, c.d_model).bias(c.bias)));
  }
};
struct MambaBlock : torch::nn::Module {
  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<MambaMixer> mixer;
  MambaBlock(const MambaConfig& c) {
    norm = register_module("norm", std::make_shared<RMSNorm>(c.d_model, c.norm_eps));
    mixer = register_module("mixer", std::make_shared<MambaMixer>(c));
  }
};
struct MambaBackbone : torch::nn::Module {
  torch::nn::Embedding embeddings{nullptr};
  torch::nn::ModuleList layers;
  std::shared_ptr<RMSNorm> norm_f;
  MambaBackbone(const MambaConfig& c) {
    embeddings = register_module("embeddings", torch::nn::Embedding(c.vocab_size, c.d_model));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.n_layer; ++i) layers->push_back(std::make_shared<MambaBlock>(c));
    norm_f = register_module("norm_f", std::make_shared<RMSNorm>(c.d_model, c.norm_eps));
  }
};
struct MambaLMModule : torch::nn::Module {
  std::shared_ptr<MambaBackbone> backbone;
  MambaLMModule(const MambaConfig& c) { backbone = register_module("backbone", std::make_shared<MambaBackbone>(c)); }
};

struct MambaState {
  Tensor conv;  // (B,D,K-1): last K-1 inputs of the causal conv
  Tensor ssm;   // (B,D,N)
};

class MambaReference : public CausalLM {
 public:
  explicit MambaReference(const ModelConfig& cfg) : c_(cfg.mamba) {
    cfg_ = cfg;
    m_ = std::make_shared<MambaLMModule>(c_);
    m_->eval();
  }
  torch::nn::Module& module() override { return *m_; }
  Tensor logits(const Tensor& ids) override {
    std::vector<MambaState> st;
    init(st, ids.size(0));
    return forward(ids, st);
  }
  void reset(int64_t batch) override {
    init(state_, batch);
    seen_ = 0;
  }
  Tensor step(const Tensor& ids) override {
    if (state_.size() != static_cast<std::size_t>(c_.n_layer) || state_[0].ssm.size(0) != ids.size(0)) reset(ids.size(0));
    Tensor out = forward(ids, state_);
    seen_ += ids.size(1);
    return out;
  }
  int64_t cached_tokens() const override { return seen_; }

 private:
  void init(std::vector<MambaState>& st, int64_t B) const {
    st.assign(c_.n_layer, MambaState());
    for (auto& s : st) {
      s.conv = torch::zeros({B, c_.d_inner, c_.d_conv - 1});
      s.ssm = torch::zeros({B, c_.d_inner, c_.d_state});
    }
  }
  // x (B,T,d_model) -> (B,T,d_model); advances the state by T tokens
  Tensor mixer(MambaMixer& M, const Tensor& x, MambaState& s) const {
    const int64_t T = x.size(1), Dn = c_.d_inner, N = c_.d_state, R = c_.dt_rank, K = c_.d_conv;
    Tensor xz = M.in_proj(x);                                       // (B,T,2D)
    Tensor xs = xz.narrow(-1, 0, Dn).transpose(1, 2);               // (B,D,T)
    Tensor z = xz.narrow(-1, Dn, Dn);                               // (B,T,D)
    Tensor xx = torch::cat({s.conv, xs}, -1);                       // (B,D,K-1+T)
    s.conv = xx.narrow(-1, xx.size(-1) - (K - 1), K - 1).contiguous();
    const std::vector<int64_t> one{1}, zero{0};
    Tensor conv = torch::conv1d(xx, M.conv1d->weight, M.conv1d->bias, /*stride=*/at::IntArrayRef(one),
                                /*padding=*/at::IntArrayRef(zero), /*dilation=*/at::IntArrayRef(one),
                                /*groups=*/Dn);                     // (B,D,T)
    Tensor ut = torch::silu(conv).transpose(1, 2);                  // (B,T,D)
    Tensor p = M.x_proj(ut);                                        // (B,T,R+2N)
    Tensor dt = torch::softplus(M.dt_proj(p.narrow(-1, 0, R)));     // (B,T,D)
    Tensor Bm = p.narrow(-1, R, N), Cm = p.narrow(-1, R + N, N);    // (B,T,N)
    Tensor A = -torch::exp(M.A_log);                                // (D,N)
    Tensor dA = torch::exp(dt.unsqueeze(-1) * A);                   // (B,T,D,N)
    Tensor dBu = dt.unsqueeze(-1) * Bm.unsqueeze(2) * ut.unsqueeze(-1);  // (B,T,D,N)
    std::vector<Tensor> ys;
    ys.reserve(T);
    Tensor h = s.ssm;
    for (int64_t t = 0; t < T; ++t) {
      h = dA.select(1, t) * h + dBu.select(1, t);                            // (B,D,N)
      ys.push_back(torch::matmul(h, Cm.select(1, t).unsqueeze(-1)).squeeze(-1));  // (B,D)
    }
    s.ssm = h;
    Tensor y = torch::stack(ys, 1);                                  // (B,T,D)
    y = y + ut * M.D;
    y = y * torch::silu(z);
    return M.out_proj(y);
  }
  Tensor forward(const Tensor& ids, std::vector<MambaState>& st) const {
    torch::NoGradGuard ng;
    auto& bb = *m_->backbone;
    Tensor h = bb.embeddings(ids);
    auto layers = as_vector(bb.layers);
    for (std::size_t l = 0; l < layers.size(); ++l) {
      auto& L = static_cast<MambaBlock&>(*layers[l]);
      h = h + mixer(*L.mixer, L.norm->forward(h), st[l]);
    }
    h = bb.norm_f->forward(h);
    return F::linear(h, bb.embeddings->weight);  // tied lm_head
  }
  MambaConfig c_;
  std::shared_ptr<MambaLMModule> m_;
  std::vector<MambaState> state_;
  int64_t seen_ = 0;
};

// models::MambaLM behind the CausalLM interface.
class MambaFromModels : public CausalLM {
 public:
  explicit MambaFromModels(const ModelConfig& cfg) {
    cfg_ = cfg;
    const MambaConfig& c = cfg.mamba;
    models::MambaOptions o(c.d_model, c.n_layer, c.vocab_size);
    o.pad_vocab_size_multiple(1)  // c.vocab_size already counts the padded rows
        .d_state(c.d_state)
        .d_conv(c.d_conv)
        .expand(c.expand)
        .dt_rank(c.dt_rank)
        .conv_bias(c.conv_bias)
        .bias(c.bias)
        .norm_eps(c.norm_eps)
        .residual_in_fp32(c.residual_in_fp32);
    lm_ = models::MambaLM(o);
    lm_->eval();
  }
  torch::nn::Module& module() override { return *lm_; }
  Tensor logits(const Tensor& ids) override {
    torch::NoGradGuard ng;
    return lm_->forward(ids, nullptr);
  }
  void reset(int64_t) override { state_ = models::MambaInferenceState(); }
  Tensor step(const Tensor& ids) override {
    torch::NoGradGuard ng;
    return lm_->forward(ids, &state_);  // empty state: parallel prefill; else recurrent steps
  }
  int64_t cached_tokens() const override { return state_.seqlen_offset; }

 private:
  models::MambaLM lm_{nullptr};
  models::MambaInferenceState state_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
std::unique_ptr<CausalLM> make_model(const ModelConfig& cfg, bool reference_mamba) {
  switch (cfg.arch) {
    case Arch::GPTNeoX: return std::make_unique<NeoXModel>(cfg);
    case Arch::GPT2: return std::make_unique<GPT2Model>(cfg);
    case Arch::Mamba:
      if (reference_mamba) return std::make_unique<MambaReference>(cfg);
      return std::make_unique<MambaFromModels>(cfg);
  }
  throw Error("unknown architecture");
}

void load_weights(CausalLM& model, TensorMap tensors) {
  StrictLoadRules rules;
  const ModelConfig& cfg = model.config();
  switch (cfg.arch) {
    case Arch::GPTNeoX:
      rules.ignorable = [](const std::string& n) {
        return ends_with(n, ".attention.bias") || ends_with(n, ".attention.masked_bias") ||
               ends_with(n, ".rotary_emb.inv_freq");
      };
      if (cfg.neox.tie_word_embeddings) rules.tied["embed_out.weight"] = "gpt_neox.embed_in.weight";
      break;
    case Arch::GPT2: {
      // the original gpt2 checkpoint stores GPT2Model names (no "transformer." prefix)
      TensorMap renamed;
      for (auto& [k, t] : tensors) {
        const bool prefixed = k.rfind("transformer.", 0) == 0 || k.rfind("lm_head.", 0) == 0;
        renamed[prefixed ? k : "transformer." + k] = t;
      }
      tensors.swap(renamed);
      rules.ignorable = [](const std::string& n) { return ends_with(n, ".attn.bias") || ends_with(n, ".attn.masked_bias"); };
      rules.tied["lm_head.weight"] = "transformer.wte.weight";
      break;
    }
    case Arch::Mamba: {
      // state-spaces layout: backbone.embedding.weight
      auto it = tensors.find("backbone.embedding.weight");
      if (it != tensors.end()) {
        if (tensors.count("backbone.embeddings.weight"))
          throw Error("checkpoint has both backbone.embedding.weight and backbone.embeddings.weight");
        tensors["backbone.embeddings.weight"] = it->second;
        tensors.erase(it);
      }
      rules.tied["lm_head.weight"] = "backbone.embeddings.weight";
      break;
    }
  }
  load_strict(model.module(), tensors, rules);
}

Pretrained load_pretrained(const std::string& dir, const LoadOptions& opt) {
  Pretrained p;
  p.config = load_config(dir, opt.config);
  p.model = make_model(p.config, opt.reference_mamba);
  TensorMap tensors = load_checkpoint_tensors(dir, &p.weights_file);
  try {
    load_weights(*p.model, std::move(tensors));
  } catch (const Error& e) {
    throw Error(p.weights_file + ": " + e.what());
  }
  fs::path tok = opt.tokenizer_path.empty() ? fs::path(dir) / "tokenizer.json" : fs::path(opt.tokenizer_path);
  if (fs::is_directory(tok)) tok /= "tokenizer.json";
  if (!opt.tokenizer_path.empty() && !fs::exists(tok)) throw Error(tok.string() + ": no such tokenizer file");
  if (fs::exists(tok)) {
    p.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(tok.string()));
    if (p.tokenizer->vocab_size() > p.config.vocab_size())
      p.config.warnings.push_back("tokenizer has " + std::to_string(p.tokenizer->vocab_size()) +
                                  " ids but the model only " + std::to_string(p.config.vocab_size()));
  } else if (opt.require_tokenizer) {
    throw Error(dir + ": no tokenizer.json (byte-level BPE) in the model folder");
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// generation
// ---------------------------------------------------------------------------------------------
int64_t sample_next(const Tensor& logits_in, const SamplingOptions& opt, std::mt19937_64& rng) {
  Tensor logits = logits_in.reshape({-1}).to(torch::kFloat64);
  if (opt.temperature <= 0.0) return logits.argmax().item<int64_t>();
  const int64_t V = logits.size(0);
  std::vector<double> l(logits.data_ptr<double>(), logits.data_ptr<double>() + V);
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] > l[b]; });
  int64_t keep = V;
  if (opt.top_k > 0) keep = std::min<int64_t>(keep, opt.top_k);
  std::vector<double> p(keep);
  const double mx = l[order[0]] / opt.temperature;
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += (p[i] = std::exp(l[order[i]] / opt.temperature - mx));
  for (auto& x : p) x /= sum;
  if (opt.top_p < 1.0) {  // smallest prefix (by probability) whose mass reaches top_p
    double cum = 0;
    int64_t k = 0;
    while (k < keep) {
      cum += p[k++];
      if (cum >= opt.top_p) break;
    }
    keep = std::max<int64_t>(k, 1);
  }
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) total += p[i];
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  double acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return order[i];
  }
  return order[keep - 1];
}

std::vector<int64_t> generate(CausalLM& model, const std::vector<int64_t>& prompt, const SamplingOptions& opt,
                              const std::function<void(int64_t)>& on_token) {
  if (prompt.empty()) throw Error("generate: the prompt has no tokens");
  std::mt19937_64 rng(opt.seed);
  std::vector<int64_t> out;
  model.reset(1);
  Tensor ids = torch::tensor(prompt, torch::kInt64).unsqueeze(0);
  Tensor logits = model.step(ids);  // (1,T,V)
  for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
    const int64_t next = sample_next(logits[0][-1], opt, rng);
    out.push_back(next);
    if (on_token) on_token(next);
    if (next == opt.eos_token_id) break;
    if (i + 1 == opt.max_new_tokens) break;
    if (model.max_positions() > 0 && model.cached_tokens() + 1 > model.max_positions()) break;
    logits = model.step(torch::tensor({next}, torch::kInt64).unsqueeze(0));
  }
  return out;
}

std::vector<int64_t> greedy_uncached(CausalLM& model, const std::vector<int64_t>& prompt, int64_t new_tokens) {
  std::vector<int64_t> cur = prompt, out;
  for (int64_t i = 0; i < new_tokens; ++i) {
    Tensor logits = model.logits(torch::tensor(cur, torch::kInt64).unsqueeze(0));
    const int64_t next = logits[0][-1].argmax().item<int64_t>();
    out.push_back(next);
    cur.push_back(next);
  }
  return out;
}

}  // namespace ssmlab::hf
