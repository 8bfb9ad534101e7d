// smt_lib.cpp — see smt_lib.h.
#include "smt/smt_lib.h"

#include <stdexcept>

#include "ssmlab/hf/pretrained.h"

namespace ssmlab::smt {

Packed pack_sequences(const std::vector<int32_t>& stream, int64_t L, int64_t pad_id, int64_t max_n) {
  Packed p;
  const int64_t T = static_cast<int64_t>(stream.size());
  if (T < 2 || L < 1) return p;
  int64_t n = (T - 1 + L - 1) / L;                                          // every target position covered
  if (max_n > 0) n = std::min(n, max_n);
  auto all = torch::full({n * L + 1}, pad_id, torch::kLong);
  const int64_t used = std::min(T, n * L + 1);
  all.narrow(0, 0, used).copy_(torch::from_blob(const_cast<int32_t*>(stream.data()), {used}, torch::kInt32).to(torch::kLong));
  auto idx = torch::arange(n).unsqueeze(1) * L + torch::arange(L).unsqueeze(0);  // (N, L)
  p.inputs = all.index_select(0, idx.reshape(-1)).reshape({n, L});
  p.targets = all.index_select(0, (idx + 1).reshape(-1)).reshape({n, L});
  p.mask = ((idx + 1) < used).to(torch::kFloat32);                          // pads of the last sequence: 0
  return p;
}

namespace {
hf::Pretrained load(const std::string& dir, const std::string& flag, const std::string& want) {
  hf::Pretrained p;
  try {
    p = hf::load_pretrained(dir);
  } catch (const std::exception& e) {
    throw std::runtime_error(flag + " " + dir + ": " + e.what());
  }
  if (p.model->family() != want)
    throw std::runtime_error(flag + " " + dir + ": expected a " + want + " folder, found a " + p.model->family() +
                             " model (" + hf::arch_name(p.config.arch) + ")");
  return p;
}
}  // namespace

models::TransformerLM load_gpt2_folder(const std::string& dir, const std::string& flag) {
  auto p = load(dir, flag, "gpt2");
  return models::TransformerLM(std::dynamic_pointer_cast<models::TransformerLMImpl>(p.model));
}

models::MambaLM load_mamba_folder(const std::string& dir, const std::string& flag) {
  auto p = load(dir, flag, "mamba");
  return models::MambaLM(std::dynamic_pointer_cast<models::MambaLMImpl>(p.model));
}

}  // namespace ssmlab::smt
