// fuzz_torch_pickle: data.pkl bytes through hf::parse_torch_pickle, the restricted unpickler of the
// pytorch_model.bin reader (hf/include/ssmlab/hf/torch_bin.h). Promise: hf::Error, or tensors with
// as many strides as sizes, at most kMaxDims dimensions and a storage element count >= 0. (Offsets,
// sizes and strides are checked against the storage by TorchBinFile: fuzz_torch_bin.)
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/torch_bin.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const auto& t : hf::parse_torch_pickle(data, size, "fuzz")) {
      if (t.shape.size() != t.strides.size()) fuzz::violated("shape and strides differ in length", t.name);
      if (t.shape.size() > hf::TorchBinLimits::kMaxDims) fuzz::violated("too many dimensions", t.name);
      if (t.storage_numel < 0) fuzz::violated("negative storage size", t.name);
    }
  } catch (const hf::Error&) {
  }
  return 0;
}
