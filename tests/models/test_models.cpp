// test_models.cpp — every model family: shapes, causality, learning, parity twins, positional
// encodings by hand, inference state, parameter counts and matching.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "models/generation.h"
#include "models/lstm.h"
#include "models/mamba.h"
#include "models/mamba2.h"
#include "models/registry.h"
#include "models/transformer.h"
#include "tests/models/tiny_models.h"

namespace sm = ssmlab::models;

namespace {
sm::ModelConfig tiny() { return ssmlab::test::tiny_model_config(); }
void expect_close(const torch::Tensor& a, const torch::Tensor& b, double atol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double diff = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  EXPECT_LE(diff, atol) << what << ": max |diff| = " << diff;
}
}  // namespace

// One CTest entry per property, looping over every registered family (each test process pays
// LibTorch's start-up, so fewer, broader tests keep the family fast under ctest).
TEST(EveryModel, ForwardShapesAndCausality) {
  at::set_num_threads(1);
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    auto m = sm::make_model(name, tiny());
    auto tokens = torch::randint(0, 11, {2, 7}, torch::kLong);
    auto logits = m->forward(tokens);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 7, m->vocab_size()}));
    EXPECT_GE(m->vocab_size(), 11);
    EXPECT_EQ(m->family(), name);
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
    auto feats = m->forward_features(torch::randn({2, 5, 16}));
    EXPECT_EQ(feats.sizes(), (std::vector<int64_t>{2, 5, 16}));
    // Causality: changing token t changes no output before t (and does change some at >= t).
    m->eval();
    torch::NoGradGuard ng;
    auto a = torch::randint(0, 11, {2, 9}, torch::kLong);
    auto b = a.clone();
    const int64_t t = 5;
    b.select(1, t).fill_(0);
    a.select(1, t).fill_(3);
    auto la = m->forward(a), lb = m->forward(b);
    expect_close(la.narrow(1, 0, t), lb.narrow(1, 0, t), 1e-5, name + " outputs before t");
    EXPECT_GT((la.narrow(1, t, 9 - t) - lb.narrow(1, t, 9 - t)).abs().max().item<double>(), 1e-6)
        << name << ": token t does not influence outputs at >= t";
  }
}

TEST(EveryModel, FewStepsReduceLoss) {
  at::set_num_threads(1);
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    auto m = sm::make_model(name, tiny());
    torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
    auto x = torch::randint(0, 11, {4, 12}, torch::kLong);
    auto y = (x * 3 + 1).remainder(11);                           // a token-wise map every model can learn
    double first = 0, last = 0;
    for (int s = 0; s < 30; ++s) {
      opt.zero_grad();
      auto logits = m->forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), y.reshape({-1}));
      loss.backward();
      opt.step();
      (s == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_LT(last, 0.8 * first) << name << ": " << first << " -> " << last;
  }
}

TEST(EveryModel, ParamCountFormulaIsExact) {
  for (const auto& name : sm::model_names()) {
    auto c = tiny();
    for (int64_t layers : {1, 3}) {
      c.n_layer = layers;
      auto m = sm::make_model(name, c);
      EXPECT_EQ(sm::count_params(*m), sm::param_count(name, c)) << name << " n_layer " << layers;
    }
  }
}

TEST(EveryModel, MatchParamsWithinFivePercent) {
  for (const auto& name : sm::model_names()) {
    for (int64_t target : {200'000, 500'000}) {
      auto base = tiny();
      base.vocab_size = 30;
      auto c = sm::match_params(target, name, base);
      auto m = sm::make_model(name, c);
      const double n = static_cast<double>(sm::count_params(*m));
      EXPECT_NEAR(n / static_cast<double>(target), 1.0, 0.05)
          << name << " d_model " << c.d_model << " n_layer " << c.n_layer << " -> " << n;
    }
  }
}

TEST(Registry, ClearErrors) {
  EXPECT_THROW(sm::make_model("gpt5", tiny()), std::invalid_argument);
  auto c = tiny();
  c.d_model = 18;  // not divisible by 4 heads
  try {
    sm::make_model("T_rope", c);
    FAIL() << "expected an exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("divisible"), std::string::npos) << e.what();
  }
}

