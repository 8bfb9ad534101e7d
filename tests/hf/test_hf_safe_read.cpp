// Special files and deep JSON in the safetensors reader (issue 14): a FIFO named like a shard or
// an index must not hang the reader, a symlink to /dev/zero must not be mapped or read, and a
// header or index nested 10^6 deep is a clear error.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/common/child_process.h"
#include "ssmlab/hf/safetensors.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using namespace ssmlab::hf;
using ssmlab::test::run_in_child;

namespace {
std::string deep(size_t n) { return std::string(n, '[') + std::string(n, ']'); }
std::vector<uint8_t> with_header(const std::string& header) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  return out;
}
// 0: Error naming the path and `needle`; 1: another message; 2: no error.
int expect_error_in_child(const std::function<void()>& fn, const std::string& path, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    std::string m = e.what();
    bool ok = m.find(path) != std::string::npos && m.find(needle) != std::string::npos;
    if (!ok) std::fprintf(stderr, "message: %s\n", m.c_str());
    return ok ? 0 : 1;
  }
  return 2;
}
}  // namespace

TEST(HfSafeRead, FifoAndDevZeroShardsAndIndexFailQuicklyWithAClearError) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("hf_special");
  const fs::path fifo = dir / "model.safetensors", zero = dir / "zero.safetensors";
  const fs::path fifo_index = dir / "model.safetensors.index.json", zero_index = dir / "zero.index.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(fifo_index.c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", zero);
  fs::create_symlink("/dev/zero", zero_index);
  for (const auto& p : {fifo, zero}) {
    auto r = run_in_child([&] {
      return expect_error_in_child([&] { SafetensorsFile::open(p.string()); }, p.string(), "not a regular file");
    }, 5, 2ull << 30);
    EXPECT_TRUE(r.finished) << p << ": the reader hung";
    EXPECT_TRUE(r.exited && r.code == 0) << p << ": code " << r.code;
  }
  for (const auto& p : {fifo_index, zero_index}) {
    auto r = run_in_child([&] {
      return expect_error_in_child([&] { ShardedSafetensors::open(p.string()); }, p.string(), "not a regular file");
    }, 5, 2ull << 30);
    EXPECT_TRUE(r.finished) << p << ": the reader hung";
    EXPECT_TRUE(r.exited && r.code == 0) << p << ": code " << r.code;
  }
  // an index that names a FIFO as its shard
  const fs::path idx = dir / "ok.index.json";
  std::ofstream(idx) << R"({"weight_map": {"a": "model.safetensors"}})";
  auto r = run_in_child([&] {
    return expect_error_in_child([&] { ShardedSafetensors::open(idx.string()); }, fifo.string(), "not a regular file");
  }, 5);
  EXPECT_TRUE(r.finished && r.exited && r.code == 0) << r.code;
  ssmlab::test::remove_tree(dir);
}

TEST(HfSafeRead, DeeplyNestedHeaderAndIndexAreClearErrors) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("hf_deep");
  try {
    SafetensorsFile::from_bytes(with_header("{\"a\": " + deep(1000000) + "}"), "deep.safetensors");
    ADD_FAILURE() << "a header nested 10^6 deep was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("deep.safetensors"), std::string::npos) << e.what();
  }
  const fs::path idx = dir / "deep.index.json";
  std::ofstream(idx) << "{\"weight_map\": " << deep(1000000) << "}";
  try {
    ShardedSafetensors::open(idx.string());
    ADD_FAILURE() << "an index nested 10^6 deep was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper"), std::string::npos) << e.what();
  }
  ssmlab::test::remove_tree(dir);
}
