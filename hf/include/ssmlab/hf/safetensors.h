// safetensors.h: a validating, memory-mapped reader for the safetensors format (no LibTorch).
//
// Design: the whole header is checked before any tensor is exposed, so a hostile or truncated
// file fails in open() with an hf::Error that names the file and the problem, never later with
// an out-of-bounds read. The layout is
//   [u64 little-endian N][N bytes of JSON header][data buffer]
// and every tensor entry {"dtype", "shape", "data_offsets": [begin, end]} must satisfy
//   numel(shape) * sizeof(dtype) == end - begin,   begin <= end <= size(data buffer),
// with no two non-empty ranges overlapping. Header length is capped (kMaxHeaderBytes).
// Sharded checkpoints (model.safetensors.index.json) are read by ShardedSafetensors.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssmlab::hf {

// Every failure in ssmlab::hf (format, config, tokenizer, weight loading) throws this.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// Name as written in the header ("F32"); size in bytes of one element.
const char* dtype_name(DType d);
std::size_t dtype_size(DType d);
// Parses a header dtype string; throws hf::Error for unknown ones.
DType parse_dtype(const std::string& s);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;    // offsets inside the data buffer
  const uint8_t* data = nullptr;  // points into the mapping; valid while the file object lives
  uint64_t nbytes() const { return end - begin; }
  int64_t numel() const;
};

// Read-only mapping of a whole file (mmap; munmap on destruction).
class MappedFile;

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // as the reference implementation

  // Maps and validates `path`; throws hf::Error on any problem.
  static SafetensorsFile open(const std::string& path);
  // Validates an in-memory image (tests); the bytes are copied.
  static SafetensorsFile from_bytes(const std::vector<uint8_t>& bytes, const std::string& label);

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  void parse(const uint8_t* bytes, uint64_t size);
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  std::shared_ptr<std::vector<uint8_t>> owned_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// model.safetensors.index.json: {"weight_map": {tensor name: shard file name}}. Every shard is
// opened and validated; each listed name must be in its shard, and no name may be in two shards.
class ShardedSafetensors {
 public:
  static ShardedSafetensors open(const std::string& index_path);
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // All tensors of all shards, name -> view (names are unique across shards).
  const std::map<std::string, const TensorView*>& tensors() const { return all_; }

 private:
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, const TensorView*> all_;
};

// Writes a safetensors file (used by tests and tools). Tensors are laid out in the given order.
struct RawTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
std::vector<uint8_t> encode_safetensors(const std::vector<RawTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata = {});

}  // namespace ssmlab::hf
