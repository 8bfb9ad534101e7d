// torch_bin.h: a validating reader for pytorch_model.bin (torch.save's zip format), without LibTorch.
//
// Design: LibTorch's unpickler trusts its input (a 4-byte data.pkl crashes it) and nothing checks
// a tensor's offset, sizes and strides against its storage record, so ssmlab reads these files
// itself, in two torch-free steps, and hands LibTorch (hf/src/checkpoint.cpp) only checked records:
//
// 1. The archive, through libzip: exactly one `<prefix>/data.pkl`, every entry under `<prefix>/`,
//    `<prefix>/byteorder` (when present) "little", and each storage as `<prefix>/data/<key>`.
//    Entry sizes are capped and checked against what libzip actually reads (no zip bombs).
// 2. data.pkl, through our own pickle interpreter. It knows only the opcodes torch.save emits for a
//    state dict (protocol 2, torch.save's default; protocol 3-5 framing and memo opcodes are also
//    accepted) and only these globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
//    torch._utils._rebuild_parameter and torch.<Float|Half|BFloat16|Double|Long|Int|Short|Char|
//    Byte|Bool>Storage. Persistent ids must be ('storage', <storage class>, key, location, numel).
//    Nothing is ever called or imported; any other opcode or global is an hf::Error naming it.
//    Every stack, mark and memo access is bounds-checked, and the sizes below are capped.
//
// Then every tensor is checked against its storage record: the record exists and holds exactly
// numel(storage) * element size bytes; offset, sizes and strides are >= 0; and the largest element
// index offset + sum((size_i - 1) * stride_i), computed with overflow checks, lies inside the
// storage. A failure is an hf::Error naming the file and the tensor. The storage location
// ("cpu", "cuda:0", ...) is recorded and otherwise ignored: everything loads on the CPU.
// The state dict may be wrapped as {"state_dict": {...}}, {"model": {...}} or {"module": {...}}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ssmlab/hf/safetensors.h"  // hf::Error, DType

namespace ssmlab::hf {

struct TorchBinLimits {
  static constexpr uint64_t kMaxPickleBytes = 256ull << 20;  // data.pkl (a 10^5-tensor state dict is ~20 MB)
  static constexpr std::size_t kMaxStack = 1u << 16;         // values on the stack (pickle batches dict items by 1000)
  static constexpr std::size_t kMaxMarks = 1024;             // nested MARKs
  static constexpr std::size_t kMaxMemo = 1u << 23;          // largest memo index + 1 (torch memoizes ~9 per tensor)
  static constexpr std::size_t kMaxObjects = 1u << 22;       // values created (~20 per tensor), and items in lists/dicts
  static constexpr std::size_t kMaxDims = 64;                // dimensions of one tensor
  static constexpr int kMaxWrapperDepth = 4;                 // {"state_dict": {"model": ...}} nesting
  static constexpr std::size_t kMaxEntries = 1u << 20;       // zip entries
};

// One tensor of the state dict as data.pkl describes it (no data yet).
struct TorchPickledTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape, strides;
  int64_t storage_offset = 0;   // in elements
  std::string storage_key;      // the archive entry is <prefix>/data/<storage_key>
  std::string location;         // "cpu", "cuda:0", ... (ignored when loading)
  int64_t storage_numel = 0;    // elements in the storage, as the persistent id says
};

// Runs the restricted unpickler over data.pkl and returns the state dict's tensors in pickle
// order (wrappers removed). Checks everything the pickle alone can tell (types, signs, dims,
// consistent use of each storage key); the storage records are checked by TorchBinFile.
// `label` prefixes error messages. Safe on any input (this is a fuzz target).
std::vector<TorchPickledTensor> parse_torch_pickle(const uint8_t* data, std::size_t size, const std::string& label);

// A checked tensor: the pickled description plus its storage record's bytes.
struct TorchTensorRecord : TorchPickledTensor {
  const uint8_t* storage_data = nullptr;  // the whole storage record; valid while the TorchBinFile lives
  uint64_t storage_bytes = 0;             // == storage_numel * dtype_size(dtype)
  int64_t numel() const;
  bool contiguous() const;  // row-major strides (dimensions of size 1 are ignored)
};

class TorchBinFile {
 public:
  // Opens `path` (a regular file: open_regular_file), reads and checks it; throws hf::Error.
  static TorchBinFile open(const std::string& path);
  // Same, over an in-memory archive (tests, fuzzing); the bytes are not kept.
  static TorchBinFile from_bytes(const uint8_t* data, std::size_t size, const std::string& label);

  const std::string& label() const { return label_; }
  const std::vector<TorchTensorRecord>& tensors() const { return tensors_; }
  // The storage records' bytes, shared by the records' storage_data pointers (keep it alive
  // while using them, e.g. in a deleter).
  std::shared_ptr<const void> storage_owner() const { return storages_; }

 private:
  std::string label_;
  std::shared_ptr<const void> storages_;
  std::vector<TorchTensorRecord> tensors_;
  friend struct TorchBinBuilder;
};

}  // namespace ssmlab::hf
