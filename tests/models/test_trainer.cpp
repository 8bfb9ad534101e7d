// test_trainer.cpp — schedule, training, checkpoints (round trip, resume determinism, corruption),
// non-finite loss handling, device resolution.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "models/registry.h"
#include "models/trainer.h"
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>

#include "tests/common/child_process.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/hf/safetensors.h"
#include "tests/test_support.h"
#include "tests/models/tiny_models.h"

namespace sm = ssmlab::models;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  return ssmlab::test::fresh_temp_dir("test_trainer_" + name);
}
ssmlab::CommonOptions quiet_opts(const std::string& log = "") {
  ssmlab::CommonOptions o;
  o.program = "test_trainer";
  o.family = "models";
  o.quiet = true;
  o.log_path = log;
  return o;
}
// The model tests' tiny config, smaller still: the copy-like batches use 8 symbols, one layer.
sm::ModelConfig tiny() {
  auto c = ssmlab::test::tiny_model_config();
  c.vocab_size = 8;
  c.n_layer = 1;
  c.n_head = 2;
  c.dropout = 0.0;
  return c;
}
// Batches depend on the step only: a copy-like task (second half repeats the first).
sm::Batch copy_batch(int64_t step) {
  auto gen = at::detail::createCPUGenerator(1000 + step);
  auto half = torch::randint(0, 8, {4, 6}, gen, torch::kLong);
  auto seq = torch::cat({half, half}, 1);                       // (4, 12)
  auto mask = torch::zeros({4, 11});
  mask.narrow(1, 5, 6).fill_(1);                                 // loss on the copied half
  return {seq.narrow(1, 0, 11), seq.narrow(1, 1, 11), mask};
}
// A token-wise map (target = 3x + 1 mod 8): learnable in a few dozen steps by any model.
sm::Batch map_batch(int64_t step) {
  auto gen = at::detail::createCPUGenerator(2000 + step);
  auto x = torch::randint(0, 8, {4, 10}, gen, torch::kLong);
  return {x, (x * 3 + 1).remainder(8), {}};
}
sm::TrainConfig small_tc(int64_t steps) {
  sm::TrainConfig tc;
  tc.steps = steps;
  tc.lr = 3e-3;
  tc.min_lr = 3e-4;
  tc.warmup = 2;
  tc.log_every = 2;
  tc.device = "cpu";
  return tc;
}
}  // namespace

TEST(Trainer, WarmupCosineSchedule) {
  sm::TrainConfig tc;
  tc.steps = 110;
  tc.warmup = 10;
  tc.lr = 1.0;
  tc.min_lr = 0.1;
  EXPECT_NEAR(sm::lr_at(tc, 0), 0.1, 1e-12);
  EXPECT_NEAR(sm::lr_at(tc, 9), 1.0, 1e-12);
  EXPECT_NEAR(sm::lr_at(tc, 10), 1.0, 1e-12);
  EXPECT_NEAR(sm::lr_at(tc, 60), 0.55, 1e-12);                  // half way down the cosine
  EXPECT_NEAR(sm::lr_at(tc, 110), 0.1, 1e-12);
  for (int64_t s = 10; s < 109; ++s) EXPECT_GE(sm::lr_at(tc, s), sm::lr_at(tc, s + 1));
}

