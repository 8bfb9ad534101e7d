// test_distributed.cpp — data-parallel training on the CPU: 2 ranks over Gloo on loopback, started by
// ssmlab_launch, training mamba_train's recall task with a tiny Mamba (docs/distributed.md).
//
//   parity   2 ranks x batch b == 1 process x batch 2b after 10 steps (fp32 parameters)
//   resume   a 2-rank run stopped at step 5 and resumed == the uninterrupted 2-rank run (exactly);
//            a 2-rank checkpoint resumed on 1 process and a 1-process one on 2 ranks (tolerance)
//   failure  rank 1 killed with kill -9: the launcher exits non-zero naming rank 1, within the
//            timeout, and the last checkpoint still parses; without the launcher, rank 0 stops at
//            its next all-reduce; bad environments fail within the timeout
//   launcher exit codes, environment, signal forwarding (no LibTorch: /bin/sh ranks)
//   sweeps   scripts/gpu-jobs.sh and synthetic_tasks/sweeps/sweep.sh --gpus give every run one GPU (fake runs)
//
// Every run picks free ports (ssmlab::find_free_port) so that parallel ctest runs do not collide, and
// uses a 5 s collective timeout. The binary itself is torch-free: it reads the checkpoints with
// hf::parse_train_checkpoint.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/child_process.h"
#include "ssmlab/dist_env.h"
#include "ssmlab/hf/train_checkpoint.h"
#include "ssmlab/atomic_file.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using ssmlab::test::run_command;
using ssmlab::test::sq;

