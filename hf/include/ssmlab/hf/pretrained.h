// pretrained.h: Hugging Face folders <-> ssmlab models (models::LanguageModel). hf/ holds formats
// only (safetensors, config.json, tokenizer.json, pytorch_model.bin, the name/shape checks); the
// models themselves are models/' classes, whose parameter names are the checkpoints' own:
//   GPTNeoXForCausalLM      -> models::TransformerLM (GPT-NeoX names, parallel or sequential residual)
//   GPT2LMHeadModel         -> models::TransformerLM (learned positions; Conv1D weights transposed and
//                              renamed on load, back on save)
//   MambaForCausalLM / state-spaces mamba-* -> models::MambaLM;  Mamba2ForCausalLM -> models::Mamba2LM
//   model_type ssmlab_transformer (T_nope, T_alibi, T_hard_alibi) / ssmlab_moe_transformer (T_rope_moe)
//   / ssmlab_lstm: ssmlab-only folders (config.h says why).
// (mamba-ssm's MambaLMHeadModel.from_pretrained and utils/hf.py play this role upstream.)
//
//   auto p = ssmlab::hf::load_pretrained("path/to/folder", {.device = torch::kCUDA});
//   auto out = ssmlab::models::generate(*p.model, {p.tokenizer->encode("Hello")}, gen_opts);
//   ssmlab::hf::save_pretrained(*model, "out/folder", {.tokenizer_file = "tokenizer.json"});
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "models/lm.h"
#include "ssmlab/hf/checkpoint.h"
#include "ssmlab/hf/config.h"
#include "ssmlab/hf/tokenizer.h"

namespace ssmlab::hf {

// A model of `cfg`'s architecture and sizes with freshly initialised weights (on the CPU, fp32).
models::LanguageModel model_from_config(const CheckpointConfig& cfg);

// Checkpoint tensor names -> the model's parameter names (GPT-2 renames and transposes; Mamba's
// state-spaces "backbone.embedding."), then strict loading (hf::load_strict) with the architecture's
// ignorable buffers and ties. Throws hf::Error listing every missing/unused/mismatched tensor.
void load_weights(models::LanguageModelImpl& model, const CheckpointConfig& cfg, TensorMap tensors);

struct LoadOptions {
  ConfigOptions config;
  bool require_tokenizer = false;
  std::string tokenizer_path;     // tokenizer.json elsewhere (state-spaces/mamba-* ship none)
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;  // parameters' dtype after loading (fp32 | bf16 | fp16)
};

// The parameter dtype named on a command line: "fp32" | "bf16" | "fp16" (throws Error otherwise).
torch::ScalarType dtype_from_name(const std::string& name);

// The LoadOptions of a command-line tool that works on text (generate, pretrained_eval): the device,
// the --dtype name, --tokenizer (empty: the folder's own), --allow-unknown-config; a tokenizer is required.
LoadOptions text_tool_load_options(torch::Device device, const std::string& dtype_name, const std::string& tokenizer_path,
                                   bool allow_unknown_keys);

struct Pretrained {
  CheckpointConfig config;
  models::LanguageModel model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has no tokenizer.json
  std::string weights_file;
};

// config.json + weights (+ tokenizer.json) of a folder. Weights are read from the memory-mapped
// safetensors file straight into the parameters (no intermediate host copy), then moved to
// opt.device. A tokenizer with more ids than the model's vocabulary is an hf::Error.
Pretrained load_pretrained(const std::string& dir, const LoadOptions& opt = {});

struct SaveOptions {
  torch::ScalarType dtype = torch::kFloat32;  // fp32 | bf16 weights in model.safetensors
  std::string tokenizer_file;                 // copied to tokenizer.json when given
  int64_t eos_token_id = -1;
};

// Writes config.json (transformers layout: GPTNeoXForCausalLM, GPT2LMHeadModel, MambaForCausalLM,
// Mamba2ForCausalLM; ssmlab_transformer / ssmlab_moe_transformer / ssmlab_lstm where transformers has no class),
// model.safetensors and tokenizer.json into `dir`, atomically: everything is written into a
// temporary sibling folder that replaces `dir` only when complete. Returns the config's model_type.
std::string save_pretrained(models::LanguageModelImpl& model, const std::string& dir, const SaveOptions& opt = {});

}  // namespace ssmlab::hf
