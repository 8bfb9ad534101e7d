// zip_util.h: reading and writing zip archives in tests through libzip, independently of the
// pytorch_model.bin reader under test (test_hf_torch_bin, test_hf_models).
#pragma once

#include <unistd.h>
#include <zip.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace ssmlab::test {

using Bytes = std::vector<uint8_t>;
using ZipEntries = std::vector<std::pair<std::string, Bytes>>;

inline Bytes file_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}
// Every entry of the archive at `path`, in order.
inline ZipEntries unzip(const std::string& path) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  ZipEntries out;
  if (!z) return out;
  for (zip_int64_t i = 0; i < zip_get_num_entries(z, 0); ++i) {
    zip_stat_t st;
    zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st);
    Bytes b(st.size);
    zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(i), 0);
    if (st.size) zip_fread(f, b.data(), st.size);
    zip_fclose(f);
    out.emplace_back(st.name, b);
  }
  zip_discard(z);
  return out;
}
// Writes `entries` as a stored (uncompressed) zip archive at `path`.
inline void write_zip(const std::string& path, const ZipEntries& entries) {
  std::filesystem::remove(path);
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  for (const auto& [name, b] : entries) {
    zip_source_t* s = zip_source_buffer(z, b.data(), b.size(), 0);
    const zip_int64_t i = zip_file_add(z, name.c_str(), s, ZIP_FL_OVERWRITE);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(i), ZIP_CM_STORE, 0);
  }
  zip_close(z);
}
inline Bytes zip_bytes(const ZipEntries& entries) {
  const auto p = std::filesystem::temp_directory_path() / ("ssmlab_zip_" + std::to_string(::getpid()) + ".zip");
  write_zip(p.string(), entries);
  Bytes out = file_bytes(p.string());
  std::filesystem::remove(p);
  return out;
}
// The entry whose name ends with `suffix`.
inline Bytes& zip_entry(ZipEntries& e, const std::string& suffix) {
  for (auto& [n, b] : e)
    if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) return b;
  throw std::runtime_error("no zip entry " + suffix);
}

}  // namespace ssmlab::test