// ---- Mamba ----------------------------------------------------------------------------------
TEST(Mamba, HuggingFaceParameterNames) {
  sm::MambaLM m(sm::MambaOptions(16, 2, 11));
  std::set<std::string> got;
  for (const auto& p : m->named_parameters()) got.insert(p.key());
  std::set<std::string> want{"backbone.embeddings.weight", "backbone.norm_f.weight"};
  for (int i = 0; i < 2; ++i) {
    const std::string pre = "backbone.layers." + std::to_string(i) + ".";
    want.insert(pre + "norm.weight");
    for (const char* s : {"in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
                          "dt_proj.bias", "A_log", "D", "out_proj.weight"})
      want.insert(pre + "mixer." + s);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(m->vocab_size(), 16);  // 11 padded to a multiple of 8
  auto& mixer = *m->backbone->layers[0]->as<sm::MambaLayerImpl>()->mixer;
  EXPECT_EQ(mixer.x_proj->weight.sizes(), (std::vector<int64_t>{1 + 2 * 16, 32}));  // dt_rank = ceil(16/16)
}

TEST(Mamba, PaperInitialisation) {
  torch::manual_seed(1);
  sm::MambaOptions o(32, 1, 11);
  o.d_state(8);
  sm::MambaLM m(o);
  auto& mixer = *m->backbone->layers[0]->as<sm::MambaLayerImpl>()->mixer;
  auto want_A = torch::log(torch::arange(1, 9, torch::kFloat32)).repeat({64, 1});
  expect_close(mixer.A_log, want_A, 1e-6, "A_log = log(1..N)");
  expect_close(mixer.D, torch::ones({64}), 0, "D = 1");
  auto dt = torch::nn::functional::softplus(mixer.dt_proj->bias);
  EXPECT_GE(dt.min().item<double>(), 1e-3 * 0.999);
  EXPECT_LE(dt.max().item<double>(), 1e-1 * 1.001);
}

TEST(Mamba, PrefillThenStepEqualsFullForward) {
  torch::manual_seed(2);
  sm::MambaLM m(sm::MambaOptions(16, 2, 11).d_state(4));
  m->eval();
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 11, {2, 10}, torch::kLong);
  auto full = m->forward(tokens);                                  // (2, 10, V)
  for (int64_t prefill : {1, 3, 6}) {                               // shorter and longer than d_conv
    auto st = m->new_cache(2, 10);
    auto first = m->forward(tokens.narrow(1, 0, prefill), &st);
    expect_close(first, full.narrow(1, 0, prefill), 1e-5, "prefill");
    for (int64_t t = prefill; t < 10; ++t)
      expect_close(m->forward(tokens.narrow(1, t, 1), &st), full.narrow(1, t, 1), 1e-4, "step " + std::to_string(t));
    EXPECT_EQ(st.seqlen_offset, 10);
  }
  // The reference twin (transformers' slow_forward transcribed) gives the same logits.
  expect_close(sm::mamba_lm_forward_ref(*m, tokens), full, 1e-4, "mamba_lm_forward_ref");
}

// The step keeps -exp(A_log), D and the Δ bias between steps without autograd (MambaMixerImpl::step_constants):
// a change of those weights - in place (an optimizer step) or to new storage (a load, .to()) - must reach the next
// step, which must still equal the full forward of the changed model. (The step runs its state update in
// fp32 whatever the weights' dtype, so the tolerance is fp32's.)
TEST(Mamba, StepSeesWeightChangesBetweenSteps) {
  torch::manual_seed(12);
  sm::MambaLM m(sm::MambaOptions(16, 2, 11).d_state(4));
  m->eval();
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 11, {2, 8}, torch::kLong);
  auto decode_all = [&] {  // prefill 3, then one token at a time: (2, 8, V)
    auto st = m->new_cache(2, 8);
    std::vector<torch::Tensor> out{m->forward(tokens.narrow(1, 0, 3), &st)};
    for (int64_t t = 3; t < 8; ++t) out.push_back(m->forward(tokens.narrow(1, t, 1), &st));
    return torch::cat(out, 1);
  };
  expect_close(decode_all(), m->forward(tokens), 1e-4, "before");
  int changed = 0;
  for (const auto& item : m->named_parameters()) {  // in place, as AdamW does: the version counters move
    const auto& name = item.key();
    if (name.find("A_log") != std::string::npos || name.find(".D") != std::string::npos ||
        name.find("dt_proj.bias") != std::string::npos) {
      item.value().add_(torch::randn_like(item.value()) * 2.0);
      ++changed;
    }
  }
  EXPECT_EQ(changed, 6) << "A_log, D and dt_proj.bias of both layers";
  expect_close(decode_all(), m->forward(tokens), 1e-4, "after in-place updates");
  for (const auto& item : m->named_parameters())  // new storage (as a load or .to() makes), other values
    if (item.key().find("A_log") != std::string::npos) item.value().set_data(item.value().detach() - 2.0);
  expect_close(decode_all(), m->forward(tokens), 1e-4, "after new storage");
}

