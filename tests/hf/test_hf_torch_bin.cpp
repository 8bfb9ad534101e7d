// The torch-free pytorch_model.bin reader (hf/torch_bin.h, issue 14): real torch.save files
// (tests/fixtures/hf/mamba_orig, tests/fixtures/cases/) and hand-built hostile ones: malformed
// pickles, refused globals, memo and stack abuse, storage records that do not cover their tensors,
// and archives with the wrong entries. Every failure must be an hf::Error naming the problem.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "ssmlab/hf/torch_bin.h"
#include "tests/test_support.h"
#include "tests/hf/zip_util.h"

namespace fs = std::filesystem;
using namespace ssmlab::hf;

namespace {
const std::string kFixtures = SSMLAB_SOURCE_DIR "/tests/fixtures";
using Bytes = ssmlab::test::Bytes;

using ssmlab::test::file_bytes;
using ssmlab::test::unzip;
using ssmlab::test::zip_bytes;
using Entries = ssmlab::test::ZipEntries;
Bytes& entry(Entries& e, const std::string& suffix) { return ssmlab::test::zip_entry(e, suffix); }

// ---- a small pickle writer (protocol 2 opcodes, as torch.save writes them)
struct Pickle {
  std::string s = "\x80\x02";
  Pickle& op(const std::string& o) { return s += o, *this; }
  Pickle& str(const std::string& v) {
    s += 'X';
    for (int k = 0; k < 4; ++k) s += static_cast<char>(v.size() >> (8 * k));
    return op(v);
  }
  Pickle& i32(int32_t v) {
    s += 'J';
    for (int k = 0; k < 4; ++k) s += static_cast<char>(static_cast<uint32_t>(v) >> (8 * k));
    return *this;
  }
  Pickle& global(const std::string& m, const std::string& n) { return op("c" + m + "\n" + n + "\n"); }
  Pickle& ints(const std::vector<int64_t>& v) {
    op("(");
    for (int64_t x : v) i32(static_cast<int32_t>(x));
    return op("t");
  }
  // _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())
  Pickle& tensor(const std::string& key, int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                 const std::vector<int64_t>& stride, const std::string& cls = "FloatStorage") {
    global("torch._utils", "_rebuild_tensor_v2").op("((").str("storage").global("torch", cls).str(key).str("cpu");
    i32(static_cast<int32_t>(numel)).op("tQ");
    i32(static_cast<int32_t>(offset)).ints(size).ints(stride).op("\x89").global("collections", "OrderedDict").op(")R");
    return op("tR");
  }
  Bytes bytes() const { return Bytes(s.begin(), s.end()); }
};
Bytes floats(std::initializer_list<float> v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.begin(), b.size());
  return b;
}
Entries archive(const Pickle& p, std::map<std::string, Bytes> storages) {
  Entries e{{"archive/data.pkl", p.bytes()}, {"archive/byteorder", Bytes{'l', 'i', 't', 't', 'l', 'e'}}};
  for (auto& [k, b] : storages) e.emplace_back("archive/data/" + k, b);
  e.emplace_back("archive/version", Bytes{'3', '\n'});
  return e;
}
TorchBinFile read(const Entries& e) {
  const Bytes z = zip_bytes(e);
  return TorchBinFile::from_bytes(z.data(), z.size(), "test.bin");
}
// The error message of reading `e` ("" when it loads).
std::string error_of(const Entries& e) {
  try {
    read(e);
  } catch (const Error& err) {
    return err.what();
  }
  return "";
}
std::string pickle_error(const Bytes& b) {
  try {
    parse_torch_pickle(b.data(), b.size(), "p");
  } catch (const Error& err) {
    return err.what();
  }
  return "";
}
#define EXPECT_ERROR_HAS(msg, needle)                                        \
  do {                                                                       \
    const std::string m_ = (msg);                                            \
    EXPECT_NE(m_.find(needle), std::string::npos) << "message: '" << m_ << "'"; \
  } while (0)
}  // namespace

TEST(TorchBin, RealTorchSaveFileLoads) {
  const TorchBinFile f = TorchBinFile::open(kFixtures + "/hf/mamba_orig/pytorch_model.bin");
  ASSERT_EQ(f.tensors().size(), 23u);
  const auto& e = f.tensors()[0];
  EXPECT_EQ(e.name, "backbone.embedding.weight");
  EXPECT_EQ(e.shape, (std::vector<int64_t>{400, 64}));
  EXPECT_EQ(e.strides, (std::vector<int64_t>{64, 1}));
  EXPECT_EQ(e.dtype, DType::F32);
  EXPECT_EQ(e.location, "cpu");
  EXPECT_EQ(e.storage_bytes, 400u * 64 * 4);
  EXPECT_TRUE(e.contiguous());
  // lm_head.weight is tied: the same storage record, not a copy
  const auto& head = f.tensors().back();
  EXPECT_EQ(head.name, "lm_head.weight");
  EXPECT_EQ(head.storage_key, e.storage_key);
  EXPECT_EQ(head.storage_data, e.storage_data);
}