namespace {

const std::string kBin = SSMLAB_BIN_DIR;
const std::string kLaunch = kBin + "/ssmlab_launch";
const std::string kTrain = kBin + "/mamba_train";
constexpr int kTimeout = 5;  // --dist-timeout [s]

class Distributed : public ::testing::Test {
 protected:
  void SetUp() override {
#if !SSMLAB_TEST_GLOO
    GTEST_SKIP() << "this build has no Gloo backend (libgloo-dev missing at configure time)";
#endif
    dir_ = ssmlab::test::fresh_temp_dir(std::string("dist_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) ssmlab::test::remove_tree(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // mamba_train on the recall task: tiny Mamba, 10 steps, checkpoint every 5; `batch` rows per rank.
  std::string train_cmd(int batch, const std::string& ckpt, const std::string& extra = "", int steps = 10,
                        int ckpt_every = 5) const {
    return kTrain + " --model mamba_simple --dataset recall --seq-len 16 --gap 4 --recall-vocab 8" +
           " --train-max-samples 160 --val-max-samples 8 --d-model 16 --n-layer 2 --d-state 4 --steps " + std::to_string(steps) +
           " --warmup 2 --lr 1e-2 --log-every 5 --threads 1 --seed 3 --quiet --out " + sq(dir_.string()) +
           " --ckpt-every " + std::to_string(ckpt_every) + " --dist-timeout " + std::to_string(kTimeout) + " --batch-size " + std::to_string(batch) + " --checkpoint " + sq(ckpt) +
           " " + extra;
  }
  std::string launch(int nproc, const std::string& cmd) const {
    return kLaunch + " --nproc-per-node " + std::to_string(nproc) + " --master-port " + std::to_string(ssmlab::find_free_port()) +
           " -- " + cmd;
  }
  fs::path dir_;
};

// The model tensors of a checkpoint, as floats.
std::map<std::string, std::vector<float>> model_tensors(const std::string& file) {
  auto ck = ssmlab::hf::parse_train_checkpoint(ssmlab::read_file(file), file);
  std::map<std::string, std::vector<float>> out;
  for (const auto& v : ck.tensors.tensors()) {
    if (v.name.rfind("model/", 0) != 0 || v.dtype != ssmlab::hf::DType::F32) continue;
    std::vector<float> x(static_cast<size_t>(v.numel()));
    std::memcpy(x.data(), v.data, v.nbytes());
    out[v.name] = std::move(x);
  }
  return out;
}
int64_t next_step(const std::string& file) {
  return ssmlab::hf::parse_train_checkpoint(ssmlab::read_file(file), file).info["next_step"].get<int64_t>();
}

// Relative parameter difference, per tensor: ||a - b||_2 / ||b||_2 (returned: the largest over the
// tensors) and max|a - b| / max|b| (printed beside it).
double max_rel_diff(const std::string& a_file, const std::string& b_file) {
  const auto a = model_tensors(a_file), b = model_tensors(b_file);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_FALSE(a.empty());
  double worst = 0, worst_max = 0;
  std::string worst_name, worst_max_name;
  for (const auto& [name, bv] : b) {
    auto it = a.find(name);
    if (it == a.end() || it->second.size() != bv.size()) {
      ADD_FAILURE() << name << " missing or of another size";
      continue;
    }
    double d2 = 0, b2 = 0, dmax = 0, bmax = 0;
    for (size_t i = 0; i < bv.size(); ++i) {
      const double d = static_cast<double>(it->second[i]) - bv[i];
      d2 += d * d, b2 += static_cast<double>(bv[i]) * bv[i];
      dmax = std::max(dmax, std::abs(d)), bmax = std::max(bmax, std::abs(static_cast<double>(bv[i])));
    }
    const double rel = std::sqrt(d2) / std::max(std::sqrt(b2), 1e-30), rel_max = dmax / std::max(bmax, 1e-30);
    if (rel >= worst) worst = rel, worst_name = name;
    if (rel_max >= worst_max) worst_max = rel_max, worst_max_name = name;
  }
  std::cout << "relative parameter difference: L2 " << worst << " (" << worst_name << "), max element " << worst_max << " ("
            << worst_max_name << ")\n";
  EXPECT_LE(worst_max, 1e-5) << "no single element may drift far either";
  return worst;
}

void expect_ok(const std::pair<int, std::string>& r, const std::string& what) {
  EXPECT_EQ(r.first, 0) << what << ":\n" << r.second;
}

}  // namespace

// Two ranks with batch b take rows r, r+2, ... of the global batch of 2b and normalise by the global
// target count, so they follow the single process with batch 2b. Not bit-exact: the per-rank forward
// and backward sum over other row blocks and the gradient sum adds the two halves in another order,
// so fp32 rounding differs (about 1e-7 of a value per step). AdamW divides by sqrt(v) + eps, so an
// element whose true gradient is ~0 moves by lr * noise / eps either way: the largest single-element
// difference is ~1e-6 of the tensor's largest value (measured 1.06e-6 on the embedding), the
// per-tensor L2 difference ~1e-7; the test bounds the L2 one by 1e-6 and the element one by 1e-5.
TEST_F(Distributed, TwoRanksMatchOneProcessWithTheDoubleBatch) {
  const std::string two = path("two.ckpt"), one = path("one.ckpt");
  expect_ok(run_command(launch(2, train_cmd(4, two, "--log " + sq(path("two.jsonl")))), 90), "2 ranks");
  expect_ok(run_command(train_cmd(8, one, "--log " + sq(path("one.jsonl"))), 90), "1 process");
  ASSERT_EQ(next_step(two), 10);
  ASSERT_EQ(next_step(one), 10);
  EXPECT_LE(max_rel_diff(two, one), 1e-6);
  // rank 0 alone wrote the log; its step records state the global batch
  const std::string log = ssmlab::read_file(path("two.jsonl"));
  EXPECT_NE(log.find("\"global_batch\":8"), std::string::npos) << log.substr(0, 2000);
  EXPECT_NE(log.find("\"world_size\":2"), std::string::npos);
  EXPECT_NE(log.find("\"allreduce_ms\""), std::string::npos);
  size_t results = 0;
  for (size_t at = 0; (at = log.find("\"record\":\"result\"", at)) != std::string::npos; ++at) ++results;
  EXPECT_EQ(results, 1u) << "one result record (rank 0's), not one per rank";
}

// A 2-rank run stopped before step 5 (mamba_train --stop-at-step: exit 3 after the step-5 checkpoint)
// and resumed on 2 ranks continues exactly as the uninterrupted run; resumed on 1 process with the
// same global batch, within rounding.
TEST_F(Distributed, TwoRankCheckpointResumesOnTwoRanksAndOnOne) {
  const std::string full = path("full.ckpt"), a = path("a.ckpt"), b = path("b.ckpt");
  expect_ok(run_command(launch(2, train_cmd(4, full)), 90), "uninterrupted 2 ranks");
  auto stopped = run_command(launch(2, train_cmd(4, a, "--stop-at-step 5")), 90);
  EXPECT_NE(stopped.first, 0) << stopped.second;
  ASSERT_EQ(next_step(a), 5) << stopped.second;
  fs::copy_file(a, b);
  expect_ok(run_command(launch(2, train_cmd(4, a, "--resume")), 90), "resumed on 2 ranks");
  EXPECT_EQ(next_step(a), 10);
  EXPECT_EQ(max_rel_diff(a, full), 0.0) << "same ranks, same threads: the resumed run is the same run";
  auto one = run_command(train_cmd(8, b, "--resume"), 90);
  expect_ok(one, "resumed on 1 process");
  EXPECT_EQ(next_step(b), 10);
  EXPECT_LE(max_rel_diff(b, full), 1e-6);
}

TEST_F(Distributed, OneProcessCheckpointResumesOnTwoRanks) {
  const std::string full = path("full.ckpt"), a = path("a.ckpt");
  expect_ok(run_command(train_cmd(8, full), 90), "uninterrupted 1 process");
  auto stopped = run_command(train_cmd(8, a, "--stop-at-step 5"), 90);
  ASSERT_EQ(next_step(a), 5) << stopped.second;
  auto two = run_command(launch(2, train_cmd(4, a, "--resume")), 90);
  expect_ok(two, "resumed on 2 ranks");
  EXPECT_EQ(next_step(a), 10);
  EXPECT_LE(max_rel_diff(a, full), 1e-6);
}

// kill -9 of rank 1 mid-run: rank 0 sees the broken connection (or the launcher stops it), the
// launcher exits non-zero naming rank 1, well within the collective timeout, and the last
// checkpoint (written atomically by rank 0) still parses.
TEST_F(Distributed, KilledRankStopsTheRunAndNamesTheRank) {
  const std::string ck = path("k.ckpt"), err = path("launch.err");
  const std::string cmd = launch(2, train_cmd(4, ck, "--eval-every 100000", 100000, 2));
  // background launcher; wait for a checkpoint; kill -9 rank 1 (its pid from the launcher's line)
  const std::string script = cmd + " 2> " + sq(err) + " & L=$!; " +
                             "for i in $(seq 1 600); do [ -f " + sq(ck) + " ] && break; sleep 0.05; done; "
                             "P1=$(sed -n 's/.*rank1=\\([0-9]*\\).*/\\1/p' " + sq(err) + "); "
                             "[ -n \"$P1\" ] || { echo no-pid; kill $L; exit 9; }; sleep 0.3; "
                             "t0=$(date +%s.%N); kill -9 $P1; wait $L; rc=$?; t1=$(date +%s.%N); "
                             "echo launcher_rc=$rc; echo seconds=$(awk \"BEGIN{print $t1 - $t0}\")";
  auto [rc, out] = run_command(script, 90);
  const std::string log = ssmlab::read_file(err);
  ASSERT_EQ(rc, 0) << out << log;
  EXPECT_EQ(out.find("launcher_rc=0"), std::string::npos) << out << log;
  EXPECT_NE(out.find("launcher_rc="), std::string::npos) << out;
  EXPECT_NE(log.find("rank 1 (local rank 1"), std::string::npos) << log;
  EXPECT_NE(log.find("signal 9"), std::string::npos) << log;
  const auto at = out.find("seconds=");
  ASSERT_NE(at, std::string::npos) << out;
  const double seconds = std::stod("0" + out.substr(at + 8));
  std::cout << "launcher exited " << seconds << " s after the kill\n";
  EXPECT_LT(seconds, kTimeout + 5.0);
  EXPECT_GE(next_step(ck), 2);  // the checkpoint parses (CRC, header, payload)
  EXPECT_FALSE(model_tensors(ck).empty());
}

// Without the launcher: two ranks started by hand, rank 1 killed with kill -9; rank 0 sees the reset
// connection at its next all-reduce and stops with a clear error at once (not at the timeout).
TEST_F(Distributed, SurvivorOfAKilledPeerStopsAtOnce) {
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(ssmlab::find_free_port());
  const std::string cmd = train_cmd(4, path("s.ckpt"), "--eval-every 100000", 100000, 1000);
  const std::string script = env + " RANK=0 " + cmd + " 2> " + sq(path("r0.err")) + " & P0=$!; " + env + " RANK=1 " + cmd +
                             " 2>/dev/null & P1=$!; sleep 3; t0=$(date +%s.%N); kill -9 $P1; wait $P0; rc=$?; "
                             "t1=$(date +%s.%N); echo rank0_rc=$rc; echo seconds=$(awk \"BEGIN{print $t1 - $t0}\")";
  auto [rc, out] = run_command(script, 60);
  const std::string err = ssmlab::read_file(path("r0.err"));
  EXPECT_NE(out.find("rank0_rc=1"), std::string::npos) << out << err;
  EXPECT_NE(err.find("error: all-reduce failed on rank 0 of 2"), std::string::npos) << err;
  const auto at = out.find("seconds=");
  ASSERT_NE(at, std::string::npos) << out;
  const double seconds = std::stod("0" + out.substr(at + 8));
  std::cout << "rank 0 stopped " << seconds << " s after its peer was killed\n";
  EXPECT_LT(seconds, kTimeout);
}

// WORLD_SIZE=2 with no peer: rank 0's store waits for rank 1 until the timeout, then a clear error.
TEST_F(Distributed, NoPeerFailsWithinTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc, out] = run_command("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(ssmlab::find_free_port()) +
                                   " " + train_cmd(4, path("x.ckpt")),
                               60);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("error: cannot join the gloo process group as rank 0 of 2"), std::string::npos) << out;
  EXPECT_LT(s, kTimeout + 6.0) << out;  // + start-up of the binary
}

// Rank 1 pointed at a port where no store listens: the connection attempts stop at the timeout.
TEST_F(Distributed, WrongPortFailsWithinTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc, out] = run_command("WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(ssmlab::find_free_port()) +
                                   " " + train_cmd(4, path("x.ckpt")),
                               60);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("error: cannot join the gloo process group as rank 1 of 2"), std::string::npos) << out;
  EXPECT_LT(s, kTimeout + 6.0) << out;  // + start-up of the binary
}