TEST(Mamba, FusedKernelsMatchReferenceForwardAndGradients) {
  // kernel_impl Auto (fused CPU scan on this device) vs Reference: same logits, same parameter grads.
  auto run = [](ssmlab::kernels::KernelImpl impl) {
    torch::manual_seed(5);
    sm::MambaLM m(sm::MambaOptions(16, 2, 11).d_state(4).kernel_impl(impl));
    m->to(torch::kFloat64);
    auto tokens = torch::randint(0, 11, {2, 9}, torch::kLong);
    auto logits = m->forward(tokens);                               // (2, 9, V)
    (logits * logits).sum().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : m->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(logits.detach(), grads);
  };
  auto fused = run(ssmlab::kernels::KernelImpl::Auto), ref = run(ssmlab::kernels::KernelImpl::Reference);
  expect_close(fused.first, ref.first, 1e-10, "logits");
  ASSERT_EQ(fused.second.size(), ref.second.size());
  for (size_t i = 0; i < ref.second.size(); ++i)
    expect_close(fused.second[i], ref.second[i], 1e-9 * (1 + ref.second[i].abs().max().item<double>()),
                 "grad " + std::to_string(i));
}

// ---- Mamba-2 --------------------------------------------------------------------------------
TEST(Mamba2, LMChunkedEqualsSequential) {
  torch::manual_seed(4);
  sm::Mamba2LM m(sm::Mamba2Options(16, 2, 11).d_state(4).headdim(8).ngroups(2).chunk_size(5));
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 11, {2, 13}, torch::kLong);
  auto a = m->forward(tokens);
  torch::manual_seed(4);  // same weights, the sequential SSD (kernel_impl "reference")
  sm::Mamba2LM r(sm::Mamba2Options(16, 2, 11).d_state(4).headdim(8).ngroups(2).chunk_size(5).kernel_impl(ssmlab::kernels::KernelImpl::Reference));
  expect_close(r->forward(tokens), a, 1e-4, "Mamba2LM chunked vs sequential");
}

TEST(Mamba2, PrefillThenStepEqualsFullForward) {
  torch::manual_seed(9);
  sm::Mamba2LM m(sm::Mamba2Options(16, 2, 11).d_state(4).headdim(8).ngroups(2).chunk_size(4));
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 11, {2, 10}, torch::kLong);
  auto full = m->forward(tokens);
  for (int64_t prefill : {2, 7}) {
    auto st = m->new_cache(2, 10);
    expect_close(m->forward(tokens.narrow(1, 0, prefill), &st), full.narrow(1, 0, prefill), 1e-5, "mamba2 prefill");
    for (int64_t t = prefill; t < 10; ++t)
      expect_close(m->forward(tokens.narrow(1, t, 1), &st), full.narrow(1, t, 1), 1e-4, "mamba2 step " + std::to_string(t));
  }
}

