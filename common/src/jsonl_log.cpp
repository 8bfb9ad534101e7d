// jsonl_log.cpp — single-write O_APPEND + flock appends (see jsonl_log.h).
#include "ssmlab/jsonl_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>

#ifndef SSMLAB_GIT_REV
#define SSMLAB_GIT_REV "unknown"
#endif

namespace ssmlab {

void append_jsonl(const std::string& path, const nlohmann::json& record) {
  if (!record.is_object()) throw std::invalid_argument("append_jsonl: a record must be a JSON object");
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open log '" + path + "': " + std::strerror(errno));
  if (::flock(fd, LOCK_EX) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error("cannot lock log '" + path + "': " + std::strerror(e));
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
      ::close(fd);
      throw std::runtime_error("cannot write log '" + path + "': " + std::strerror(e));
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);  // releases the lock
}

std::vector<JsonlLine> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
      l.value = nlohmann::json::parse(l.raw);
    } catch (const std::exception&) {
      l.value = nullptr;
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

std::string git_revision() { return SSMLAB_GIT_REV; }

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

nlohmann::json RunLog::write(const nlohmann::json& metrics, const std::string& summary, bool ok,
                             const std::string& record) const {
  auto r = make_record(metrics, summary, ok, record);
  if (!opts_.log_path.empty()) append_jsonl(opts_.log_path, r);
  if (!opts_.quiet || record == "result")
    std::cout << "[" << experiment_ << "] " << (ok ? "" : "FAILED: ") << summary << std::endl;
  return r;
}

void progress(const CommonOptions& opts, const std::string& line) {
  if (!opts.quiet) std::cerr << line << std::endl;
}

}  // namespace ssmlab