TEST_F(Distributed, BadEnvironmentIsAUsageError) {
  auto [rc, out] = run_command("WORLD_SIZE=2 RANK=2 MASTER_PORT=29500 " + train_cmd(4, path("x.ckpt")), 60);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("error: RANK=2 must be in [0, WORLD_SIZE=2)"), std::string::npos) << out;
  auto [rc2, out2] = run_command("env -u MASTER_PORT WORLD_SIZE=2 RANK=0 " + train_cmd(4, path("x.ckpt")), 60);
  EXPECT_EQ(rc2, 2) << out2;
  EXPECT_NE(out2.find("MASTER_PORT is not set"), std::string::npos) << out2;
  auto [rc3, out3] = run_command("WORLD_SIZE=two RANK=0 " + train_cmd(4, path("x.ckpt")), 60);
  EXPECT_EQ(rc3, 2) << out3;
  EXPECT_NE(out3.find("WORLD_SIZE=two is not an integer"), std::string::npos) << out3;
}

// ---- the launcher alone (ranks are /bin/sh) -------------------------------------------------
TEST(Launcher, AddsTheEnvironmentToTheInheritedOne) {
  auto [rc, out] = run_command("SSMLAB_TEST_VAR=kept " + kLaunch +
                                   " --nproc-per-node 2 --master-port 0 -- sh -c 'echo \"env $RANK/$WORLD_SIZE local "
                                   "$LOCAL_RANK/$LOCAL_WORLD_SIZE $MASTER_ADDR $SSMLAB_TEST_VAR\"'",
                               30);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("env 0/2 local 0/2 127.0.0.1 kept"), std::string::npos) << out;
  EXPECT_NE(out.find("env 1/2 local 1/2 127.0.0.1 kept"), std::string::npos) << out;
}

