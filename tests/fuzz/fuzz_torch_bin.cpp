// fuzz_torch_bin: a whole pytorch_model.bin (zip archive) through hf::TorchBinFile::from_bytes
// (libzip, the restricted unpickler, the storage checks). Promise (torch_bin.h): hf::Error, or
// records whose every element lies inside its storage record; the elements are read through the
// strides so that ASan sees any byte outside.
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/torch_bin.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto f = hf::TorchBinFile::from_bytes(data, size, "fuzz");
    unsigned sum = 0;
    for (const auto& t : f.tensors()) {
      const uint64_t esize = hf::dtype_size(t.dtype);
      if (t.storage_bytes != static_cast<uint64_t>(t.storage_numel) * esize) fuzz::violated("storage size", t.name);
      if (t.numel() == 0) continue;
      // the last element, offset + sum((size_i - 1) * stride_i), and the first
      uint64_t last = static_cast<uint64_t>(t.storage_offset);
      for (size_t i = 0; i < t.shape.size(); ++i) last += static_cast<uint64_t>(t.shape[i] - 1) * static_cast<uint64_t>(t.strides[i]);
      if ((last + 1) * esize > t.storage_bytes) fuzz::violated("a tensor element lies outside its storage", t.name);
      sum += t.storage_data[static_cast<uint64_t>(t.storage_offset) * esize];
      sum += t.storage_data[last * esize + esize - 1];
    }
    return static_cast<int>(sum & 0);
  } catch (const hf::Error&) {
  }
  return 0;
}