TEST(TorchBin, CudaLocationsAreRecordedAndReadTheSameBytes) {
  const TorchBinFile cuda = TorchBinFile::open(kFixtures + "/cases/bin_storages_on_cuda/pytorch_model.bin");
  const TorchBinFile cpu = TorchBinFile::open(kFixtures + "/hf/mamba_orig/pytorch_model.bin");
  ASSERT_EQ(cuda.tensors().size(), cpu.tensors().size());
  for (std::size_t k = 0; k < cpu.tensors().size(); ++k) {
    const auto &a = cuda.tensors()[k], &b = cpu.tensors()[k];
    EXPECT_EQ(a.location, "cuda:0");
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
  }
}

TEST(TorchBin, CaseTuple2OnEmptyStackIsAClearError) {
  const std::string p = kFixtures + "/cases/hostile/bin_pickle_tuple2_empty_stack/pytorch_model.bin";
  try {
    TorchBinFile::open(p);
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_ERROR_HAS(e.what(), p);
    EXPECT_ERROR_HAS(e.what(), "stack underflow (opcode 0x86 at byte 2)");
  }
  EXPECT_ERROR_HAS(pickle_error(Bytes{0x80, 0x02, 0x86, '.'}), "stack underflow");
}

TEST(TorchBin, CaseNegativeStorageOffsetNamesTheTensor) {
  try {
    TorchBinFile::open(kFixtures + "/cases/hostile/bin_negative_storage_offset/pytorch_model.bin");
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_ERROR_HAS(e.what(), "tensor 'backbone.embedding.weight': negative storage offset -1000");
  }
}

TEST(TorchBin, HandBuiltLayouts) {
  // contiguous, transposed (non-contiguous strides) and two tensors sharing one storage
  Pickle p;
  p.op("}(").str("a").tensor("0", 6, 0, {2, 3}, {3, 1}).str("t").tensor("0", 6, 0, {3, 2}, {1, 3});
  p.str("tail").tensor("0", 6, 4, {2}, {1}).str("empty").tensor("1", 0, 0, {0, 5}, {5, 1}).op("u.");
  const TorchBinFile f = read(archive(p, {{"0", floats({0, 1, 2, 3, 4, 5})}, {"1", {}}}));
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_TRUE(f.tensors()[0].contiguous());
  EXPECT_FALSE(f.tensors()[1].contiguous());
  EXPECT_EQ(f.tensors()[2].storage_offset, 4);
  EXPECT_EQ(f.tensors()[0].storage_data, f.tensors()[2].storage_data);
  EXPECT_EQ(f.tensors()[3].numel(), 0);
  // {"state_dict": {...}} and {"model": {...}} wrappers, a non-tensor beside them, _rebuild_parameter
  Pickle w;
  w.op("}(").str("epoch").i32(3).str("state_dict").op("}(").str("w");
  w.global("torch._utils", "_rebuild_parameter").op("(").tensor("0", 6, 0, {6}, {1}).op("\x88}tR").op("uu.");
  const TorchBinFile g = read(archive(w, {{"0", floats({0, 1, 2, 3, 4, 5})}}));
  ASSERT_EQ(g.tensors().size(), 1u);
  EXPECT_EQ(g.tensors()[0].name, "w");
}