TEST(Launcher, NodeRankOffsetsTheRanks) {
  auto [rc, out] = run_command(kLaunch + " --nproc-per-node 2 --nnodes 3 --node-rank 2 --master-port 1 -- sh -c 'echo \"r=$RANK w=$WORLD_SIZE\"'", 30);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("r=4 w=6"), std::string::npos) << out;
  EXPECT_NE(out.find("r=5 w=6"), std::string::npos) << out;
}

TEST(Launcher, AFailedRankStopsTheOthersAndIsNamed) {
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc, out] = run_command(kLaunch + " --nproc-per-node 3 --master-port 0 -- sh -c '[ $RANK = 1 ] && exit 7; exec sleep 60'", 30);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 7) << out;
  EXPECT_NE(out.find("rank 1 (local rank 1"), std::string::npos) << out;
  EXPECT_NE(out.find("exited with code 7"), std::string::npos) << out;
  EXPECT_LT(s, 10.0) << out;
}

TEST(Launcher, ARankThatIgnoresSigtermIsKilledAfterTheGrace) {
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc, out] = run_command(
      kLaunch + " --nproc-per-node 2 --master-port 0 --grace 1 -- sh -c 'trap \"\" TERM; [ $RANK = 0 ] && exit 4; while :; do sleep 0.1; done'", 30);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 4) << out;
  EXPECT_LT(s, 10.0) << out;
}

