// checkpoint.h: tensors of a Hugging Face checkpoint folder as LibTorch tensors, and strict loading
// of those tensors into a torch::nn::Module by parameter name.
//
// Folder lookup order: model.safetensors, model.safetensors.index.json (shards),
// pytorch_model.bin, pytorch_model.bin.index.json (shards). pytorch_model.bin (a zip holding a
// pickled state dict, as torch.save writes it) is read and checked by TorchBinFile (torch_bin.h:
// libzip and ssmlab's own restricted unpickler, no code execution, every tensor checked against its
// storage record); this file only turns the checked records into CPU tensors, whatever device the
// checkpoint was saved from. LibTorch's torch::pickle_load is not used: it crashes on malformed
// pickles and does not check offsets and strides. No Python is involved.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ssmlab/hf/safetensors.h"

namespace ssmlab::hf {

using TensorMap = std::map<std::string, torch::Tensor>;

torch::ScalarType to_torch_dtype(DType d);
DType from_torch_dtype(torch::ScalarType t);  // the inverse; hf::Error for types safetensors lacks
// Copies a validated view into a fresh CPU tensor of the stored dtype.
torch::Tensor to_tensor(const TensorView& v);

TensorMap load_safetensors(const std::string& path);
// Writes tensors (CPU, contiguous copies made here) as one safetensors file with `metadata`,
// atomically (write_file_atomic). Throws hf::Error for a dtype safetensors cannot hold.
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});
TensorMap load_safetensors_index(const std::string& index_path);
TensorMap load_pytorch_bin(const std::string& path);
// Detects the format in `dir` (see the lookup order above); `source` receives the file used.
TensorMap load_checkpoint_tensors(const std::string& dir, std::string* source = nullptr);

struct StrictLoadRules {
  // Checkpoint names that may be present without a matching parameter (non-persistent buffers that
  // old checkpoints carry: causal masks, rotary inv_freq).
  std::function<bool(const std::string&)> ignorable;
  // Checkpoint names that duplicate a tied parameter: name -> parameter name. The tensor must equal
  // the parameter's checkpoint tensor; otherwise the tie is broken and loading fails.
  std::map<std::string, std::string> tied;
};

// Copies every checkpoint tensor into the parameter of the same name (converted to the parameter's
// dtype). Fails with one hf::Error listing all problems: parameters missing from the checkpoint,
// checkpoint tensors no parameter uses, and shape mismatches.
void load_strict(torch::nn::Module& module, const TensorMap& tensors, const StrictLoadRules& rules = {});

}  // namespace ssmlab::hf
