// fuzz_train_checkpoint: ssmlab's training-checkpoint file format (hf/train_checkpoint.h) through
// hf::parse_train_checkpoint. The CRC-32 would stop almost every mutation at the header, so the
// first input byte picks the mode: even = the input after it is the payload, wrapped in a valid
// header with its true CRC (reaches the safetensors and metadata decoding); odd = the input after it
// is the whole file as it comes (header checks). Promise: hf::Error, or a file whose info holds an
// integer next_step and an optimizer.groups array and whose tensors lie inside the payload.
#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/train_checkpoint.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool wrap = (data[0] & 1) == 0;
  std::string bytes;
  if (wrap) {
    const std::vector<uint8_t> payload(data + 1, data + size);
    bytes = hf::train_checkpoint_header(payload);
    bytes.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  } else {
    bytes.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  }
  try {
    const auto f = hf::parse_train_checkpoint(std::move(bytes), "fuzz");
    if (!f.info["next_step"].is_number_integer() || !f.info["optimizer"]["groups"].is_array())
      fuzz::violated("metadata", "next_step / optimizer.groups");
    unsigned sum = 0;
    for (const auto& v : f.tensors.tensors())
      if (v.nbytes() > 0) sum += v.data[0] + v.data[v.nbytes() - 1];  // ASan sees any byte outside
    return static_cast<int>(sum & 0);
  } catch (const hf::Error&) {
  }
  return 0;
}