TEST(Trainer, StepRecordsReportTheWindowRateBesideTheRunAverage) {
  // An evaluation that takes 0.6 s between two windows: the window after it reports the rate of its
  // own training steps (tokens_per_s), the run average (tokens_per_s_avg) carries the pause.
  torch::manual_seed(0);
  at::set_num_threads(1);
  auto dir = temp_dir("rate");
  const std::string log = (dir / "log.jsonl").string();
  auto opts = quiet_opts(log);
  ssmlab::RunLog run(opts, "trainer_test");
  auto model = sm::make_model("T_nope", tiny());
  auto tc = small_tc(20);
  tc.log_every = 10;
  tc.eval_every = 10;
  sm::Trainer trainer(model, tc, &run);
  ASSERT_TRUE(trainer.fit(map_batch, sm::lm_loss(model), [&](int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return nlohmann::json{{"dummy", 1.0}};
  }).ok);
  std::vector<nlohmann::json> steps;
  for (const auto& l : ssmlab::read_jsonl(log))
    if (l.value["record"] == "step") steps.push_back(l.value["metrics"]);
  ASSERT_EQ(steps.size(), 2u);
  const auto& m = steps[1];  // steps 11-20, after the pause
  ASSERT_TRUE(m.contains("tokens_per_s_avg")) << m.dump();
  const double window = m["tokens_per_s"].get<double>(), avg = m["tokens_per_s_avg"].get<double>();
  // 20 tiny steps take well under the 0.6 s pause, so the average is at most about half the window rate
  EXPECT_GT(window, 2.0 * avg) << m.dump();
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, LearnsAndLogs) {
  torch::manual_seed(0);
  at::set_num_threads(1);
  auto dir = temp_dir("learn");
  const std::string log = (dir / "log.jsonl").string();
  auto opts = quiet_opts(log);
  ssmlab::RunLog run(opts, "trainer_test");
  auto model = sm::make_model("T_nope", tiny());
  auto tc = small_tc(40);
  tc.lr = 1e-2;
  tc.eval_every = 20;
  sm::Trainer trainer(model, tc, &run);
  int evals = 0;
  auto res = trainer.fit(map_batch, sm::lm_loss(model), [&](int64_t) {
    ++evals;
    return nlohmann::json{{"dummy", 1.0}};
  });
  ASSERT_TRUE(res.ok) << res.error;
  ASSERT_EQ(res.losses.size(), 40u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += res.losses[i].second, last += res.losses[35 + i].second;
  EXPECT_LT(last, first * 0.7) << first / 5 << " -> " << last / 5;
  EXPECT_EQ(evals, 2);                                           // step 20 and the end
  int steps = 0, eval_records = 0;
  for (const auto& l : ssmlab::read_jsonl(log)) {
    ASSERT_FALSE(l.value.is_null()) << l.raw;
    if (l.value["record"] == "step") {
      ++steps;
      EXPECT_TRUE(l.value["metrics"].contains("tokens_per_s"));
    }
    if (l.value["record"] == "eval") ++eval_records;
  }
  EXPECT_EQ(steps, 20);
  EXPECT_EQ(eval_records, 2);
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, CheckpointRoundTrip) {
  torch::manual_seed(1);
  auto dir = temp_dir("roundtrip");
  const std::string path = (dir / "ck.bin").string();
  auto a = sm::make_model("mamba", tiny());
  sm::Trainer ta(a, small_tc(3), nullptr);
  ASSERT_TRUE(ta.fit(copy_batch, sm::lm_loss(a)).ok);
  sm::save_checkpoint(path, *a, ta.optimizer(), 3, {{"note", "x"}});
  auto r1 = torch::rand({5});                                    // RNG draws after the save ...
  auto b = sm::make_model("mamba", tiny());                      // ... different init
  sm::Trainer tb(b, small_tc(3), nullptr);
  nlohmann::json meta;
  EXPECT_EQ(sm::load_checkpoint(path, *b, tb.optimizer(), torch::kCPU, &meta), 3);
  EXPECT_EQ(meta["note"], "x");
  EXPECT_TRUE(torch::equal(torch::rand({5}), r1)) << "RNG state restored";
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, ResumeReproducesTheLossCurve) {
  at::set_num_threads(1);
  auto dir = temp_dir("resume");
  for (const char* name : {"lstm", "mamba"}) {
    auto cfg = tiny();
    if (std::string(name) == "lstm") {
      cfg.n_layer = 2;
      cfg.dropout = 0.3;                                           // exercises the RNG restore
    }
    const std::string ck = (dir / (std::string(name) + ".ck")).string();
    auto tc = small_tc(8);
    // Uninterrupted run.
    torch::manual_seed(42);
    auto m1 = sm::make_model(name, cfg);
    auto full = sm::Trainer(m1, tc, nullptr).fit(copy_batch, sm::lm_loss(m1));
    ASSERT_TRUE(full.ok);
    // Interrupted after the checkpoint at step 4 ("killed" by an exception in step 5).
    tc.checkpoint = ck;
    tc.ckpt_every = 4;
    torch::manual_seed(42);
    auto m2 = sm::make_model(name, cfg);
    EXPECT_THROW(sm::Trainer(m2, tc, nullptr).fit([](int64_t s) {
      if (s == 5) throw std::runtime_error("killed");
      return copy_batch(s);
    }, sm::lm_loss(m2)), std::runtime_error);
    // Resume in a fresh model with a different seed: everything comes from the checkpoint.
    tc.resume = true;
    torch::manual_seed(7);
    auto m3 = sm::make_model(name, cfg);
    auto resumed = sm::Trainer(m3, tc, nullptr).fit(copy_batch, sm::lm_loss(m3));
    ASSERT_TRUE(resumed.ok) << resumed.error;
    EXPECT_EQ(resumed.start_step, 4);
    ASSERT_EQ(resumed.losses.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(resumed.losses[i].first, full.losses[4 + i].first);
      EXPECT_EQ(resumed.losses[i].second, full.losses[4 + i].second) << name << " step " << resumed.losses[i].first;
    }
  }
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, CorruptOrTruncatedCheckpointsGiveClearErrors) {
  auto dir = temp_dir("corrupt");
  const std::string path = (dir / "ck.bin").string();
  auto m = sm::make_model("T_rope", tiny());
  sm::Trainer t(m, small_tc(2), nullptr);
  sm::save_checkpoint(path, *m, t.optimizer(), 2);
  const std::string good = ssmlab::read_file(path);
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    ssmlab::write_file_atomic(path, bytes);
    try {
      sm::load_checkpoint(path, *m, t.optimizer(), torch::kCPU);
      ADD_FAILURE() << "no error for case '" << needle << "'";
    } catch (const sm::CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error(good.substr(0, good.size() / 2), "truncated");
  expect_error(good.substr(0, 10), "truncated");
  expect_error("", "not an ssmlab checkpoint");
  expect_error("hello world, not a checkpoint at all", "not an ssmlab checkpoint");
  std::string flipped = good;
  flipped[flipped.size() - 100] ^= 0x5a;
  expect_error(flipped, "corrupt");
  // a version-2 file (LibTorch archive, FNV-1a) and a future version
  std::string v2 = good;
  v2[8] = 2;
  expect_error(v2, "written by an older ssmlab; retrain");
  std::string v9 = good;
  v9[8] = 9;
  expect_error(v9, "newer than this build reads");
  // A checkpoint of another architecture: clear mismatch error.
  auto other = sm::make_model("lstm", tiny());
  sm::Trainer to(other, small_tc(2), nullptr);
  sm::save_checkpoint(path, *other, to.optimizer(), 2);
  std::vector<torch::Tensor> before;
  for (const auto& p : m->parameters()) before.push_back(p.detach().clone());
  try {
    sm::load_checkpoint(path, *m, t.optimizer(), torch::kCPU);
    ADD_FAILURE() << "loaded an LSTM checkpoint into a Transformer";
  } catch (const sm::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
  const auto after = m->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i])) << "a refused checkpoint changed the model";
  EXPECT_THROW(sm::load_checkpoint((dir / "missing").string(), *m, t.optimizer(), torch::kCPU), sm::CheckpointError);
  ssmlab::test::remove_tree(dir);
}