TEST(Launcher, ForwardsSigterm) {
  auto [rc, out] = run_command(kLaunch + " --nproc-per-node 2 --master-port 0 -- sh -c 'exec sleep 60' & L=$!; sleep 0.5; "
                                             "kill -TERM $L; wait $L; echo launcher_rc=$?",
                               30);
  EXPECT_NE(out.find("launcher_rc=143"), std::string::npos) << out;
  EXPECT_NE(out.find("forwarding it to every rank"), std::string::npos) << out;
}

TEST(Launcher, UsageErrors) {
  EXPECT_EQ(run_command(kLaunch + " --nproc-per-node 2", 10).first, 2);
  EXPECT_EQ(run_command(kLaunch + " --nproc-per-node 0 -- true", 10).first, 2);
  EXPECT_EQ(run_command(kLaunch + " --nnodes 2 --node-rank 2 -- true", 10).first, 2);
  EXPECT_EQ(run_command(kLaunch + " --nnodes 2 --master-port 0 -- true", 10).first, 2);
  auto [rc, out] = run_command(kLaunch + " --bogus 1 -- true", 10);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("unknown flag --bogus"), std::string::npos) << out;
  auto [rc2, out2] = run_command(kLaunch + " --nproc-per-node 1 -- /nonexistent/binary", 10);
  EXPECT_EQ(rc2, 127) << out2;
}

