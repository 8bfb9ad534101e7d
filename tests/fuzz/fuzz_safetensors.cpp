// fuzz_safetensors: SafetensorsFile::from_bytes on arbitrary bytes (header length, JSON header,
// tensor index, data offsets). Promise (safetensors.h): either hf::Error, or every tensor view lies
// inside the buffer with nbytes == numel * dtype size, ranges not overlapping; the views are
// read end to end so that ASan sees any byte outside the copy.
#include <cstdint>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/safetensors.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  hf::SafetensorsFile f;
  try {
    f = hf::SafetensorsFile::from_bytes(bytes, "fuzz");
  } catch (const hf::Error&) {
    return 0;
  }
  uint64_t total = 0;
  unsigned sum = 0;
  for (const auto& t : f.tensors()) {
    if (f.find(t.name) != &t) fuzz::violated("find() does not return the listed tensor", t.name);
    if (t.begin > t.end) fuzz::violated("begin > end", t.name);
    const uint64_t n = t.nbytes();
    const uint64_t numel = static_cast<uint64_t>(t.numel());
    if (numel * hf::dtype_size(t.dtype) != n) fuzz::violated("nbytes != numel * dtype size", t.name);
    if (n > size) fuzz::violated("tensor larger than the file", t.name);
    for (uint64_t i = 0; i < n; ++i) sum += t.data[i];  // ASan: every byte is inside the copy
    total += n;
  }
  if (total > size) fuzz::violated("tensors overlap or exceed the file");
  for (const auto& [k, v] : f.metadata()) sum += static_cast<unsigned>(k.size() + v.size());
  return static_cast<int>(sum & 0);
}
