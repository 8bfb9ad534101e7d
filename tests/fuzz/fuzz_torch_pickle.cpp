// fuzz_torch_pickle: data.pkl bytes through hf::parse_torch_pickle, the restricted unpickler of the
// pytorch_model.bin reader (hf/include/ssmlab/hf/torch_bin.h). Promise: hf::Error, or tensors
// whose description is sane (non-negative offset, sizes and strides, at most kMaxDims dimensions,
// a storage key).
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "ssmlab/hf/torch_bin.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const auto& t : hf::parse_torch_pickle(data, size, "fuzz")) {
      if (t.shape.size() != t.strides.size()) fuzz::violated("shape and strides differ in length", t.name);
      if (t.shape.size() > hf::TorchBinLimits::kMaxDims) fuzz::violated("too many dimensions", t.name);
      if (t.storage_offset < 0 || t.storage_numel < 0) fuzz::violated("negative offset or storage size", t.name);
      for (size_t i = 0; i < t.shape.size(); ++i)
        if (t.shape[i] < 0 || t.strides[i] < 0) fuzz::violated("negative size or stride", t.name);
    }
  } catch (const hf::Error&) {
  }
  return 0;
}
