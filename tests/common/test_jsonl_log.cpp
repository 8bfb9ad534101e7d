#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "ssmlab/atomic_file.h"
#include "ssmlab/jsonl_log.h"
#include "tests/common/child_process.h"
#include "tests/test_support.h"

namespace {
std::string temp_path(const std::string& name) {
  auto p = std::filesystem::path(::testing::TempDir()) / ("ssmlab_" + std::to_string(::getpid()) + "_" + name);
  ssmlab::test::remove_tree(p);
  return p.string();
}
}  // namespace

TEST(JsonlLog, RecordCarriesTheSchema) {
  ssmlab::CommonOptions o;
  o.family = "testfam";
  o.seed = 5;
  o.log_path = temp_path("schema/log.jsonl");  // parent folder is created
  o.params = {{"T", 3}};
  ssmlab::RunLog run(o, "exp_demo");
  run.write({{"err", 1e-15}, {"bad", std::nan("")}}, "demo", true);
  auto lines = ssmlab::read_jsonl(o.log_path);
  ASSERT_EQ(lines.size(), 1u);
  const auto& r = lines[0].value;
  for (auto* k : {"schema", "experiment", "family", "record", "run_id", "timestamp", "git", "seed", "params", "metrics",
                  "summary", "status", "wall_s"})
    EXPECT_TRUE(r.contains(k)) << k;
  EXPECT_EQ(r["experiment"], "exp_demo");
  EXPECT_EQ(r["status"], "ok");
  EXPECT_EQ(r["params"]["T"], 3);
  EXPECT_TRUE(r["metrics"]["bad"].is_null());  // NaN is never written as invalid JSON
  EXPECT_EQ(r["timestamp"].get<std::string>().back(), 'Z');
}

TEST(JsonlLog, FourProcessesAppendConcurrentlyWithoutTearing) {
  const std::string path = temp_path("concurrent.jsonl");
  const int kProcs = 4, kLines = 2000;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Lines of varying length (some long) make interleaving visible if it happened.
      for (int i = 0; i < kLines; ++i)
        ssmlab::append_jsonl(path, {{"proc", p}, {"i", i}, {"pad", std::string(static_cast<size_t>(i % 97) * 40, 'x')}});
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    ::waitpid(k, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto lines = ssmlab::read_jsonl(path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kProcs * kLines));
  std::set<std::pair<int, int>> seen;
  for (auto& l : lines) {
    ASSERT_TRUE(l.terminated);
    ASSERT_TRUE(l.value.is_object()) << "line " << l.line_no << " is torn: " << l.raw.substr(0, 60);
    seen.insert({l.value["proc"].get<int>(), l.value["i"].get<int>()});
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kProcs * kLines));
}

TEST(JsonlLog, ReaderFlagsTornAndInvalidLines) {
  const std::string path = temp_path("torn.jsonl");
  std::ofstream(path) << "{\"a\":1}\nnot json\n{\"b\":";
  auto lines = ssmlab::read_jsonl(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0].value.is_object());
  EXPECT_TRUE(lines[1].value.is_null());
  EXPECT_FALSE(lines[2].terminated);
}

TEST(AtomicFile, ReplacesWholeFileAndLeavesNoTemp) {
  const std::string dir = temp_path("atomic");
  const std::string path = dir + "/ckpt.bin";
  ssmlab::write_file_atomic(path, std::string("first version"));
  ssmlab::write_file_atomic(path, std::string("second"));
  EXPECT_EQ(ssmlab::read_file(path), "second");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) { (void)e; ++files; }
  EXPECT_EQ(files, 1);
  // A writer that throws midway leaves the previous file intact.
  EXPECT_THROW(ssmlab::write_file_atomic(path, [](std::ostream& os) { os << "partial"; throw std::runtime_error("crash"); }),
               std::runtime_error);
  EXPECT_EQ(ssmlab::read_file(path), "second");
  EXPECT_THROW(ssmlab::read_file(dir + "/missing"), std::runtime_error);
}

// The `git` field names the built commit (cmake/GitRevision.cmake runs at every build): a 12-digit hash,
// "-dirty" when tracked files differed, $SSMLAB_GIT_REV when set (sanitised to a safe alphabet), or "unknown".
TEST(JsonlLog, GitFieldIsTheBuiltRevision) {
  const std::string rev = ssmlab::git_revision();
  EXPECT_TRUE(std::regex_match(rev, std::regex("[0-9a-f]{12}(-dirty)?|unknown|[A-Za-z0-9._+-]+"))) << rev;
  const std::string out = temp_path("gitrev/rev.cpp");
  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  const std::string script = std::string(SSMLAB_SOURCE_DIR) + "/cmake/GitRevision.cmake";
  auto run = [&](const std::string& env) {
    auto [rc, text] = ssmlab::test::run_command(env + " cmake -DSRC=" + std::string(SSMLAB_SOURCE_DIR) + " -DOUT=" + out + " -P " + script);
    EXPECT_EQ(rc, 0) << text;
    return ssmlab::read_file(out);
  };
  EXPECT_NE(run("SSMLAB_GIT_REV=abc123def456").find("return \"abc123def456\";"), std::string::npos);
  // a hostile value cannot break out of the string literal
  const std::string hostile = run("SSMLAB_GIT_REV='x\";system(1);//'");
  EXPECT_NE(hostile.find("return \"x__system_1____\";"), std::string::npos) << hostile;
  // without the variable: the checkout's own revision (or "unknown" outside a git checkout)
  const std::string own = run("env -u SSMLAB_GIT_REV");
  EXPECT_TRUE(std::regex_search(own, std::regex("return \"([0-9a-f]{12}(-dirty)?|unknown)\";"))) << own;
  ssmlab::test::remove_tree(std::filesystem::path(out).parent_path());
}
