// checkpoint.cpp: safetensors / pytorch_model.bin -> torch tensors; strict loading by name.
#include "ssmlab/hf/checkpoint.h"
#include "ssmlab/hf/torch_bin.h"

#include "ssmlab/atomic_file.h"
#include "ssmlab/safe_io.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace ssmlab::hf {

torch::ScalarType to_torch_dtype(DType d) {
  switch (d) {
    case DType::F64: return torch::kFloat64;
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::I16: return torch::kInt16;
    case DType::I8: return torch::kInt8;
    case DType::U8: return torch::kUInt8;
    case DType::BOOL: return torch::kBool;
  }
  throw Error("unknown dtype");
}

torch::Tensor to_tensor(const TensorView& v) {
  static_assert(sizeof(float) == 4, "IEEE float expected");
  {
    const uint16_t probe = 1;  // safetensors is little-endian
    if (*reinterpret_cast<const uint8_t*>(&probe) != 1) throw Error("big-endian hosts are not supported");
  }
  torch::Tensor t = torch::empty(v.shape, torch::TensorOptions().dtype(to_torch_dtype(v.dtype)));
  if (static_cast<uint64_t>(t.nbytes()) != v.nbytes())
    throw Error("tensor '" + v.name + "': size mismatch while copying");
  if (v.nbytes()) std::memcpy(t.data_ptr(), v.data, v.nbytes());
  return t;
}

DType from_torch_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64: return DType::F64;
    case torch::kFloat32: return DType::F32;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    case torch::kInt16: return DType::I16;
    case torch::kInt8: return DType::I8;
    case torch::kUInt8: return DType::U8;
    case torch::kBool: return DType::BOOL;
    default: throw Error(std::string("safetensors has no dtype for ") + c10::toString(t));
  }
}

// ---- zero-copy views of mapped safetensors files -------------------------------------------------
// Each tensor views the read-only mapping (kept alive by the tensors' deleters), so loading copies
// the bytes once, from the page cache into the parameters. The mapped data ranges are registered so
// that load_strict can hand a view's pages back to the kernel once it is copied: without that, the
// touched file pages stay in the process's RSS and loading peaks at ~2x the checkpoint size.
namespace {
std::mutex g_mapped_mu;
std::vector<std::pair<uintptr_t, uintptr_t>> g_mapped;  // [begin, end) of live mapped data regions

struct MappedViews {  // owns the mapping(s) and their registration
  std::shared_ptr<const void> files;
  std::pair<uintptr_t, uintptr_t> range{0, 0};
  ~MappedViews() {
    std::lock_guard<std::mutex> lock(g_mapped_mu);
    for (size_t i = 0; i < g_mapped.size(); ++i)
      if (g_mapped[i] == range) {
        g_mapped.erase(g_mapped.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
  }
};

// Views (or copies, when a tensor is unaligned for its dtype) of `views`, which live in `files`.
template <class Files>
TensorMap mapped_tensors(std::shared_ptr<const Files> files, const std::vector<const TensorView*>& views) {
  auto holder = std::make_shared<MappedViews>();
  holder->files = files;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (const auto* v : views)
    if (v->nbytes()) lo = std::min(lo, reinterpret_cast<uintptr_t>(v->data)), hi = std::max(hi, reinterpret_cast<uintptr_t>(v->data) + v->nbytes());
  TensorMap m;
  for (const auto* v : views) {
    const bool aligned = reinterpret_cast<uintptr_t>(v->data) % dtype_size(v->dtype) == 0;
    if (!aligned || v->nbytes() == 0) {
      m[v->name] = to_tensor(*v);
      continue;
    }
    m[v->name] = torch::from_blob(const_cast<uint8_t*>(v->data), v->shape, [holder](void*) {},
                                  torch::TensorOptions().dtype(to_torch_dtype(v->dtype)));
  }
  // Separate files are separate mappings: register one range per file (the caller passes one file's views).
  if (hi > lo) {
    holder->range = {lo, hi};
    std::lock_guard<std::mutex> lock(g_mapped_mu);
    g_mapped.push_back(holder->range);
  }
  return m;
}

// Drops the whole pages of a mapped view from this process (MADV_DONTNEED: a later read faults them
// in again from the file, so the view stays valid). Tensors not inside a registered range are left alone.
void release_mapped_pages(const torch::Tensor& t) {
  if (!t.defined() || t.nbytes() == 0) return;
  const auto b = reinterpret_cast<uintptr_t>(t.data_ptr()), e = b + t.nbytes();
  {
    std::lock_guard<std::mutex> lock(g_mapped_mu);
    bool inside = false;
    for (const auto& [lo, hi] : g_mapped) inside = inside || (b >= lo && e <= hi);
    if (!inside) return;
  }
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (b + page - 1) / page * page, last = e / page * page;  // whole pages only
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}
}  // namespace

TensorMap load_safetensors(const std::string& path) {
  auto f = std::make_shared<const SafetensorsFile>(SafetensorsFile::open(path));
  std::vector<const TensorView*> views;
  for (const auto& v : f->tensors()) views.push_back(&v);
  return mapped_tensors(f, views);
}

void write_safetensors(const std::string& path, const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t off = 0;
  for (const auto& [name, t0] : tensors) {
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    const uint64_t n = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype_name(from_torch_dtype(t.scalar_type()))}, {"shape", t.sizes().vec()}, {"data_offsets", {off, off + n}}};
    off += n;
    data.push_back(t);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  write_file_atomic(path, [&](std::ostream& os) {
    uint64_t hs = h.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(hs >> (8 * i));
    os.write(reinterpret_cast<const char*>(le), 8);
    os.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : data) os.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  });
}