// ---- sweeps over GPUs: one run per GPU at a time (no GPU needed: the runs only report what they see)
TEST(GpuSweeps, GpuJobsScriptGivesEachJobOneGpu) {
  const auto dir = ssmlab::test::fresh_temp_dir("gpu_jobs");
  {
    std::ofstream jobs(dir / "jobs.txt");
    for (int i = 0; i < 4; ++i)
      jobs << "echo job" << i << " gpu=$CUDA_VISIBLE_DEVICES start; sleep 0.3; echo job" << i << " end\n";
  }
  fs::create_directory(dir / "tmp");
  auto [rc, out] = run_command("TMPDIR=" + sq((dir / "tmp").string()) + " " + std::string(SSMLAB_SOURCE_DIR) +
                                   "/scripts/gpu-jobs.sh --gpus 0,1 " + sq((dir / "jobs.txt").string()),
                               30);
  EXPECT_EQ(rc, 0) << out;
  // each job's output in one piece (printed from its log when it ends), even with two running at once
  for (int i = 0; i < 4; ++i) {
    const std::string j = "job" + std::to_string(i);
    EXPECT_TRUE(std::regex_search(out, std::regex(j + " gpu=[01] start\n" + j + " end\n"))) << out;
  }
  EXPECT_NE(out.find("gpu=0 start"), std::string::npos) << out;
  EXPECT_NE(out.find("gpu=1 start"), std::string::npos) << out;
  EXPECT_EQ(out.find("gpu=0,1"), std::string::npos) << "a job saw more than its GPU:\n" << out;
  EXPECT_TRUE(fs::is_empty(dir / "tmp")) << "the job logs were not removed";
  ssmlab::test::remove_tree(dir);
}

TEST(GpuSweeps, GpuJobsScriptNamesFailures) {
  const auto dir = ssmlab::test::fresh_temp_dir("gpu_jobs_fail");
  {
    std::ofstream jobs(dir / "jobs.txt");
    jobs << "echo fine\n\necho broken >&2; exit 3\necho also fine\n";  // the empty line is skipped
  }
  auto [rc, out] = run_command(std::string(SSMLAB_SOURCE_DIR) + "/scripts/gpu-jobs.sh --gpus 0 " + sq((dir / "jobs.txt").string()), 30);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("broken\n"), std::string::npos) << "a failed job's output is shown:\n" << out;
  EXPECT_NE(out.find("FAILED: job2 (exit 3): echo broken >&2; exit 3"), std::string::npos) << out;
  EXPECT_NE(out.find("also fine"), std::string::npos) << "a failure stops no other job:\n" << out;
  EXPECT_EQ(run_command(std::string(SSMLAB_SOURCE_DIR) + "/scripts/gpu-jobs.sh " + sq((dir / "missing.txt").string()), 30).first, 2);
  ssmlab::test::remove_tree(dir);
}

TEST(GpuSweeps, SyntheticSweepSpreadsRunsOverGpus) {
  const auto dir = ssmlab::test::fresh_temp_dir("sweep_gpus");
  const std::string fake = (dir / "fake_train.sh").string();
  {
    std::ofstream f(fake);
    f << "#!/bin/sh\n[ \"$1\" = --list-models ] && { echo mamba; echo lstm; echo T_rope; exit 0; }\n"
         "echo \"fake run on gpu=$CUDA_VISIBLE_DEVICES\"\nsleep 0.2\n";
  }
  fs::permissions(fake, fs::perms::owner_all);
  auto [rc, out] = run_command(std::string(SSMLAB_SOURCE_DIR) + "/synthetic_tasks/sweeps/sweep.sh --models mamba lstm T_rope" +
                                   " --experiments copy --gpus 0,1 --train-bin " + sq(fake) + " --tag g --out " +
                                   sq(dir.string()) + " --log " + sq((dir / "s.jsonl").string()),
                               60);
  EXPECT_EQ(rc, 0) << out;
  std::string logs;
  for (const auto& e : fs::directory_iterator(dir / "synthetic_runs"))
    if (e.path().extension() == ".log") logs += ssmlab::read_file(e.path().string());
  EXPECT_NE(logs.find("gpu=0\n"), std::string::npos) << logs;
  EXPECT_NE(logs.find("gpu=1\n"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("gpu=\n"), std::string::npos) << logs;
  ssmlab::test::remove_tree(dir);
}