// ---- Transformer ------------------------------------------------------------------------------
TEST(Transformer, RopeByHand) {
  // One head, P = 2, rotary_dim 2, base 10000: position p rotates (x0, x1) by angle p.
  auto x = torch::tensor({1.0f, 2.0f, 1.0f, 2.0f, 3.0f, -1.0f}).view({1, 1, 3, 2});
  auto rope = [](const torch::Tensor& v, int64_t rd, double base, int64_t offset) {
    auto cs = sm::rope_cos_sin(torch::arange(offset, offset + v.size(2), torch::kLong), rd, base);
    return sm::apply_rope(v, cs.first, cs.second);
  };
  auto r = rope(x, 2, 10000.0, 0);
  auto want = torch::tensor({1.0f, 2.0f,                                                  //
                             std::cos(1.f) - 2 * std::sin(1.f), 2 * std::cos(1.f) + std::sin(1.f),  //
                             3 * std::cos(2.f) + std::sin(2.f), -std::cos(2.f) + 3 * std::sin(2.f)})
                  .view({1, 1, 3, 2});
  expect_close(r, want, 1e-5, "rope");
  // Offsets continue positions (KV cache): rope(x at offset 1) == rope rows 1..2.
  expect_close(rope(x.narrow(2, 1, 2), 2, 10000.0, 1), r.narrow(2, 1, 2), 1e-5, "rope offset");
  // Relative: <R_i q, R_j k> depends on i - j only; partial rotation leaves the other dims as they are.
  auto q = torch::randn({1, 1, 1, 8}), k = torch::randn({1, 1, 1, 8});
  auto dot = [&](int64_t i, int64_t j) {
    return (rope(q, 4, 100.0, i) * rope(k, 4, 100.0, j)).sum().item<double>();
  };
  EXPECT_NEAR(dot(5, 2), dot(13, 10), 1e-4);
  expect_close(rope(q, 4, 100.0, 7).narrow(-1, 4, 4), q.narrow(-1, 4, 4), 0, "unrotated dims");
  // Odd rotary_ndims (transformers' rule): 5 -> inv_freq base^(-0/5, -2/5, -4/5), 6 dims rotated.
  auto cs = sm::rope_cos_sin(torch::arange(0, 3, torch::kLong), 5, 10000.0);
  ASSERT_EQ(cs.first.size(-1), 6);
  EXPECT_NEAR(std::acos(cs.first[1][1].item<double>()), std::pow(10000.0, -0.4), 1e-5);
  sm::TransformerOptions odd(64, 1, 4, 11);
  odd.rotary_pct(0.3125);
  EXPECT_EQ(odd.rotary_ndims(), 5);
  EXPECT_EQ(odd.rotated_dims(), 6);
}

TEST(Transformer, AlibiByHand) {
  expect_close(sm::alibi_slopes(4), torch::tensor({0.25f, 0.0625f, 0.015625f, 0.00390625f}), 1e-9, "slopes H=4");
  expect_close(sm::alibi_slopes(3), torch::tensor({0.0625f, 0.00390625f, 0.25f}), 1e-9, "slopes H=3 (interleaved)");
  EXPECT_NEAR(sm::alibi_slopes(16)[0].item<double>(), std::pow(2.0, -0.5), 1e-7);
  EXPECT_NEAR(sm::alibi_slopes(16)[15].item<double>(), std::pow(2.0, -8), 1e-9);
  sm::TransformerOptions o(16, 1, 4, 11);
  o.pos(sm::PosEncoding::Alibi);
  auto bias = sm::attention_bias(o, 3, 3, 0, torch::TensorOptions());  // (4, 3, 3)
  const float ninf = -std::numeric_limits<float>::infinity();
  auto want0 = torch::tensor({0.f, ninf, ninf, -0.25f, 0.f, ninf, -0.5f, -0.25f, 0.f}).view({3, 3});
  EXPECT_TRUE(torch::equal(bias[0], want0)) << bias[0];
}

TEST(Transformer, HardAlibiWindows) {
  sm::TransformerOptions o(16, 1, 4, 11);
  o.pos(sm::PosEncoding::HardAlibi).n_masked_heads(2);
  auto bias = sm::attention_bias(o, 4, 4, 0, torch::TensorOptions());
  auto allowed = torch::isfinite(bias).to(torch::kInt);                 // (4, 4, 4)
  auto tril = torch::tril(torch::ones({4, 4}, torch::kInt));
  EXPECT_TRUE(torch::equal(allowed[0], torch::eye(4, torch::kInt))) << "head 0: itself only";
  EXPECT_TRUE(torch::equal(allowed[1], tril - torch::tril(torch::ones({4, 4}, torch::kInt), -2))) << "head 1: window 2";
  EXPECT_TRUE(torch::equal(allowed[2], tril)) << "head 2: unrestricted (NoPE)";
  EXPECT_TRUE(torch::equal(allowed[3], tril));
  EXPECT_EQ(bias.masked_select(torch::isfinite(bias)).abs().max().item<float>(), 0.f);
}

