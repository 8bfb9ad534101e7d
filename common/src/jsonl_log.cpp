// jsonl_log.cpp — single-write O_APPEND + flock appends (see jsonl_log.h).
#include "ssmlab/jsonl_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <random>
#include <stdexcept>

#include "ssmlab/atomic_file.h"
#include "ssmlab/safe_io.h"

namespace ssmlab::detail {
const char* git_revision_string();  // generated at build time (cmake/GitRevision.cmake)
}

namespace ssmlab {

void append_jsonl(const std::string& path, const nlohmann::json& record) {
  if (!record.is_object()) throw std::invalid_argument("append_jsonl: a record must be a JSON object");
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  ignore_file_size_signal();
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) throw std::runtime_error("cannot create the folder of log '" + path + "': " + ec.message());
  }
  // O_RDWR: the last byte is read back below. O_NONBLOCK: a FIFO at `path` must not hang us
  // (it is refused just after, like any other file that is not a regular one).
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open log '" + path + "': " + std::strerror(errno));
  auto fail = [&](const std::string& what, int e) {
    ::close(fd);  // releases the lock
    throw std::runtime_error(what + " log '" + path + "': " + std::strerror(e));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot stat", errno);
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("log '" + path + "' is not a regular file (a FIFO, device or socket): refusing to append");
  }
  if (::flock(fd, LOCK_EX) != 0) fail("cannot lock", errno);
  // Under the lock no other ssmlab writer appends: the end of the file is where this record goes.
  if (::fstat(fd, &st) != 0) fail("cannot stat", errno);
  const off_t size_before = st.st_size;
  if (size_before > 0) {
    // A torn last line (a writer that crashed mid-record, or a fragment from elsewhere) must not
    // swallow this record: start it on a line of its own. check_logs still reports the fragment.
    char last = '\n';
    ssize_t n;
    do n = ::pread(fd, &last, 1, size_before - 1); while (n < 0 && errno == EINTR);
    if (n < 0) fail("cannot read the end of", errno);
    if (n == 1 && last != '\n') line.insert(line.begin(), '\n');
  }
  const char* data = line.data();
  size_t left = line.size();
  // One write normally carries the whole line; the loop only matters for signals/huge lines,
  // and the lock keeps other ssmlab writers out meanwhile.
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      // EFBIG / ENOSPC part-way: cut the partial record off again, so the log ends as it was.
      if (::ftruncate(fd, size_before) != 0) {}
      fail("cannot write", e);
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);  // releases the lock
}

std::vector<JsonlLine> read_jsonl(const std::string& path) {
  std::string all = read_regular_file(path, kMaxLogFileBytes, "log");
  std::vector<JsonlLine> out;
  size_t pos = 0;
  int no = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    JsonlLine l;
    l.line_no = ++no;
    if (nl == std::string::npos) {
      l.raw = all.substr(pos);
      l.terminated = false;
      pos = all.size();
    } else {
      l.raw = all.substr(pos, nl - pos);
      pos = nl + 1;
    }
    if (l.raw.empty() && l.terminated) continue;  // blank line
    try {
      l.value = parse_json_limited(l.raw, "line " + std::to_string(l.line_no));
    } catch (const std::exception& e) {
      l.value = nullptr;
      l.error = e.what();
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::string iso8601_utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

std::string new_run_id() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                    (static_cast<std::uint64_t>(::getpid()) << 16);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string git_revision() { return detail::git_revision_string(); }

RunLog::RunLog(const CommonOptions& opts, std::string experiment)
    : opts_(opts), experiment_(std::move(experiment)), run_id_(new_run_id()), start_(std::chrono::steady_clock::now()) {}

double RunLog::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

nlohmann::json RunLog::make_record(const nlohmann::json& metrics, const std::string& summary, bool ok,
                                   const std::string& record) const {
  nlohmann::json r;
  r["schema"] = kSchemaVersion;
  r["experiment"] = experiment_;
  r["family"] = opts_.family;
  r["record"] = record;
  r["run_id"] = run_id_;
  r["timestamp"] = iso8601_utc_now();
  r["git"] = git_revision();
  r["seed"] = opts_.seed;
  r["params"] = opts_.params.is_null() ? nlohmann::json::object() : opts_.params;
  r["metrics"] = metrics.is_null() ? nlohmann::json::object() : metrics;
  r["summary"] = summary;
  r["status"] = ok ? "ok" : "failed";
  r["wall_s"] = elapsed_s();
  return r;
}

nlohmann::json RunLog::append(const nlohmann::json& metrics, const std::string& summary, bool ok,
                              const std::string& record) const {
  auto r = make_record(metrics, summary, ok, record);
  if (!opts_.silent && !opts_.log_path.empty()) append_jsonl(opts_.log_path, r);
  return r;
}

nlohmann::json RunLog::write(const nlohmann::json& metrics, const std::string& summary, bool ok,
                             const std::string& record) const {
  auto r = append(metrics, summary, ok, record);
  if (opts_.silent) return r;
  if (!opts_.quiet || record == "result")
    std::cout << "[" << experiment_ << "] " << (ok ? "" : "FAILED: ") << summary << std::endl;
  return r;
}

void progress(const CommonOptions& opts, const std::string& line) {
  if (!opts.quiet && !opts.silent) std::cerr << line << std::endl;
}

}  // namespace ssmlab
