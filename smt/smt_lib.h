// smt_lib.h — what smt_train needs besides the model (models/smt.h): packed sequences and the
// Hugging Face folders the two parts can start from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/mamba.h"
#include "models/transformer.h"

namespace ssmlab::smt {

// A token stream cut into sequences of L: inputs (N, L), targets (N, L) (the next tokens), mask
// (N, L) float, 1 where a target is real. Packing: the stream is the non-empty lines, each followed by
// EOS, one after the other; sequence i is tokens [iL, iL + L] (inputs the first L, targets the last L),
// and the last, partial sequence is filled with `pad_id` whose targets have mask 0. (The original pads
// every line to L on its own; WikiText-2's lines average ~100 GPT-2 tokens, so ~90 % of such a
// sequence would be padding: packing spends the compute on text.) max_n > 0 keeps the first max_n.
struct Packed {
  torch::Tensor inputs, targets, mask;
  int64_t n() const { return inputs.defined() ? inputs.size(0) : 0; }
  int64_t real_tokens() const { return mask.defined() ? mask.sum().item<int64_t>() : 0; }
};
Packed pack_sequences(const std::vector<int32_t>& stream, int64_t L, int64_t pad_id, int64_t max_n = 0);

// A GPT-2 folder (model_type gpt2) / a Mamba folder (model_type mamba) as the module SmtImpl takes.
// Throws std::runtime_error "<flag> <dir>: ..." for a folder of another architecture or a broken one.
models::TransformerLM load_gpt2_folder(const std::string& dir, const std::string& flag = "--transformer-from");
models::MambaLM load_mamba_folder(const std::string& dir, const std::string& flag = "--memory-from");

}  // namespace ssmlab::smt
