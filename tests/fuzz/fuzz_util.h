// fuzz_util.h: helpers shared by the libFuzzer targets of tests/fuzz/ (see cmake/SsmlabFuzz.cmake).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace ssmlab::fuzz {

// The fuzz input as text.
inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits the input at its first NUL byte: (before, after). Several targets take two inputs this
// way (a JSON document cannot hold a raw NUL, so the split is unambiguous); without a NUL,
// `after` is nullopt-like: has_second is false.
struct TwoParts {
  std::string_view first, second;
  bool has_second = false;
};
inline TwoParts split_at_nul(std::string_view in) {
  TwoParts p;
  const size_t nul = in.find('\0');
  if (nul == std::string_view::npos) {
    p.first = in;
  } else {
    p.first = in.substr(0, nul);
    p.second = in.substr(nul + 1);
    p.has_second = true;
  }
  return p;
}

// An in-memory regular file (memfd) reachable by path, for readers that only take paths. The
// readers go through ssmlab::open_regular_file, which follows /proc/self/fd/N to the memfd, a
// regular file. One per target, rewritten for every input (no disk I/O, nothing left behind).
class MemFile {
 public:
  explicit MemFile(const char* name) {
    fd_ = ::memfd_create(name, MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  // Replaces the content; returns the path to read it from.
  const std::string& write(std::string_view content) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::pwrite(fd_, content.data() + done, content.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A property the code under test promised and broke: reported as a crash (with the input).
[[noreturn]] inline void violated(const char* what, const std::string& detail = std::string()) {
  std::fprintf(stderr, "fuzz property violated: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

}  // namespace ssmlab::fuzz
