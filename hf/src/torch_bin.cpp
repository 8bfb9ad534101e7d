// torch_bin.cpp: torch.save's zip archive through libzip, then the storage checks (torch_bin.h).
#include "ssmlab/hf/torch_bin.h"

#include "ssmlab/safe_io.h"

#include <zip.h>

#include <unistd.h>

#include <cstdio>
#include <map>

namespace ssmlab::hf {

namespace {

// Multiplication and addition of non-negative int64 values; false on overflow.
bool mul_ok(int64_t a, int64_t b, int64_t* r) { return !__builtin_mul_overflow(a, b, r); }
bool add_ok(int64_t a, int64_t b, int64_t* r) { return !__builtin_add_overflow(a, b, r); }

struct Archive {  // zip_t with its error text and cleanup
  zip_t* z = nullptr;
  std::string label;
  ~Archive() {
    if (z) zip_discard(z);
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(label + ": " + what); }
  std::string zip_error() const { return zip_error_strerror(zip_get_error(z)); }

  // The whole entry `index` (named `name`, `size` bytes as its directory entry says).
  std::vector<uint8_t> read(zip_uint64_t index, const std::string& name, uint64_t size) const {
    zip_file_t* f = zip_fopen_index(z, index, 0);
    if (!f) fail("cannot read archive entry '" + name + "': " + zip_error());
    std::vector<uint8_t> buf(static_cast<std::size_t>(size));
    uint64_t got = 0;
    while (got < size) {
      const zip_int64_t n = zip_fread(f, buf.data() + got, size - got);
      if (n <= 0) break;
      got += static_cast<uint64_t>(n);
    }
    uint8_t extra = 0;  // a stored size smaller than the real data is a lie too
    const zip_int64_t more = got == size ? zip_fread(f, &extra, 1) : 0;
    const std::string err = zip_error_strerror(zip_file_get_error(f));
    zip_fclose(f);
    if (got != size || more != 0)
      fail("archive entry '" + name + "' is not the " + std::to_string(size) + " bytes its directory entry says (" + err + ")");
    return buf;
  }
};

struct Entry {
  zip_uint64_t index;
  uint64_t size;
};

}  // namespace

int64_t TorchTensorRecord::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;  // checked when the record was built
  return n;
}

bool TorchTensorRecord::contiguous() const {
  int64_t expected = 1;
  for (std::size_t k = shape.size(); k-- > 0;) {
    if (shape[k] != 1 && strides[k] != expected) return false;
    expected *= shape[k];
  }
  return true;
}

struct TorchBinBuilder {
  static TorchBinFile build(zip_source_t* src, const std::string& label, uint64_t archive_bytes) {
    Archive a;
    a.label = label;
    zip_error_t err;
    zip_error_init(&err);
    a.z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!a.z) {
      const std::string msg = zip_error_strerror(&err);
      zip_error_fini(&err);
      zip_source_free(src);
      a.fail("not a readable zip archive (" + msg + "); only torch.save's zip format (PyTorch >= 1.6) is supported, "
             "not the legacy tar/pickle format");
    }
    zip_error_fini(&err);