TEST(TorchBin, StorageRecordsMustCoverEveryTensor) {
  const Bytes six = floats({0, 1, 2, 3, 4, 5});
  auto one = [&](int64_t numel, int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride, Bytes data) {
    Pickle p;
    p.op("}(").str("w").tensor("0", numel, offset, size, stride).op("u.");
    return error_of(archive(p, {{"0", data}}));
  };
  EXPECT_EQ(one(6, 0, {2, 3}, {3, 1}, six), "");
  EXPECT_ERROR_HAS(one(6, 0, {2, 3}, {3, 1}, floats({0, 1, 2})), "tensor 'w': storage record data/0 holds 12 bytes, but its 6 F32 elements need 24");
  EXPECT_ERROR_HAS(one(6, 1, {2, 3}, {3, 1}, six), "tensor 'w': reaches element 6 of its storage data/0, which has 6");
  EXPECT_ERROR_HAS(one(6, 0, {2, 3}, {4, 1}, six), "reaches element 6");
  EXPECT_ERROR_HAS(one(6, 7, {0}, {1}, six), "storage offset 7 is past the end");
  EXPECT_ERROR_HAS(one(6, -1, {2}, {1}, six), "tensor 'w': negative storage offset -1");
  EXPECT_ERROR_HAS(one(6, 0, {2, -3}, {3, 1}, six), "tensor 'w': negative size -3 in dimension 1");
  EXPECT_ERROR_HAS(one(6, 5, {2, 3}, {-3, 1}, six), "tensor 'w': negative stride -3 in dimension 0");
  EXPECT_ERROR_HAS(one(6, 0, {2, 3}, {2147483647, 1}, six), "reaches element");
  // sizes whose product overflows int64: 2^31 x 2^31 x 2^31 (strides 0)
  EXPECT_ERROR_HAS(one(6, 0, {2147483647, 2147483647, 2147483647}, {0, 0, 0}, six), "element count overflows");
  // the persistent id's element count against the element size: 2^62 floats overflow
  {
    Pickle p;
    p.op("}(").str("w").global("torch._utils", "_rebuild_tensor_v2").op("((").str("storage").global("torch", "FloatStorage");
    p.str("0").str("cpu").op("\x8a\x08").op(std::string("\0\0\0\0\0\0\0\x40", 8)).op("tQ").i32(0).ints({1}).ints({1});
    p.op("\x89}tRu.");
    EXPECT_ERROR_HAS(error_of(archive(p, {{"0", six}})), "storage size overflows");
  }
  // one storage used with two element types
  Pickle two;
  two.op("}(").str("a").tensor("0", 6, 0, {6}, {1}).str("b").tensor("0", 6, 0, {6}, {1}, "IntStorage").op("u.");
  EXPECT_ERROR_HAS(error_of(archive(two, {{"0", six}})), "storage '0' is used with two different types or sizes");
}

TEST(TorchBin, MalformedPicklesAreClearErrors) {
  // every truncation of a real data.pkl
  Entries real = unzip(kFixtures + "/hf/mamba_orig/pytorch_model.bin");
  const Bytes pkl = entry(real, "/data.pkl");
  for (std::size_t n = 0; n < pkl.size(); ++n) {
    const std::string m = pickle_error(Bytes(pkl.begin(), pkl.begin() + static_cast<std::ptrdiff_t>(n)));
    ASSERT_FALSE(m.empty()) << "a data.pkl cut to " << n << " bytes loaded";
  }
  EXPECT_ERROR_HAS(pickle_error(Bytes(pkl.begin(), pkl.begin() + 100)), "truncated");
  // one-byte changes anywhere: an error or a load, never a crash
  std::size_t errors = 0;
  for (std::size_t i = 0; i < pkl.size(); ++i)
    for (uint8_t v : {0x00, 0x28, 0x2e, 0x71, 0x86, 0xff}) {
      Bytes b = pkl;
      b[i] = v;
      errors += !pickle_error(b).empty();
    }
  EXPECT_GT(errors, pkl.size());
  // the globals that would run code, through GLOBAL and STACK_GLOBAL
  Pickle os;
  os.global("os", "system").str("touch pwned").op("\x85R.");
  EXPECT_ERROR_HAS(pickle_error(os.bytes()), "global 'os.system' is not allowed");
  Pickle ev;
  ev.str("builtins").str("eval").op("\x93").str("1").op("\x85R.");
  EXPECT_ERROR_HAS(pickle_error(ev.bytes()), "global 'builtins.eval' is not allowed");
  Pickle tg;
  tg.global("torch", "load");
  EXPECT_ERROR_HAS(pickle_error(tg.bytes()), "global 'torch.load' is not allowed");
  // opcodes a state dict never needs (INST, OBJ, NEWOBJ, EXT1, BINSTRING)
  for (const char* o : {"i", "o", "\x81", "\x82", "T"})
    EXPECT_ERROR_HAS(pickle_error(Pickle().op(")").op(o).bytes()), "opcode not supported");
  // memo: huge indices, never-stored indices
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("N").op("r\xff\xff\xff\xff.").bytes()), "memo index 4294967295 too large");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("j\xff\xff\xff\xff.").bytes()), "memo index 4294967295 was never stored");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("h\x07.").bytes()), "memo index 7 was never stored");
  // stack and nesting limits
  EXPECT_ERROR_HAS(pickle_error(Pickle().op(std::string(5000, '(')).bytes()), "MARKs nested deeper than 1024");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op(std::string(70000, 'N')).bytes()), "stack deeper than 65536");
  // 2^22 items appended to one list without creating values (the memoized list, appended to itself)
  {
    std::string many = std::string("]q\0", 3);
    std::string batch = "(";
    for (int i = 0; i < 65000; ++i) batch += std::string("h\0", 2);
    batch += "e";
    for (int b = 0; b < 66; ++b) many += batch;
    EXPECT_ERROR_HAS(pickle_error(Pickle().op(many).bytes()), "items in lists and dicts");
  }
  // a MARK hides what is below it; tuple/setitems without a mark; STOP inside a mark
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("N(\x85.").bytes()), "stack underflow");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("}Nu.").bytes()), "no MARK");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("}(N.").bytes()), "STOP with an open MARK");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("}(Nu.").bytes()), "odd number");
  // no STOP, wrong protocol, LONG1 wider than int64, strings longer than the pickle
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("}").bytes()), "truncated");
  EXPECT_ERROR_HAS(pickle_error(Bytes{0x80, 0x09, '}', '.'}), "pickle protocol 9");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("\x8a\x09").bytes()), "LONG1 of 9 bytes");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("X\xff\xff\xff\xff").bytes()), "truncated");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("\x8d\xff\xff\xff\xff\xff\xff\xff\xff").bytes()), "truncated");
  // a list appended to itself (a cycle), then a non-dict result
  EXPECT_ERROR_HAS(pickle_error(Pickle().op(std::string("]q\0h\0a.", 7)).bytes()), "holds a list, not a dict");
  // wrong shapes of otherwise allowed things
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("}(").str("w").i32(3).op("u.").bytes()), "state dict entry 'w' is not a tensor (int)");
  EXPECT_ERROR_HAS(pickle_error(Pickle().op("}(").i32(1).op("}u.").bytes()), "state dict key is a int");
  EXPECT_ERROR_HAS(pickle_error(Pickle().str("x").op("(N\x85tQ.").bytes()), "persistent id is not a 5-tuple");
  EXPECT_ERROR_HAS(pickle_error(Pickle().global("torch", "FloatStorage").op(")R.").bytes()), "storage class is called");
  Pickle badkey;
  badkey.op("((").str("storage").global("torch", "FloatStorage").str("../x").str("cpu").i32(1).op("tQ.");
  EXPECT_ERROR_HAS(pickle_error(badkey.bytes()), "storage key '../x'");
}