TEST(Transformer, SdpaEqualsManual) {
  if (!sm::kHaveSdpa) GTEST_SKIP() << "LibTorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << " has no scaled_dot_product_attention";
  torch::manual_seed(5);
  for (auto pos : {"rope", "nope", "alibi", "hard_alibi"}) {
    sm::TransformerOptions o(16, 1, 4, 11);
    o.pos(sm::parse_pos_encoding(pos));
    auto q = torch::randn({2, 4, 6, 4}), k = torch::randn({2, 4, 6, 4}), v = torch::randn({2, 4, 6, 4});
    auto bias = sm::attention_bias(o, 6, 6, 0, q.options()).unsqueeze(0);
    expect_close(sm::attention(q, k, v, bias, sm::AttnImpl::Sdpa), sm::attention(q, k, v, bias, sm::AttnImpl::Manual),
                 1e-5, pos);
    // Whole model: same weights, the two attention paths.
    torch::manual_seed(8);
    sm::TransformerLM a(sm::TransformerOptions(16, 2, 4, 11).pos(o.pos()).attn_impl(sm::AttnImpl::Sdpa));
    torch::manual_seed(8);
    sm::TransformerLM b(sm::TransformerOptions(16, 2, 4, 11).pos(o.pos()).attn_impl(sm::AttnImpl::Manual));
    auto tokens = torch::randint(0, 11, {2, 9}, torch::kLong);
    expect_close(a->forward(tokens), b->forward(tokens), 1e-5, std::string(pos) + " model");
  }
}

TEST(Transformer, UndefinedMaskIsPlainCausalAttention) {
  // The mask-free path (SDPA's is_causal where it exists, a causal mask built here otherwise) against the
  // explicit additive mask, for a full block, for one new token, and with gradients.
  torch::manual_seed(9);
  sm::TransformerOptions o(16, 1, 4, 11);
  auto q = torch::randn({2, 4, 7, 4}, torch::requires_grad()), k = torch::randn({2, 4, 7, 4}), v = torch::randn({2, 4, 7, 4});
  auto bias = sm::attention_bias(o, 7, 7, 0, q.options()).unsqueeze(0);                     // (1, H, 7, 7)
  std::vector<sm::AttnImpl> impls{sm::AttnImpl::Manual};
  if (sm::kHaveSdpa) impls.push_back(sm::AttnImpl::Sdpa);
  for (auto impl : impls) {
    auto a = sm::attention(q, k, v, {}, impl), b = sm::attention(q, k, v, bias, impl);
    expect_close(a, b, 1e-6, "full block");
    auto ga = torch::autograd::grad({a.sum()}, {q})[0], gb = torch::autograd::grad({b.sum()}, {q})[0];
    expect_close(ga, gb, 1e-6, "dq");
    auto q1 = q.narrow(2, 6, 1);  // the newest token sees every key
    expect_close(sm::attention(q1, k, v, {}, impl), sm::attention(q1, k, v, bias.narrow(2, 6, 1), impl), 1e-6, "one token");
    EXPECT_THROW(sm::attention(q.narrow(2, 0, 3), k, v, {}, impl), std::invalid_argument);  // 3 queries, 7 keys: ambiguous
  }
}

TEST(Transformer, KVCacheEqualsFullForward) {
  for (const char* name : {"T_rope", "T_nope", "T_alibi", "T_hard_alibi"}) {
    torch::manual_seed(6);
    auto c = tiny();
    sm::TransformerLM m(sm::TransformerOptions(c.d_model, 2, 4, 11).pos(sm::parse_pos_encoding(std::string(name).substr(2))));
    torch::NoGradGuard ng;
    auto tokens = torch::randint(0, 11, {2, 9}, torch::kLong);
    auto full = m->forward(tokens);
    auto cache = m->new_cache(2, 9);
    auto pre = m->forward(tokens.narrow(1, 0, 4), &cache);
    expect_close(pre, full.narrow(1, 0, 4), 1e-5, std::string(name) + " prefill");
    for (int64_t t = 4; t < 9; ++t)
      expect_close(m->forward(tokens.narrow(1, t, 1), &cache), full.narrow(1, t, 1), 1e-5, std::string(name) + " cached step");
    EXPECT_EQ(cache.seqlen_offset, 9);
    EXPECT_EQ(cache.layers[0].k.size(2), 9) << "preallocated, fixed shape";
  }
}

