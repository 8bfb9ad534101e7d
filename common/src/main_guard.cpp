// main_guard.cpp — exit codes for every binary and the start-up output-path and memory checks
// (see main_guard.h).
#include "ssmlab/main_guard.h"
#include "ssmlab/runtime.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

namespace ssmlab {

std::string error_message(const std::exception& e) {
  std::string m = e.what() ? e.what() : "";
  const auto bt = m.find("Exception raised from");  // c10::Error: the C++ backtrace follows
  if (bt != std::string::npos) m.erase(bt);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (m.empty()) m = "unknown error";
  return m;
}

int run_main(int argc, char** argv, const std::function<int(int, char**)>& fn) {
  try {
    return fn(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "error: " << error_message(e) << std::endl;
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory (an allocation failed); try smaller sizes" << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << error_message(e) << std::endl;
    return 1;
  } catch (...) {
    std::cerr << "error: unknown exception" << std::endl;
    return 1;
  }
}

namespace {
std::string kind_of(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISREG(st.st_mode)) return "a regular file";
  return "not a regular file";
}
std::string parent_of(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const auto slash = s.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return s.substr(0, slash);
}
// The error of creating (and removing) a probe file in the existing folder `dir`, or "".
std::string probe_folder(const std::string& dir) {
  static unsigned counter = 0;
  const std::string probe = dir + (dir.back() == '/' ? "" : "/") + ".ssmlab-write-probe." + std::to_string(::getpid()) +
                            "." + std::to_string(counter++);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) return std::strerror(errno);
  ::close(fd);
  ::unlink(probe.c_str());
  return "";
}
// Checks that `dir` is, or can become, a folder we can create files in; returns the error or "".
std::string folder_problem(const std::string& dir) {
  std::string d = dir.empty() ? "." : dir;
  // walk up to the nearest existing ancestor
  std::string cur = d;
  for (int depth = 0; depth < 4096; ++depth) {
    struct stat st {};
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return "'" + cur + "' is " + kind_of(st) + ", not a folder";
      const std::string err = probe_folder(cur);
      if (!err.empty()) return "cannot create files in '" + cur + "': " + err;
      return "";
    }
    if (errno == ENOTDIR) {  // a component of the path is a file
      // find which: keep walking up, the first existing ancestor reports it
    } else if (errno != ENOENT) {
      return "'" + cur + "': " + std::strerror(errno);
    }
    const std::string up = parent_of(cur);
    if (up == cur) break;
    cur = up;
  }
  return "no existing folder above '" + d + "'";
}
}  // namespace

namespace {
bool has_control_char(const std::string& p) {
  for (char c : p)
    if (static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}
// What is wrong with `path` as an output file, as a fragment after "'path'", or "".
std::string file_problem(const std::string& path) {
  if (has_control_char(path)) return ": the path holds a control character";
  if (path.back() == '/') return ": names a folder, expected a file path";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return " is " + kind_of(st) + ", expected a new or regular file";
    if (::access(path.c_str(), W_OK) != 0) return ": not writable: " + std::string(std::strerror(errno));
  } else if (errno != ENOENT && errno != ENOTDIR) {
    return ": " + std::string(std::strerror(errno));
  }
  const std::string problem = folder_problem(parent_of(path));
  return problem.empty() ? "" : ": " + problem;
}
std::string dir_problem(const std::string& path) {
  if (has_control_char(path)) return ": the path holds a control character";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return " is " + kind_of(st) + ", expected a folder";
  const std::string problem = folder_problem(path);
  return problem.empty() ? "" : ": " + problem;
}
}  // namespace

void check_output_file(const std::string& flag, const std::string& path) {
  if (path.empty()) return;
  const std::string p = file_problem(path);
  if (!p.empty()) throw UsageError("--" + flag + " '" + path + "'" + p);
}

void check_output_dir(const std::string& flag, const std::string& path) {
  if (path.empty()) return;
  const std::string p = dir_problem(path);
  if (!p.empty()) throw UsageError("--" + flag + " '" + path + "'" + p);
}

std::function<std::optional<std::string>(const std::string&)> output_file_check() {
  return [](const std::string& path) -> std::optional<std::string> {
    if (path.empty()) return std::nullopt;
    const std::string p = file_problem(path);
    if (p.empty()) return std::nullopt;
    return "'" + path + "'" + p;
  };
}
std::function<std::optional<std::string>(const std::string&)> output_dir_check() {
  return [](const std::string& path) -> std::optional<std::string> {
    if (path.empty()) return std::nullopt;
    const std::string p = dir_problem(path);
    if (p.empty()) return std::nullopt;
    return "'" + path + "'" + p;
  };
}

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

std::string format_bytes(double b) {
  char buf[64];
  if (!std::isfinite(b)) return "an unbounded amount";
  if (b >= 1099511627776.0) std::snprintf(buf, sizeof buf, "%.3g TiB", b / 1099511627776.0);
  else if (b >= 1073741824.0) std::snprintf(buf, sizeof buf, "%.3g GiB", b / 1073741824.0);
  else std::snprintf(buf, sizeof buf, "%.3g MiB", b / 1048576.0);
  return buf;
}

void check_fits_in_memory(const std::string& flag, const std::string& what, double bytes, std::uint64_t available) {
  if (available == 0) available = physical_memory_bytes();
  if (available == 0) return;  // unknown: nothing to compare with
  if (std::isfinite(bytes) && bytes >= 0 && bytes <= static_cast<double>(available)) return;
  throw UsageError(flag + ": needs about " + format_bytes(bytes) + " (" + what + "), more than the " +
                   format_bytes(static_cast<double>(available)) + " of memory here");
}

int max_threads() { return 4 * hardware_threads(); }

}  // namespace ssmlab