namespace {
// A checkpoint file: a version-3 header over `payload`, with a correct CRC-32 (computed by
// python3's zlib, independently of ssmlab) unless `crc` is given.
std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}
uint32_t python_crc32(const std::string& bytes, const fs::path& dir) {
  const fs::path f = dir / "payload.bin";
  std::ofstream(f, std::ios::binary) << bytes;
  const std::string cmd = "python3 -c \"import zlib,sys; print(zlib.crc32(open(sys.argv[1],'rb').read()))\" " + f.string();
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[64] = {0};
  if (!p || !std::fgets(buf, sizeof buf, p)) return 0;
  ::pclose(p);
  fs::remove(f);
  return static_cast<uint32_t>(std::stoul(buf));
}
}  // namespace

TEST(Trainer, CheckpointHeaderCarriesAStandardCrc32) {
  auto dir = temp_dir("crc");
  const std::string path = (dir / "ck.bin").string();
  auto m = sm::make_model("mamba", tiny());
  sm::Trainer t(m, small_tc(2), nullptr);
  ASSERT_TRUE(t.fit(copy_batch, sm::lm_loss(m)).ok);
  sm::save_checkpoint(path, *m, t.optimizer(), 2, {{"note", "crc"}});
  const std::string b = ssmlab::read_file(path);
  ASSERT_GT(b.size(), 24u);
  EXPECT_EQ(b.substr(0, 8), "SSMLABCK");
  EXPECT_EQ(b.substr(8, 4), le(3, 4));
  EXPECT_EQ(b.substr(12, 8), le(b.size() - 24, 8));
  const std::string payload = b.substr(24);
  EXPECT_EQ(b.substr(20, 4), le(python_crc32(payload, dir), 4)) << "CRC-32 differs from python3 zlib.crc32";
  // the payload is plain safetensors: parameters, AdamW state, RNG and the JSON metadata
  const auto st = ssmlab::hf::SafetensorsFile::from_bytes(std::vector<uint8_t>(payload.begin(), payload.end()), "payload");
  for (const auto& p : m->named_parameters()) {
    EXPECT_NE(st.find("model/" + p.key()), nullptr) << p.key();
    EXPECT_NE(st.find("adamw/" + p.key() + "/exp_avg_sq"), nullptr) << p.key();
  }
  EXPECT_NE(st.find("rng/cpu"), nullptr);
  const auto info = nlohmann::json::parse(st.metadata().at("ssmlab"));
  EXPECT_EQ(info["next_step"], 2);
  EXPECT_EQ(info["meta"]["note"], "crc");
  EXPECT_EQ(info["optimizer"]["groups"].size(), t.optimizer().param_groups().size());
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, HostilePayloadUnderAValidHeaderAndCrcIsACleanError) {
  auto dir = temp_dir("hostile");
  const std::string path = (dir / "ck.bin").string();
  auto m = sm::make_model("T_rope", tiny());
  sm::Trainer t(m, small_tc(2), nullptr);
  sm::save_checkpoint(path, *m, t.optimizer(), 2);
  const std::string good = ssmlab::read_file(path);
  auto with_payload = [&](const std::string& payload) {
    return std::string("SSMLABCK") + le(3, 4) + le(payload.size(), 8) + le(python_crc32(payload, dir), 4) + payload;
  };
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    ssmlab::write_file_atomic(path, bytes);
    try {
      sm::load_checkpoint(path, *m, t.optimizer(), torch::kCPU);
      ADD_FAILURE() << "no error for case '" << needle << "'";
    } catch (const sm::CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(with_payload(std::string(4096, '\xff')), "valid header and checksum but an unreadable payload");
  expect_error(with_payload(""), "unreadable payload");
  std::string lying = good.substr(24);  // a safetensors header length past the end
  lying[7] = 0x7f;
  expect_error(with_payload(lying), "unreadable payload");
  // well-formed safetensors, wrong contents: no metadata; metadata that is not JSON; wrong shapes
  auto st = [](const std::vector<ssmlab::hf::RawTensor>& t, const std::map<std::string, std::string>& md) {
    const auto b = ssmlab::hf::encode_safetensors(t, md);
    return std::string(b.begin(), b.end());
  };
  expect_error(with_payload(st({}, {})), "no 'ssmlab' metadata");
  expect_error(with_payload(st({}, {{"ssmlab", "[[[["}})), "unreadable payload");
  expect_error(with_payload(st({}, {{"ssmlab", "{\"next_step\": \"x\"}"}})), "lacks next_step");
  const std::string info = R"({"next_step": 1, "meta": {}, "optimizer": {"type": "AdamW", "groups": []}})";
  expect_error(with_payload(st({{"model/bogus", ssmlab::hf::DType::F32, {1}, {0, 0, 0, 0}}}, {{"ssmlab", info}})), "does not match");
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, CheckpointOntoAFifoDirectoryOrDeviceIsRefused) {
  auto dir = temp_dir("special");
  auto m = sm::make_model("lstm", tiny());
  sm::Trainer t(m, small_tc(1), nullptr);
  const fs::path sub = dir / "sub", fifo = dir / "fifo", dev = dir / "null";
  fs::create_directory(sub);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // a private node with /dev/null's numbers (root); never the real /dev/null
  const bool have_dev = ::mknod(dev.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0;
  std::vector<fs::path> targets{sub, fifo};
  if (have_dev) targets.push_back(dev);
  for (const auto& target : targets) {
    auto r = ssmlab::test::run_in_child([&] {
      try {
        sm::save_checkpoint(target.string(), *m, t.optimizer(), 1);
      } catch (const std::runtime_error& e) {
        const bool named = std::string(e.what()).find(target.string()) != std::string::npos;
        if (!named) std::fprintf(stderr, "message: %s\n", e.what());
        return named ? 0 : 1;
      }
      return 2;
    }, 20);
    EXPECT_TRUE(r.finished) << target << ": hung";
    EXPECT_TRUE(r.exited && r.code == 0) << target << ": code " << r.code;
  }
  struct stat sb {};
  EXPECT_TRUE(fs::is_directory(sub));
  ASSERT_EQ(::lstat(fifo.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISFIFO(sb.st_mode));
  if (have_dev) {
    ASSERT_EQ(::lstat(dev.c_str(), &sb), 0);
    EXPECT_TRUE(S_ISCHR(sb.st_mode)) << "the device node was replaced";
  }
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, FileSizeLimitDuringACheckpointKeepsThePreviousOne) {
  // The write runs in a forked child (for the file-size limit); save_checkpoint stores the CUDA RNG
  // state where CUDA exists, and CUDA cannot be initialised in a forked child. CPU machines (CI) run it.
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA present: a forked child cannot use it (this test runs on CPU machines)";
  auto dir = temp_dir("efbig");
  const std::string path = (dir / "ck.bin").string();
  auto m = sm::make_model("mamba", tiny());
  sm::Trainer t(m, small_tc(2), nullptr);
  ASSERT_TRUE(t.fit(copy_batch, sm::lm_loss(m)).ok);
  sm::save_checkpoint(path, *m, t.optimizer(), 1);
  const std::string previous = ssmlab::read_file(path);
  ASSERT_GT(previous.size(), 8192u);
  auto r = ssmlab::test::run_in_child([&] {
    struct rlimit rl {4096, 4096};  // as `ulimit -f 4`
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return 10;
    try {
      sm::save_checkpoint(path, *m, t.optimizer(), 2);
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      const bool ok = msg.find(path) != std::string::npos && msg.find(std::strerror(EFBIG)) != std::string::npos;
      if (!ok) std::fprintf(stderr, "message: %s\n", msg.c_str());
      return ok ? 0 : 1;
    } catch (const std::exception& e) {  // not a runtime_error (e.g. c10::Error): say what it was
      std::fprintf(stderr, "unexpected exception: %s\n", e.what());
      return 3;
    }
    return 2;
  }, 30);
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << " (SIGXFSZ is 25)";
  EXPECT_TRUE(r.exited && r.code == 0) << "code " << r.code;
  EXPECT_EQ(ssmlab::read_file(path), previous);
  auto m2 = sm::make_model("mamba", tiny());
  sm::Trainer t2(m2, small_tc(2), nullptr);
  EXPECT_EQ(sm::load_checkpoint(path, *m2, t2.optimizer(), torch::kCPU), 1);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "ck.bin") << "left behind: " << e.path();
  ssmlab::test::remove_tree(dir);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsLastCheckpoint) {
  auto dir = temp_dir("nan");
  const std::string ck = (dir / "ck.bin").string();
  auto m = sm::make_model("T_nope", tiny());
  auto tc = small_tc(10);
  tc.checkpoint = ck;
  tc.ckpt_every = 2;
  sm::Trainer t(m, tc, nullptr);
  auto base = sm::lm_loss(m);
  auto res = t.fit(copy_batch, [&](const sm::Batch& b) {
    auto l = base(b);
    return b.inputs.equal(copy_batch(5).inputs) ? l * std::numeric_limits<double>::quiet_NaN() : l;  // step 5
  });
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.steps_done, 5);
  EXPECT_NE(res.error.find("non-finite loss"), std::string::npos) << res.error;
  EXPECT_NE(res.error.find("step 4"), std::string::npos) << res.error;  // the last good checkpoint
  auto m2 = sm::make_model("T_nope", tiny());
  sm::Trainer t2(m2, tc, nullptr);
  EXPECT_EQ(sm::load_checkpoint(ck, *m2, t2.optimizer(), torch::kCPU), 4);
  for (const auto& p : m2->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  ssmlab::test::remove_tree(dir);
}

TEST(TorchUtil, ResolveDevice) {
  EXPECT_EQ(sm::resolve_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(sm::resolve_device("tpu"), std::invalid_argument);
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(sm::resolve_device("auto"), torch::Device(torch::kCPU));
    try {
      sm::resolve_device("cuda");
      FAIL();
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
    }
  } else {
    EXPECT_TRUE(sm::resolve_device("auto").is_cuda());
  }
}

// Issue 15, the resume logging rule (docs/log-schema.md): a run checkpointed mid-window, killed
// after it logged past its checkpoint, and resumed logs every step window exactly once, with the
// value an uninterrupted run logs; evaluations are not repeated either.
TEST(Trainer, ResumedRunLogsEachWindowOnceWithTheUninterruptedValues) {
  at::set_num_threads(1);
  auto dir = temp_dir("resume_log");
  const std::string full_log = (dir / "full.jsonl").string(), cut_log = (dir / "cut.jsonl").string();
  auto tc = small_tc(16);
  tc.log_every = 4;
  tc.eval_every = 8;
  auto eval = [](int64_t) { return nlohmann::json{{"x", 1}}; };
  // uninterrupted
  torch::manual_seed(42);
  auto m1 = sm::make_model("mamba", tiny());
  ssmlab::RunLog run1(quiet_opts(full_log), "trainer_test");
  ASSERT_TRUE(sm::Trainer(m1, tc, &run1).fit(copy_batch, sm::lm_loss(m1), eval).ok);
  // checkpoint every 6 steps: the one at 6 holds half of the window 5-8; "killed" in step 10,
  // after the window ending at 8 and the evaluation at 8 were logged (both past the checkpoint).
  tc.checkpoint = (dir / "m.ck").string();
  tc.ckpt_every = 6;
  torch::manual_seed(42);
  auto m2 = sm::make_model("mamba", tiny());
  {
    ssmlab::RunLog run2(quiet_opts(cut_log), "trainer_test");
    EXPECT_THROW(sm::Trainer(m2, tc, &run2).fit([](int64_t s) {
      if (s == 10) throw std::runtime_error("killed");  // after logging steps 4 and 8, checkpoint at 6
      return copy_batch(s);
    }, sm::lm_loss(m2), eval), std::runtime_error);
  }
  tc.resume = true;
  torch::manual_seed(7);
  auto m3 = sm::make_model("mamba", tiny());
  ssmlab::RunLog run3(quiet_opts(cut_log), "trainer_test");
  auto res = sm::Trainer(m3, tc, &run3).fit(copy_batch, sm::lm_loss(m3), eval);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.start_step, 6);
  auto records = [](const std::string& path, const std::string& kind) {
    std::vector<nlohmann::json> out;
    for (auto& l : ssmlab::read_jsonl(path))
      if (l.value.is_object() && l.value["record"] == kind) out.push_back(l.value["metrics"]);
    return out;
  };
  const auto a = records(full_log, "step"), b = records(cut_log, "step");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), a.size()) << "each window logged exactly once";
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i]["step"], a[i]["step"]);
    EXPECT_EQ(b[i]["loss"].get<double>(), a[i]["loss"].get<double>()) << "window ending at " << a[i]["step"];
    EXPECT_EQ(b[i]["lr"].get<double>(), a[i]["lr"].get<double>());
    EXPECT_EQ(b[i]["grad_norm"].get<double>(), a[i]["grad_norm"].get<double>());
  }
  const auto ea = records(full_log, "eval"), eb = records(cut_log, "eval");
  ASSERT_EQ(eb.size(), ea.size()) << "evaluations logged once";
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_EQ(eb[i]["step"], ea[i]["step"]);
  ssmlab::test::remove_tree(dir);
}