// ---- LSTM -----------------------------------------------------------------------------------
TEST(LSTM, StateContinuesAcrossCalls) {
  torch::manual_seed(7);
  sm::LSTMLM m(sm::LSTMLMOptions(16, 2, 11));
  torch::NoGradGuard ng;
  auto tokens = torch::randint(0, 11, {2, 8}, torch::kLong);
  auto full = m->forward(tokens);
  auto st = m->new_cache(2, 8);
  auto a = m->forward(tokens.narrow(1, 0, 3), &st);
  auto b = m->forward(tokens.narrow(1, 3, 5), &st);
  expect_close(torch::cat({a, b}, 1), full, 1e-5, "chunked LSTM");
  EXPECT_LE(m->embedding->weight.abs().max().item<double>(), 0.1);
  EXPECT_LE(m->head->weight.abs().max().item<double>(), 0.25 + 1e-6);
}

// ---- one generation loop ------------------------------------------------------------------------
// Cached generation (batched, left-padded) equals the uncached reference twin for every family,
// at batch 1 and for 4 prompts of different lengths; batched equals one-by-one.
TEST(Generation, CachedEqualsUncachedEveryFamily) {
  at::set_num_threads(1);
  const std::vector<std::vector<int64_t>> prompts = {{1, 2, 3, 4, 5, 6, 7}, {3}, {9, 8, 7, 6}, {2, 10, 4, 4, 1}};
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(11);
    auto c = tiny();
    c.n_head = 2;  // head dim 8: rotary_ndims 2
    auto m = sm::make_model(name, c);
    // sharpen the logits so that greedy choices are not decided by rounding
    { torch::NoGradGuard ng; for (auto& p : m->parameters()) p.mul_(3.0); }
    sm::GenerationOptions g;
    g.max_new_tokens = 6;
    const auto want = sm::greedy_uncached(*m, prompts, 6);
    const auto batched = sm::generate(*m, prompts, g);
    EXPECT_FALSE(batched.cuda_graph) << "no CUDA graph on the CPU";
    EXPECT_EQ(m->decode_step_graph_safe(), name == "mamba" || name == "mamba2");
    for (size_t b = 0; b < prompts.size(); ++b) {
      EXPECT_EQ(batched.tokens[b], want[b]) << "batched row " << b;
      EXPECT_EQ(batched.finish_reason[b], "max_new_tokens");
      EXPECT_EQ(sm::generate(*m, {prompts[b]}, g).tokens[0], want[b]) << "batch 1, row " << b;
    }
    // EOS stops a row right after the token; a stop string needs a decoder.
    g.eos_token_ids = {want[0][2]};
    auto e = sm::generate(*m, {prompts[0]}, g);
    const size_t first = std::find(want[0].begin(), want[0].end(), want[0][2]) - want[0].begin();
    EXPECT_EQ(e.tokens[0].size(), first + 1);
    EXPECT_EQ(e.finish_reason[0], "eos");
    g.eos_token_ids.clear();
    g.stop_strings = {"x"};
    EXPECT_THROW(sm::generate(*m, {prompts[0]}, g), std::invalid_argument);
  }
}

TEST(Generation, LeftPaddedLogitsEqualUnpadded) {
  // The prefill logits of a left-padded row equal the row's own unpadded forward.
  at::set_num_threads(1);
  for (const auto& name : sm::model_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(12);
    auto c = tiny();
    c.n_head = 2;
    auto m = sm::make_model(name, c);
    m->eval();
    torch::NoGradGuard ng;
    auto row = torch::randint(0, 11, {1, 4}, torch::kLong);
    auto block = torch::cat({torch::full({1, 3}, 5, torch::kLong), row}, 1);   // 3 pad slots
    auto cache = m->new_cache(1, 8);
    cache.set_left_padding({4}, 7);
    auto padded = m->forward(block, &cache).narrow(1, 3, 4);
    expect_close(padded, m->forward(row), 1e-5, "padded prefill");
    auto next = torch::randint(0, 11, {1, 1}, torch::kLong);
    expect_close(m->forward(next, &cache), m->forward(torch::cat({row, next}, 1)).narrow(1, 4, 1), 1e-5, "step after padding");
  }
}

