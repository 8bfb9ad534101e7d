// safetensors.cpp: the validating, memory-mapped safetensors reader (safetensors.h), single files and
// sharded checkpoints (no LibTorch).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "ssmlab/hf/safetensors.h"
#include "ssmlab/safe_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ssmlab::hf {

// ---------------------------------------------------------------------------------------------
// dtypes
// ---------------------------------------------------------------------------------------------
namespace {
struct DTypeInfo {
  DType d;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};
}  // namespace

const char* dtype_name(DType d) {
  for (const auto& i : kDTypes)
    if (i.d == d) return i.name;
  return "?";
}
std::size_t dtype_size(DType d) {
  for (const auto& i : kDTypes)
    if (i.d == d) return i.size;
  return 0;
}
DType parse_dtype(const std::string& s) {
  for (const auto& i : kDTypes)
    if (s == i.name) return i.d;
  throw Error("unsupported dtype '" + s + "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

// ---------------------------------------------------------------------------------------------
// mapping
// ---------------------------------------------------------------------------------------------
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    // The checked open (ssmlab/safe_io.h): a FIFO does not hang, a device is refused.
    ssmlab::RegularFile f;
    try {
      f = ssmlab::open_regular_file(path, ssmlab::kMaxWeightsFileBytes, "safetensors file");
    } catch (const std::exception& e) {
      throw Error(e.what());
    }
    size_ = f.size();
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd(), 0);
      if (p == MAP_FAILED) throw Error(path + ": mmap failed (" + std::strerror(errno) + ")");
      data_ = static_cast<const uint8_t*>(p);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// ---------------------------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------------------------
SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.map_ = std::make_shared<MappedFile>(path);
  f.parse(f.map_->data(), f.map_->size());
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(const std::vector<uint8_t>& bytes, const std::string& label) {
  SafetensorsFile f;
  f.path_ = label;
  f.owned_ = std::make_shared<std::vector<uint8_t>>(bytes);
  f.parse(f.owned_->data(), f.owned_->size());
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
bool is_uint(const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); }
}  // namespace

void SafetensorsFile::parse(const uint8_t* bytes, uint64_t size) {
  auto fail = [&](const std::string& what) { throw Error(path_ + ": invalid safetensors file: " + what); };
  if (size < 8) fail("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  const uint64_t n = read_u64_le(bytes);
  if (n > kMaxHeaderBytes)
    fail("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  if (n > size - 8)
    fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
  if (n < 2) fail("header length " + std::to_string(n) + " is too small for a JSON object");
  const char* h = reinterpret_cast<const char*>(bytes + 8);
  if (h[0] != '{') fail("header does not start with '{'");
  json j;
  try {
    j = ssmlab::parse_json_limited(std::string_view(h, n), "header");  // nesting-limited
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (!j.is_object()) fail("header is not a JSON object");
  const uint64_t data_size = size - 8 - n;
  const uint8_t* data = bytes + 8 + n;
  tensors_.clear();
  index_.clear();
  metadata_.clear();
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) fail("__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__['" + m.key() + "'] is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!e.is_object()) fail(where + "entry is not an object");
    for (const char* k : {"dtype", "shape", "data_offsets"})
      if (!e.contains(k)) fail(where + "missing \"" + k + "\"");
    TensorView t;
    t.name = name;
    if (!e["dtype"].is_string()) fail(where + "dtype is not a string");
    try {
      t.dtype = parse_dtype(e["dtype"].get<std::string>());
    } catch (const Error& err) {
      fail(where + err.what());
    }
    if (!e["shape"].is_array()) fail(where + "shape is not an array");
    // numel * element size, with overflow checks (a hostile shape must not wrap around)
    uint64_t bytes_needed = dtype_size(t.dtype);
    for (const auto& s : e["shape"]) {
      if (!is_uint(s)) fail(where + "shape has a non-integer or negative entry");
      const uint64_t d = s.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(where + "shape entry too large");
      if (d != 0 && bytes_needed > std::numeric_limits<uint64_t>::max() / d) fail(where + "shape size overflows");
      bytes_needed *= d;
      t.shape.push_back(static_cast<int64_t>(d));
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !is_uint(off[0]) || !is_uint(off[1]))
      fail(where + "data_offsets must be [begin, end] with non-negative integers");
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.begin > t.end) fail(where + "data_offsets begin > end");
    if (t.end > data_size)
      fail(where + "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
           ") lie outside the data buffer of " + std::to_string(data_size) + " bytes");
    if (t.end - t.begin != bytes_needed)
      fail(where + "shape x dtype size = " + std::to_string(bytes_needed) + " bytes but data_offsets span " +
           std::to_string(t.end - t.begin) + " bytes");
    t.data = data + t.begin;
    index_[name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  // non-overlapping byte ranges
  std::vector<const TensorView*> by_begin;
  for (const auto& t : tensors_)
    if (t.end > t.begin) by_begin.push_back(&t);
  std::sort(by_begin.begin(), by_begin.end(), [](auto a, auto b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_begin.size(); ++i)
    if (by_begin[i]->begin < by_begin[i - 1]->end)
      fail("byte ranges of tensors '" + by_begin[i - 1]->name + "' and '" + by_begin[i]->name + "' overlap");
}

ShardedSafetensors ShardedSafetensors::open(const std::string& index_path) {
  ShardedSafetensors s;
  json j;
  try {
    j = ssmlab::read_json_file(index_path);  // checked open, size cap, nesting limit
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(index_path + ": missing object \"weight_map\"");
  const fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, std::vector<std::string>> by_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) throw Error(index_path + ": weight_map['" + it.key() + "'] is not a string");
    const std::string file = it.value().get<std::string>();
    if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos || file == ".." ||
        file == ".")
      throw Error(index_path + ": shard name '" + file + "' must be a plain file name in the same folder");
    by_file[file].push_back(it.key());
  }
  if (by_file.empty()) throw Error(index_path + ": weight_map is empty");
  s.shards_.reserve(by_file.size());
  for (const auto& [file, names] : by_file) {
    s.shards_.push_back(SafetensorsFile::open((dir / file).string()));
    const auto& shard = s.shards_.back();
    for (const auto& n : names)
      if (!shard.find(n)) throw Error(index_path + ": tensor '" + n + "' is listed in " + file + " but not stored there");
  }
  for (const auto& shard : s.shards_)
    for (const auto& t : shard.tensors()) {
      if (s.all_.count(t.name)) throw Error(index_path + ": tensor '" + t.name + "' is stored in two shards");
      s.all_[t.name] = &t;
    }
  return s;
}

std::vector<uint8_t> encode_safetensors(const std::vector<RawTensor>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto& t : tensors) {
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string hs = h.dump();
  while ((hs.size() + 8) % 8 != 0) hs.push_back(' ');
  std::vector<uint8_t> out(8);
  const uint64_t n = hs.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), hs.begin(), hs.end());
  for (const auto& t : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

}  // namespace ssmlab::hf