TEST(TorchBin, WrongArchivesAreClearErrors) {
  Pickle p;
  p.op("}(").str("w").tensor("0", 2, 0, {2}, {1}).op("u.");
  const Bytes two = floats({1, 2});
  EXPECT_EQ(error_of(archive(p, {{"0", two}})), "");
  Entries e = archive(p, {{"0", two}});
  e.erase(e.begin());  // no data.pkl
  EXPECT_ERROR_HAS(error_of(e), "no archive/data.pkl in the archive");
  EXPECT_ERROR_HAS(error_of(archive(p, {})), "tensor 'w': storage record data/0 is missing from the archive");
  e = archive(p, {{"0", two}});
  e.emplace_back("other/x", Bytes{1});
  EXPECT_ERROR_HAS(error_of(e), "archive entries are in two folders");
  e = archive(p, {{"0", two}});
  e.emplace_back("loose", Bytes{1});
  EXPECT_ERROR_HAS(error_of(e), "archive entry 'loose' is not inside a folder");
  e = archive(p, {{"0", two}});
  entry(e, "/byteorder") = Bytes{'b', 'i', 'g'};
  EXPECT_ERROR_HAS(error_of(e), "byteorder is not 'little'");
  const Bytes junk{'P', 'K', 3, 4, 0, 0};
  EXPECT_THROW(TorchBinFile::from_bytes(junk.data(), junk.size(), "junk"), Error);
  EXPECT_THROW(TorchBinFile::from_bytes(nullptr, 0, "empty"), Error);
  // a truncated archive (every 997th length of a real file)
  const Bytes real = file_bytes(kFixtures + "/hf/mamba_orig/pytorch_model.bin");
  for (std::size_t n = 0; n < real.size(); n += 997) EXPECT_THROW(TorchBinFile::from_bytes(real.data(), n, "cut"), Error) << n;
  // a FIFO named like the file does not hang the reader
  const fs::path dir = ssmlab::test::fresh_temp_dir("ssmlab_torch_bin_fifo");
  ASSERT_EQ(::mkfifo((dir / "pytorch_model.bin").c_str(), 0600), 0);
  EXPECT_THROW(TorchBinFile::open((dir / "pytorch_model.bin").string()), Error);
  ssmlab::test::remove_tree(dir);
}