TEST(Generation, SamplingRepeatsAndNonFiniteLogitsFail) {
  torch::manual_seed(13);
  auto m = sm::make_model("T_rope", tiny());
  sm::GenerationOptions s;
  s.max_new_tokens = 8;
  s.temperature = 1.0;
  s.top_p = 0.9;
  s.seed = 7;
  EXPECT_EQ(sm::generate(*m, {{1, 2}}, s).tokens, sm::generate(*m, {{1, 2}}, s).tokens);
  sm::GenerationOptions k1 = s;
  k1.top_k = 1;
  EXPECT_EQ(sm::generate(*m, {{1, 2}}, k1).tokens[0], sm::greedy_uncached(*m, {{1, 2}}, 8)[0]);
  { torch::NoGradGuard ng; m->parameters()[0].fill_(std::numeric_limits<float>::quiet_NaN()); }
  EXPECT_THROW(sm::generate(*m, {{1, 2}}, s), std::runtime_error);
  s.temperature = 0;
  EXPECT_THROW(sm::generate(*m, {{1, 2}}, s), std::runtime_error);
  EXPECT_THROW(sm::generate(*m, {{}}, s), std::invalid_argument);
}

TEST(Transformer, PaperSizeParameterCount) {
  // T_rope d1024, 12 layers, vocab 30 with GPT-NeoX defaults: 151.2M (Jelassi et al. 2024).
  sm::ModelConfig c;
  c.vocab_size = 30;
  c.d_model = 1024;
  c.n_layer = 12;
  c.n_head = 16;
  EXPECT_NEAR(sm::param_count("T_rope", c) / 1e6, 151.2, 0.05);
}

// ---- sparse mixture-of-experts MLP (T_rope_moe) ---------------------------------------------------
namespace {
sm::TransformerOptions moe_options(int64_t n_experts, int64_t top_k) {
  return sm::TransformerOptions(16, 2, 4, 11).d_ff(24).n_experts(n_experts).top_k(top_k);
}
}  // namespace

// The sparse dispatch (index_select per expert, index_add back) equals the dense twin (every expert
// on every token, weighted by the scattered routing weights) in fp64: outputs and every gradient.
// (8, 1) on 6 tokens leaves some experts without tokens; (3, 3) routes every token everywhere.
TEST(MoE, SparseEqualsDenseReferenceFp64) {
  at::set_num_threads(1);
  for (auto [X, k] : std::vector<std::pair<int64_t, int64_t>>{{4, 2}, {8, 1}, {3, 3}, {5, 2}}) {
    SCOPED_TRACE("n_experts " + std::to_string(X) + " top_k " + std::to_string(k));
    torch::manual_seed(X * 10 + k);
    sm::MoeMLP moe(moe_options(X, k));
    moe->to(torch::kFloat64);
    for (auto& p : moe->parameters()) { torch::NoGradGuard ng; p.normal_(0.0, 0.5); }
    const int64_t L = X == 8 ? 3 : 7;  // (2, 3): 6 tokens for 8 experts at top-1
    auto x = torch::randn({2, L, 16}, torch::kFloat64).requires_grad_(true);
    auto go = torch::randn({2, L, 16}, torch::kFloat64);                    // upstream gradient
    auto run = [&](bool sparse) {
      moe->zero_grad();
      if (x.grad().defined()) x.grad().zero_();
      auto y = sparse ? moe->forward(x) : moe->forward_dense(x);
      (y * go).sum().backward();
      std::vector<torch::Tensor> grads{x.grad().clone()};
      for (auto& p : moe->parameters()) grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
      return std::make_pair(y.detach(), grads);
    };
    auto [ys, gs] = run(true);
    auto [yd, gd] = run(false);
    expect_close(ys, yd, 1e-12, "output");
    ASSERT_EQ(gs.size(), gd.size());
    const auto names = moe->named_parameters().keys();
    for (size_t i = 0; i < gs.size(); ++i) expect_close(gs[i], gd[i], 1e-12, i == 0 ? "grad x" : "grad " + names[i - 1]);
    // parameter 0 = router.weight; at top-1 the renormalised weight is 1, so only the aux loss trains it
    if (k > 1) EXPECT_GT(gd[1].abs().max().item<double>(), 0.0) << "the router gets a gradient";
    else EXPECT_EQ(gd[1].abs().max().item<double>(), 0.0);
  }
}