TensorMap load_safetensors_index(const std::string& index_path) {
  auto s = std::make_shared<const ShardedSafetensors>(ShardedSafetensors::open(index_path));
  TensorMap m;
  for (const auto& shard : s->shards()) {  // one registered range per shard (each its own mapping)
    std::vector<const TensorView*> views;
    for (const auto& v : shard.tensors())
      if (s->tensors().count(v.name)) views.push_back(&v);
    for (auto& [name, t] : mapped_tensors(s, views)) m[name] = t;
  }
  return m;
}

// Tensors of a checked pytorch_model.bin (torch_bin.h): each storage record becomes one CPU tensor
// viewing the reader's buffer (kept alive by the deleters), and each state-dict entry a view of it
// with the pickled offset, sizes and strides, made contiguous (a copy only when it is not already).
TensorMap load_pytorch_bin(const std::string& path) {
  auto f = std::make_shared<const TorchBinFile>(TorchBinFile::open(path));
  std::map<std::string, torch::Tensor> storages;
  TensorMap m;
  for (const auto& r : f->tensors()) {
    auto it = storages.find(r.storage_key);
    if (it == storages.end()) {
      const auto numel = static_cast<int64_t>(r.storage_bytes / dtype_size(r.dtype));
      const auto opts = torch::TensorOptions().dtype(to_torch_dtype(r.dtype));
      torch::Tensor s = numel == 0 ? torch::empty({0}, opts)
                                   : torch::from_blob(const_cast<uint8_t*>(r.storage_data), {numel}, [f](void*) {}, opts);
      it = storages.emplace(r.storage_key, s).first;
    }
    m[r.name] = it->second.as_strided(r.shape, r.strides, r.storage_offset).contiguous();
  }
  return m;
}

TensorMap load_checkpoint_tensors(const std::string& dir, std::string* source) {
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw Error(dir + ": not a folder");
  auto pick = [&](const char* name) { return fs::exists(d / name) ? (d / name).string() : std::string(); };
  std::string p;
  TensorMap m;
  if (!(p = pick("model.safetensors")).empty()) {
    m = load_safetensors(p);
  } else if (!(p = pick("model.safetensors.index.json")).empty()) {
    m = load_safetensors_index(p);
  } else if (!(p = pick("pytorch_model.bin")).empty()) {
    m = load_pytorch_bin(p);
  } else if (!(p = pick("pytorch_model.bin.index.json")).empty()) {
    nlohmann::json j;
    try {
      j = read_json_file(p);
    } catch (const std::runtime_error& e) {
      throw Error(e.what());
    }
    std::set<std::string> files;
    for (auto it = j.at("weight_map").begin(); it != j.at("weight_map").end(); ++it) {
      const std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos) throw Error(p + ": shard '" + f + "' is not a plain file name");
      files.insert(f);
    }
    for (const auto& f : files)
      for (auto& [k, t] : load_pytorch_bin((d / f).string())) {
        if (m.count(k)) throw Error(p + ": tensor '" + k + "' is stored in two shards");
        m[k] = t;
      }
  } else {
    throw Error(dir + ": no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
                      "pytorch_model.bin.index.json");
  }
  if (source) *source = p;
  return m;
}

