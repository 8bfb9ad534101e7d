// Crash safety (issues 14, 15): atomic writes that refuse special targets and clean up on every
// failure (EFBIG under a file-size limit, a writer that throws, kill -9 mid-write), and log
// appends after a torn last line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/common/child_process.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/checks.h"
#include "ssmlab/jsonl_log.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using ssmlab::test::run_command;
using ssmlab::test::run_in_child;
using ssmlab::test::sq;

namespace {
const std::string kBin = SSMLAB_BIN_DIR;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::vector<std::string> temps_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().filename().string());
  return out;
}
nlohmann::json record(const std::string& kind = "result", const ssmlab::RunLog* run = nullptr) {
  ssmlab::CommonOptions o;
  o.family = "testfam";
  ssmlab::RunLog own(o, "exp_demo");
  return (run ? *run : own).make_record({{"x", 1.0}}, "demo", true, kind);
}
}  // namespace

// ---- atomic writes ------------------------------------------------------------------------------

TEST(AtomicWrite, RefusesToReplaceADirectoryFifoOrDevice) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("atomic_special");
  const fs::path sub = dir / "sub", fifo = dir / "fifo";
  fs::create_directory(sub);
  write_text(sub / "keep", "x");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // The device case must not be able to do harm if the refusal regresses: as root, a rename over
  // /dev/null replaces it (this happened once while checking that this test fails without the
  // fix), so root gets a private node with /dev/null's numbers; other users cannot replace
  // /dev/null (no write access to /dev), so they test the real one.
  fs::path dev = "/dev/null";
  if (::geteuid() == 0) {
    dev = dir / "null";
    if (::mknod(dev.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) != 0) {
      ssmlab::test::remove_tree(dir);
      GTEST_SKIP() << "root without mknod: the device case would risk replacing /dev/null";
    }
  }
  struct Case { fs::path path; const char* kind; };
  for (const Case& c : {Case{sub, "a directory"}, Case{fifo, "a FIFO"}, Case{dev, "a character device"}}) {
    // in a child: were the FIFO opened for writing, it would block for ever
    auto r = run_in_child([&] {
      try {
        ssmlab::write_file_atomic(c.path.string(), std::string("data"));
      } catch (const std::runtime_error& e) {
        std::string m = e.what();
        bool ok = m.find("'" + c.path.string() + "'") != std::string::npos && m.find(c.kind) != std::string::npos;
        if (!ok) std::fprintf(stderr, "message: %s\n", m.c_str());
        return ok ? 0 : 1;
      }
      return 2;
    }, 5);
    EXPECT_TRUE(r.finished) << c.path << ": hung";
    EXPECT_TRUE(r.exited && r.code == 0) << c.path << ": code " << r.code;
  }
  struct stat st {};
  ASSERT_EQ(::stat(dev.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << dev << " was replaced";
  EXPECT_TRUE(fs::is_directory(sub) && fs::exists(sub / "keep"));
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_TRUE(temps_in(dir).empty());
  ssmlab::test::remove_tree(dir);
}

TEST(AtomicWrite, FileSizeLimitFailsCleanlyAndKeepsThePreviousVersion) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("atomic_efbig");
  const fs::path path = dir / "out.bin";
  ssmlab::write_file_atomic(path.string(), std::string("previous version"));
  for (int streamed = 0; streamed < 2; ++streamed) {
    auto r = run_in_child([&] {
      struct rlimit rl {64 << 10, 64 << 10};  // 64 KiB, as `ulimit -f 64`
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return 10;
      try {
        if (streamed) {
          ssmlab::write_file_atomic(path.string(), [](std::ostream& os) {
            for (int i = 0; i < 1000; ++i) os << std::string(1000, 'x');
          });
        } else {
          ssmlab::write_file_atomic(path.string(), std::string(1 << 20, 'x'));
        }
      } catch (const std::runtime_error& e) {
        std::string m = e.what();
        bool ok = m.find(path.string()) != std::string::npos && m.find(std::strerror(EFBIG)) != std::string::npos;
        if (!ok) std::fprintf(stderr, "message: %s\n", m.c_str());
        return ok ? 0 : 1;
      }
      return 2;
    }, 20);
    ASSERT_TRUE(r.finished);
    EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << " (SIGXFSZ is 25)";
    EXPECT_TRUE(r.exited && r.code == 0) << "code " << r.code;
    EXPECT_EQ(read_text(path), "previous version");
    EXPECT_TRUE(temps_in(dir).empty()) << temps_in(dir).front();
  }
  ssmlab::test::remove_tree(dir);
}