TEST(MoE, RoutingPicksTopKAndRenormalises) {
  torch::manual_seed(3);
  auto logits = torch::randn({20, 6}, torch::kFloat64);
  const auto r = sm::route_top_k(logits, 2);
  ASSERT_EQ(r.experts.sizes(), (std::vector<int64_t>{20, 2}));
  auto sorted = std::get<1>(logits.sort(-1, /*descending=*/true)).narrow(1, 0, 2);   // the two largest logits
  EXPECT_TRUE(torch::equal(r.experts, sorted));
  expect_close(r.weights.sum(-1), torch::ones({20}), 1e-6, "weights sum to 1");
  // Mixtral's form: softmax over the selected logits only
  expect_close(r.weights, torch::softmax(logits.gather(1, r.experts), -1), 1e-6, "softmax over the top-k logits");
  expect_close(r.probs, torch::softmax(logits, -1), 1e-6, "router probabilities");
}

TEST(MoE, LoadBalancingLossByHand) {
  // Balanced: token t prefers expert t (4 tokens, 4 experts, top-1): f = P = 1/4 -> 4 * 4 * 1/16 = 1.
  auto eye = 5.0 * torch::eye(4, torch::kFloat64);
  EXPECT_NEAR(sm::load_balancing_loss(sm::route_top_k(eye, 1)).item<double>(), 1.0, 1e-6);
  // Uniform probabilities: 1 whatever the (tied) choice, top-1 or top-2.
  EXPECT_NEAR(sm::load_balancing_loss(sm::route_top_k(torch::zeros({5, 4}), 2)).item<double>(), 1.0, 1e-6);
  // Collapsed: every token has p = (0.4, 0.3, 0.2, 0.1). Top-2 sends every token to experts 0 and 1:
  // f = (1/2, 1/2, 0, 0), P = p -> 4 (0.5 * 0.4 + 0.5 * 0.3) = 1.4; top-1: f = (1, 0, 0, 0) -> 4 * 0.4 = 1.6.
  auto same = torch::log(torch::tensor({0.4, 0.3, 0.2, 0.1}, torch::kFloat64)).repeat({6, 1});
  EXPECT_NEAR(sm::load_balancing_loss(sm::route_top_k(same, 2)).item<double>(), 1.4, 1e-6);
  EXPECT_NEAR(sm::load_balancing_loss(sm::route_top_k(same, 1)).item<double>(), 1.6, 1e-6);
  // Fully collapsed (p ~ one-hot): the maximum, n_experts.
  auto onehot = torch::tensor({60.0, 0.0, 0.0, 0.0}, torch::kFloat64).repeat({3, 1});
  EXPECT_NEAR(sm::load_balancing_loss(sm::route_top_k(onehot, 1)).item<double>(), 4.0, 1e-6);
}

TEST(MoE, ActiveParametersAndAuxLossOfTheLM) {
  auto c = tiny();
  c.n_experts = 4;
  c.top_k = 2;
  // active = the dense T_rope + a router (X D) per layer + (k - 1) more MLPs per layer
  const int64_t D = c.d_model, F = 4 * D, mlp = D * F + F + F * D + D;
  EXPECT_EQ(sm::active_param_count("T_rope_moe", c), sm::param_count("T_rope", c) + c.n_layer * (D * 4 + (2 - 1) * mlp));
  EXPECT_EQ(sm::param_count("T_rope_moe", c), sm::param_count("T_rope", c) + c.n_layer * (D * 4 + (4 - 1) * mlp));
  EXPECT_EQ(sm::active_param_count("T_rope", c), sm::param_count("T_rope", c));
  // the LM's aux_loss is the mean over layers of each layer's load-balancing loss; dense: undefined
  torch::manual_seed(4);
  auto m = sm::make_model("T_rope_moe", c);
  EXPECT_FALSE(m->aux_loss().defined());  // no forward yet
  m->forward(torch::randint(0, 11, {2, 5}, torch::kLong));
  auto* t = dynamic_cast<sm::TransformerLMImpl*>(m.get());
  ASSERT_NE(t, nullptr);
  double mean = 0;
  for (const auto& l : *t->gpt_neox->layers) mean += l->as<sm::TransformerLayerImpl>()->moe->aux_loss.item<double>() / 2.0;
  EXPECT_NEAR(m->aux_loss().item<double>(), mean, 1e-6);
  EXPECT_GE(m->aux_loss().item<double>(), 0.5);
  EXPECT_FALSE(sm::make_model("T_rope", c)->aux_loss().defined());
  c.top_k = 5;  // more than n_experts
  EXPECT_THROW(sm::make_model("T_rope_moe", c), std::invalid_argument);
}