void load_strict(torch::nn::Module& module, const TensorMap& tensors, const StrictLoadRules& rules) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::vector<std::string> missing, unused, shape_bad, tie_bad;
  std::set<std::string> used;
  auto shape_str = [](at::IntArrayRef s) {
    std::ostringstream o;
    o << s;
    return o.str();
  };
  for (const auto& p : params) {
    auto it = tensors.find(p.key());
    if (it == tensors.end()) {
      missing.push_back(p.key() + " " + shape_str(p.value().sizes()));
      continue;
    }
    used.insert(p.key());
    if (it->second.sizes() != p.value().sizes())
      shape_bad.push_back(p.key() + ": checkpoint " + shape_str(it->second.sizes()) + " vs model " +
                          shape_str(p.value().sizes()));
    else if (p.value().is_floating_point() && !it->second.is_floating_point())
      shape_bad.push_back(p.key() + ": checkpoint dtype " + std::string(c10::toString(it->second.scalar_type())) +
                          " is not a floating-point type (model parameter " + c10::toString(p.value().scalar_type()) + ")");
  }
  for (const auto& [name, target] : rules.tied) {
    auto it = tensors.find(name);
    if (it == tensors.end()) continue;
    used.insert(name);
    auto jt = tensors.find(target);
    if (jt == tensors.end() || it->second.sizes() != jt->second.sizes() ||
        !torch::equal(it->second.to(torch::kFloat32), jt->second.to(torch::kFloat32)))
      tie_bad.push_back(name + " should equal the tied " + target + " but differs");
  }
  for (const auto& [name, t] : tensors)
    if (!used.count(name) && !(rules.ignorable && rules.ignorable(name)))
      unused.push_back(name + " " + shape_str(t.sizes()));
  if (!missing.empty() || !unused.empty() || !shape_bad.empty() || !tie_bad.empty()) {
    std::ostringstream msg;
    msg << "strict weight loading failed (" << missing.size() << " missing, " << unused.size() << " unused, "
        << shape_bad.size() << " shape mismatches, " << tie_bad.size() << " broken ties)";
    auto list = [&](const char* title, const std::vector<std::string>& v) {
      if (v.empty()) return;
      msg << "\n  " << title << ":";
      std::size_t k = 0;
      for (const auto& s : v) {
        if (k++ == 25) {
          msg << "\n    ... and " << (v.size() - 25) << " more";
          break;
        }
        msg << "\n    " << s;
      }
    };
    list("missing from the checkpoint", missing);
    list("unused checkpoint tensors", unused);
    list("shape mismatches", shape_bad);
    list("broken ties", tie_bad);
    throw Error(msg.str());
  }
  torch::NoGradGuard ng;
  std::vector<std::string> nonfinite;
  for (auto& p : params) {  // copy, give the source's mapped pages back, then check the copy
    const auto& src = tensors.at(p.key());
    p.value().copy_(src.to(p.value().dtype()));
    release_mapped_pages(src);
    if (p.value().is_floating_point() && !torch::isfinite(p.value()).all().item<bool>()) nonfinite.push_back(p.key());
  }
  if (!nonfinite.empty()) {
    std::string list;
    for (const auto& n : nonfinite) list += (list.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "warning: non-finite (NaN/Inf) weights in %zu tensor(s): %s\n", nonfinite.size(), list.c_str());
  }
}

}  // namespace ssmlab::hf