TEST(AtomicWrite, CheckLogsReportUnderUlimitExitsOneAndKeepsThePreviousReport) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("atomic_ulimit");
  std::string log;
  for (int i = 0; i < 200; ++i) {
    auto r = record();
    r.erase("summary");  // one failure per line: a report of several KiB
    log += r.dump() + "\n";
  }
  write_text(dir / "log.jsonl", log);
  write_text(dir / "report.md", "previous report\n");
  auto [rc, out] = run_command("ulimit -f 2; " + kBin + "/check_logs --no-rules " + sq((dir / "log.jsonl").string()) +
                               " --report " + sq((dir / "report.md").string()) + " >/dev/null 2>" + sq((dir / "err").string()) +
                               "; echo \"rc=$?\"; cat " + sq((dir / "err").string()));
  EXPECT_NE(out.find("rc=1\n"), std::string::npos) << out;  // 153 would be SIGXFSZ
  EXPECT_NE(out.find("report.md"), std::string::npos) << out;
  EXPECT_EQ(read_text(dir / "report.md"), "previous report\n");
  EXPECT_TRUE(temps_in(dir).empty());
  ssmlab::test::remove_tree(dir);
}

TEST(AtomicWrite, TempFileOfAWriterKilledMidWriteIsRemovedByTheNextWrite) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("atomic_kill9");
  const fs::path path = dir / "ckpt.bin";
  ssmlab::write_file_atomic(path.string(), std::string("v1"));
  auto r = run_in_child([&] {
    ssmlab::write_file_atomic(path.string(), [](std::ostream& os) {
      os << std::string(200000, 'y');
      os.flush();
      ::kill(::getpid(), SIGKILL);  // kill -9 between create and rename
    });
    return 0;
  }, 10);
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.signal, SIGKILL);
  auto left = temps_in(dir);
  ASSERT_EQ(left.size(), 1u) << "the killed writer should have left its temp file (precondition)";
  EXPECT_EQ(read_text(path), "v1");  // and the target is intact
  // A temp file of a process that is still alive is not touched.
  pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::pause();
    ::_exit(0);
  }
  const std::string live = path.filename().string() + ".tmp." + std::to_string(sleeper) + ".0";
  write_text(dir / live, "in progress");
  // An old-style name of a dead process ("<name>.tmp.<pid>") goes too.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string old_style = path.filename().string() + ".tmp." + std::to_string(dead);
  write_text(dir / old_style, "stale");
  // Other files that merely look similar stay.
  write_text(dir / "other.bin.tmp.1.0", "another target's temp");
  ssmlab::write_file_atomic(path.string(), std::string("v2"));
  EXPECT_EQ(read_text(path), "v2");
  auto now = temps_in(dir);
  std::set<std::string> now_set(now.begin(), now.end());
  EXPECT_EQ(now_set, (std::set<std::string>{live, "other.bin.tmp.1.0"}));
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
  ssmlab::test::remove_tree(dir);
}

TEST(AtomicWrite, WriterThatThrowsLeavesNoTempFile) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("atomic_throw");
  const fs::path path = dir / "f.txt";
  ssmlab::write_file_atomic(path.string(), std::string("old"));
  EXPECT_THROW(ssmlab::write_file_atomic(path.string(), [](std::ostream& os) {
    os << std::string(300000, 'z');  // past the stream buffer: bytes are already in the temp file
    throw std::runtime_error("writer failed");
  }), std::runtime_error);
  EXPECT_EQ(read_text(path), "old");
  EXPECT_TRUE(temps_in(dir).empty());
  // a folder that cannot be created (a file is in the way): clear error, nothing written
  write_text(dir / "blocker", "x");
  try {
    ssmlab::write_file_atomic((dir / "blocker" / "f.txt").string(), std::string("x"));
    ADD_FAILURE() << "wrote below a regular file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("blocker"), std::string::npos) << e.what();
  }
  ssmlab::test::remove_tree(dir);
}