    // ---- entries: one <prefix>/data.pkl; everything under <prefix>/; storages under <prefix>/data/
    const zip_int64_t n = zip_get_num_entries(a.z, 0);
    if (n <= 0) a.fail("empty zip archive");
    if (static_cast<uint64_t>(n) > TorchBinLimits::kMaxEntries) a.fail("more than " + std::to_string(TorchBinLimits::kMaxEntries) + " archive entries");
    std::map<std::string, Entry> entries;
    std::string prefix;
    for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(n); ++i) {
      zip_stat_t st;
      if (zip_stat_index(a.z, i, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
        a.fail("cannot read archive entry " + std::to_string(i) + ": " + a.zip_error());
      const std::string name = st.name;
      const std::size_t slash = name.find('/');
      if (slash == std::string::npos || slash == 0) a.fail("archive entry '" + printable(name) + "' is not inside a folder (torch.save writes <name>/...)");
      if (prefix.empty()) prefix = name.substr(0, slash + 1);
      if (name.compare(0, prefix.size(), prefix) != 0)
        a.fail("archive entries are in two folders ('" + printable(prefix) + "', '" + printable(name) + "')");
      // A stored entry cannot hold more than the archive; a deflated one at most ~1032x its compressed size.
      const bool stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE;
      const uint64_t cap = stored ? archive_bytes : (st.valid & ZIP_STAT_COMP_SIZE) ? std::min<uint64_t>(st.comp_size, archive_bytes) * 1032 + 64 : 0;
      if (st.size > cap || st.size > kMaxAnyFileBytes)
        a.fail("archive entry '" + printable(name) + "' claims " + std::to_string(st.size) + " bytes, more than the archive can hold");
      if (!entries.emplace(name, Entry{i, st.size}).second) a.fail("archive entry '" + printable(name) + "' appears twice");
    }
    auto pkl = entries.find(prefix + "data.pkl");
    if (pkl == entries.end()) a.fail("no " + printable(prefix) + "data.pkl in the archive (not a torch.save file)");
    if (pkl->second.size > TorchBinLimits::kMaxPickleBytes) a.fail("data.pkl is larger than " + std::to_string(TorchBinLimits::kMaxPickleBytes >> 20) + " MB");
    auto bo = entries.find(prefix + "byteorder");
    if (bo != entries.end()) {
      if (bo->second.size > 16) a.fail("byteorder entry is too long");
      const std::vector<uint8_t> b = a.read(bo->second.index, bo->first, bo->second.size);
      if (std::string(b.begin(), b.end()) != "little") a.fail("byteorder is not 'little' (big-endian checkpoints are not supported)");
    }

    // ---- the pickle
    const std::vector<uint8_t> pickle = a.read(pkl->second.index, pkl->first, pkl->second.size);
    std::vector<TorchPickledTensor> pickled = parse_torch_pickle(pickle.data(), pickle.size(), label);

    // ---- the storages each tensor uses, checked against their records
    auto storages = std::make_shared<std::map<std::string, std::vector<uint8_t>>>();
    TorchBinFile out;
    out.label_ = label;
    for (auto& p : pickled) {
      const std::string what = "tensor '" + printable(p.name) + "'";
      const int64_t esize = static_cast<int64_t>(dtype_size(p.dtype));
      int64_t storage_bytes = 0;
      if (!mul_ok(p.storage_numel, esize, &storage_bytes)) a.fail(what + ": storage size overflows");
      auto e = entries.find(prefix + "data/" + p.storage_key);
      if (e == entries.end()) a.fail(what + ": storage record data/" + p.storage_key + " is missing from the archive");
      if (e->second.size != static_cast<uint64_t>(storage_bytes))
        a.fail(what + ": storage record data/" + p.storage_key + " holds " + std::to_string(e->second.size) + " bytes, but its " +
               std::to_string(p.storage_numel) + " " + dtype_name(p.dtype) + " elements need " + std::to_string(storage_bytes));
      // offset, sizes and strides: the largest element index must lie inside the storage
      if (p.storage_offset < 0) a.fail(what + ": negative storage offset " + std::to_string(p.storage_offset));
      int64_t numel = 1, last = p.storage_offset;
      bool overflow = false;
      for (std::size_t k = 0; k < p.shape.size(); ++k) {
        if (p.shape[k] < 0) a.fail(what + ": negative size " + std::to_string(p.shape[k]) + " in dimension " + std::to_string(k));
        if (p.strides[k] < 0) a.fail(what + ": negative stride " + std::to_string(p.strides[k]) + " in dimension " + std::to_string(k));
        overflow = overflow || !mul_ok(numel, p.shape[k], &numel);
      }
      if (overflow) a.fail(what + ": element count overflows");
      if (numel > 0) {
        for (std::size_t k = 0; k < p.shape.size(); ++k) {
          int64_t span = 0;
          if (!mul_ok(p.shape[k] - 1, p.strides[k], &span) || !add_ok(last, span, &last))
            a.fail(what + ": element index overflows (sizes/strides too large)");
        }
        if (last >= p.storage_numel)
          a.fail(what + ": reaches element " + std::to_string(last) + " of its storage data/" + p.storage_key + ", which has " +
                 std::to_string(p.storage_numel) + " (offset " + std::to_string(p.storage_offset) + ")");
      } else if (p.storage_offset > p.storage_numel) {
        a.fail(what + ": storage offset " + std::to_string(p.storage_offset) + " is past the end of its storage");
      }
      auto s = storages->find(p.storage_key);
      if (s == storages->end()) s = storages->emplace(p.storage_key, a.read(e->second.index, e->first, e->second.size)).first;
      TorchTensorRecord r;
      static_cast<TorchPickledTensor&>(r) = std::move(p);
      r.storage_data = s->second.data();
      r.storage_bytes = s->second.size();
      out.tensors_.push_back(std::move(r));
    }
    out.storages_ = storages;
    return out;
  }
};

TorchBinFile TorchBinFile::from_bytes(const uint8_t* data, std::size_t size, const std::string& label) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(size ? static_cast<const void*>(data) : "", size, 0, &err);
  zip_error_fini(&err);
  if (!src) throw Error(label + ": out of memory");
  return TorchBinBuilder::build(src, label, size);
}

TorchBinFile TorchBinFile::open(const std::string& path) {
  RegularFile rf;
  try {
    rf = open_regular_file(path, kMaxWeightsFileBytes, "pytorch_model.bin");
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
  const uint64_t size = rf.size();
  FILE* f = ::fdopen(rf.fd(), "rb");
  if (!f) throw Error(path + ": cannot open");
  rf.release();  // the FILE owns the descriptor, and libzip the FILE
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_filep_create(f, 0, -1 /* to the end */, &err);
  zip_error_fini(&err);
  if (!src) {
    std::fclose(f);
    throw Error(path + ": cannot open");
  }
  return TorchBinBuilder::build(src, path, size);
}

}  // namespace ssmlab::hf
