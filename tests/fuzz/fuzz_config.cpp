// fuzz_config: config.json text -> parse_config (both strict and allow_unknown_keys) -> the
// derived sizes models:: options are built from. Promise (config.h): hf::Error or a config whose
// sizes are positive and bounded, so that the products the model constructors compute do not
// overflow and the divisions they do are by non-zero numbers.
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/config.h"
#include "ssmlab/safe_io.h"

using namespace ssmlab;

namespace {
void check_config(const hf::CheckpointConfig& c) {
  const std::string s = c.summary();
  if (s.empty()) fuzz::violated("empty summary");
  if (c.vocab_size() < 1) fuzz::violated("vocab_size < 1", s);
  switch (c.arch) {
    case hf::Arch::GPTNeoX:
      if (c.neox.num_heads < 1 || c.neox.hidden_size % c.neox.num_heads != 0) fuzz::violated("neox heads", s);
      if (c.neox.rotary_ndims() < 0 || c.neox.rotary_ndims() > c.neox.head_size()) fuzz::violated("neox rotary", s);
      break;
    case hf::Arch::GPT2:
      if (c.gpt2.n_head < 1 || c.gpt2.n_embd % c.gpt2.n_head != 0) fuzz::violated("gpt2 heads", s);
      break;
    case hf::Arch::Mamba:
      if (c.mamba.d_inner < 1 || c.mamba.d_state < 1 || c.mamba.dt_rank < 1) fuzz::violated("mamba sizes", s);
      break;
    case hf::Arch::Mamba2:
      if (c.mamba2.nheads < 1 || c.mamba2.headdim < 1 || c.mamba2.ngroups < 1) fuzz::violated("mamba2 sizes", s);
      break;
    case hf::Arch::SsmlabMoeTransformer:
      if (c.ssmlab.n_experts < 1 || c.ssmlab.top_k < 1 || c.ssmlab.top_k > c.ssmlab.n_experts) fuzz::violated("moe sizes", s);
      [[fallthrough]];
    case hf::Arch::SsmlabTransformer:
    case hf::Arch::SsmlabLSTM:
      if (c.ssmlab.n_layer < 1 || c.ssmlab.d_model < 1) fuzz::violated("ssmlab sizes", s);
      break;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = parse_json_limited(fuzz::as_text(data, size), "config.json");
  } catch (const std::runtime_error&) {
    return 0;
  }
  for (bool allow_unknown : {false, true}) {
    hf::ConfigOptions opt;
    opt.allow_unknown_keys = allow_unknown;
    try {
      check_config(hf::parse_config(j, opt));
    } catch (const hf::Error&) {
    }
  }
  return 0;
}