// ---- log appends ----------------------------------------------------------------------------------

TEST(TornLog, AppendAfterATornLastLineStartsANewLine) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("torn_append");
  const fs::path log = dir / "log.jsonl";
  const std::string first = record().dump(), torn = record().dump();
  write_text(log, first + "\n" + torn.substr(0, torn.size() / 2));  // a writer died mid-record
  auto appended = record();
  ssmlab::append_jsonl(log.string(), appended);
  auto lines = ssmlab::read_jsonl(log.string());
  ASSERT_EQ(lines.size(), 3u) << read_text(log);
  EXPECT_TRUE(lines[0].value.is_object());
  EXPECT_TRUE(lines[1].value.is_null());                 // the fragment stays a (reported) line of its own
  EXPECT_EQ(lines[1].raw, torn.substr(0, torn.size() / 2));
  EXPECT_EQ(lines[2].value, appended);                   // the new record is intact
  EXPECT_TRUE(lines[2].terminated);
  // check_logs still reports the fragment, and only it
  ssmlab::checks::RuleSet none;
  ssmlab::checks::Report rep;
  ssmlab::checks::check_file(log.string(), none, rep);
  ASSERT_EQ(rep.failures.size(), 1u) << ssmlab::checks::format_table(rep);
  EXPECT_EQ(rep.failures[0].line, 2);
  EXPECT_EQ(rep.failures[0].rule, "valid JSON");
  // a log that ends properly gets no extra blank line
  ssmlab::append_jsonl(log.string(), appended);
  EXPECT_EQ(ssmlab::read_jsonl(log.string()).size(), 4u);
  std::string text = read_text(log);
  EXPECT_EQ(text.find("\n\n"), std::string::npos);
  ssmlab::test::remove_tree(dir);
}

TEST(TornLog, SharedCaseFileAfterAppendKeepsTheNewRecord) {
  // The shape of shared/cases/hostile/log_torn_then_append.jsonl, rebuilt here: one good line,
  // then a fragment without '\n'; the next run's record used to be glued onto it and lost.
  const fs::path dir = ssmlab::test::fresh_temp_dir("torn_case");
  const fs::path log = dir / "log.jsonl";
  std::string full = record().dump();
  write_text(log, record().dump() + "\n" + full.substr(0, 261));
  ssmlab::CommonOptions o;
  o.family = "duality";
  o.log_path = log.string();
  o.quiet = true;
  ssmlab::RunLog run(o, "exp1_scalar_equivalence");
  run.write({{"max_rel_err", 1e-16}}, "next run", true);
  auto lines = ssmlab::read_jsonl(log.string());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].value["run_id"], run.run_id());
  ssmlab::test::remove_tree(dir);
}

TEST(TornLog, FailedAppendUnderAFileSizeLimitLeavesTheLogAsItWas) {
  const fs::path dir = ssmlab::test::fresh_temp_dir("torn_efbig");
  const fs::path log = dir / "log.jsonl";
  const std::string before = record().dump() + "\n";
  write_text(log, before);
  auto r = run_in_child([&] {
    struct rlimit rl {static_cast<rlim_t>(before.size() + 100), static_cast<rlim_t>(before.size() + 100)};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return 10;
    auto big = record();
    big["metrics"]["pad"] = std::string(10000, 'p');
    try {
      ssmlab::append_jsonl(log.string(), big);
    } catch (const std::runtime_error& e) {
      return std::string(e.what()).find(std::strerror(EFBIG)) != std::string::npos ? 0 : 1;
    }
    return 2;
  }, 10);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.exited && r.code == 0) << r.code;
  EXPECT_EQ(read_text(log), before);
  ssmlab::test::remove_tree(dir);
}