// adamw_step: the fused CUDA kernel (LibTorch >= 2) against torch::optim::AdamW::step on the same
// parameters, gradients and hyper-parameters (two groups: with and without weight decay), 6 steps.
// Without CUDA (or on LibTorch 1.x) adamw_step must fall back to opt.step() and report it.
TEST(Trainer, FusedAdamWMatchesTheLibTorchStep) {
  const bool cuda = torch::cuda::is_available();
  const torch::Device dev = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::manual_seed(3);
  const std::vector<std::vector<int64_t>> shapes{{33, 17}, {17}, {5, 4, 3}, {1}};
  auto make = [&]() {
    std::vector<torch::Tensor> ps;
    torch::manual_seed(11);
    for (const auto& s : shapes) ps.push_back(torch::randn(s).to(dev).requires_grad_(true));
    return ps;
  };
  auto a = make(), b = make();
  auto groups = [](const std::vector<torch::Tensor>& ps) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{ps[0], ps[2]},
                   std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-2).weight_decay(0.1).betas({0.9, 0.95})));
    g.emplace_back(std::vector<torch::Tensor>{ps[1], ps[3]},
                   std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(3e-2).weight_decay(0.0).betas({0.9, 0.95})));
    return g;
  };
  torch::optim::AdamW oa(groups(a), torch::optim::AdamWOptions(3e-2)), ob(groups(b), torch::optim::AdamWOptions(3e-2));
  bool fused_ran = false;
  for (int step = 0; step < 6; ++step) {
    torch::manual_seed(100 + step);
    for (size_t i = 0; i < a.size(); ++i) {
      auto g = torch::randn(shapes[i]).to(dev);
      a[i].mutable_grad() = g.clone();
      b[i].mutable_grad() = g.clone();
    }
    oa.step();
    fused_ran = sm::adamw_step(ob, /*allow_fused=*/true);
  }
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_EQ(fused_ran, cuda);
#else
  EXPECT_FALSE(fused_ran);
#endif
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = (a[i] - b[i]).abs().max().item<double>() / (a[i].abs().max().item<double>() + 1e-12);
    EXPECT_LT(err, 1e-6) << "parameter " << i << (fused_ran ? " (fused)" : " (fallback)");
  }
  EXPECT_FALSE(sm::adamw_step(ob, /*allow_fused=*/false));  // explicitly unfused: the LibTorch step
}

// A model with an auxiliary loss (T_rope_moe's load balancing): the step record's loss is loss_fn's
// value (the LM loss) and aux_loss is logged beside it; the aux term reaches the gradient with
// weight aux_loss_coef (the router ends elsewhere with a larger weight); dense models log no aux_loss.
TEST(Trainer, AuxLossIsLoggedBesideTheLossAndMinimised) {
  at::set_num_threads(1);
  auto dir = temp_dir("aux");
  auto c = tiny();
  c.n_experts = 4;
  c.top_k = 2;
  auto train = [&](const std::string& name, double coef, const std::string& log, std::vector<double>* lm_losses) {
    torch::manual_seed(5);
    auto model = sm::make_model(name, c);
    auto opts = quiet_opts(log);
    ssmlab::RunLog run(opts, "trainer_test");
    auto tc = small_tc(4);
    tc.log_every = 1;
    tc.aux_loss_coef = coef;
    sm::Trainer trainer(model, tc, &run);
    auto base = sm::lm_loss(model);
    auto res = trainer.fit(map_batch, [&](const sm::Batch& b) {
      auto l = base(b);
      if (lm_losses) lm_losses->push_back(l.item<double>());
      return l;
    });
    EXPECT_TRUE(res.ok) << res.error;
    return model;
  };
  std::vector<double> lm;
  const std::string log = (dir / "moe.jsonl").string();
  auto a = train("T_rope_moe", 0.0, log, &lm);
  std::vector<nlohmann::json> steps;
  for (const auto& l : ssmlab::read_jsonl(log))
    if (l.value["record"] == "step") steps.push_back(l.value["metrics"]);
  ASSERT_EQ(steps.size(), 4u);
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_DOUBLE_EQ(steps[i]["loss"].get<double>(), lm[i]) << steps[i].dump();
    ASSERT_TRUE(steps[i].contains("aux_loss")) << steps[i].dump();
    EXPECT_GT(steps[i]["aux_loss"].get<double>(), 0.5);
  }
  auto b = train("T_rope_moe", 10.0, (dir / "moe10.jsonl").string(), nullptr);
  const auto router = [](const sm::LanguageModel& m) {
    return m->named_parameters()["gpt_neox.layers.0.mlp.router.weight"];
  };
  EXPECT_GT((router(a) - router(b)).abs().max().item<double>(), 1e-6) << "aux_loss_coef changes the training";
  const std::string dense_log = (dir / "dense.jsonl").string();
  train("T_rope", 0.01, dense_log, nullptr);
  for (const auto& l : ssmlab::read_jsonl(dense_log))
    if (l.value["record"] == "step") EXPECT_FALSE(l.value["metrics"].contains("aux_loss"));
  ssmlab::test::remove_tree(dir);
}
