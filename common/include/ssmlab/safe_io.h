// safe_io.h — reading files that may be hostile or broken, and names that reach file paths.
//
// Design: every input file ssmlab reads (logs, --config, checks.json, HF config / tokenizer /
// index JSON, safetensors shards) goes through open_regular_file: it opens with O_NONBLOCK (a
// FIFO named like an input does not hang the reader), follows symlinks but refuses anything
// that is not a regular file (a symlink to /dev/zero is not read until memory runs out), and
// refuses files above a size cap chosen per kind of file. JSON from such files is parsed with a
// nesting limit (parse_json_limited), so a line of 10^6 nested arrays is a clear error, not a
// stack overflow in whatever walks the value afterwards. Errors are std::runtime_error naming
// the path. docs/reliability.md has the threat model.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ssmlab {

// Size caps (bytes) per kind of file; a file above its cap is refused before it is read.
inline constexpr std::uint64_t kMaxJsonFileBytes = 256ull << 20;   // config, checks.json, tokenizer, index JSON
inline constexpr std::uint64_t kMaxLogFileBytes = 2ull << 30;      // JSONL logs (read whole into memory)
inline constexpr std::uint64_t kMaxAnyFileBytes = 64ull << 30;     // read_file(): training checkpoints
inline constexpr std::uint64_t kMaxWeightsFileBytes = 1ull << 40;  // safetensors shards (mapped, not read)
// Deepest JSON nesting accepted from files (ssmlab's own files nest at most ~6 levels).
inline constexpr int kMaxJsonDepth = 256;

// An open regular file (read-only): descriptor and size at open time; closes on destruction.
class RegularFile {
 public:
  RegularFile() = default;
  RegularFile(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  RegularFile(RegularFile&& o) noexcept : fd_(o.fd_), size_(o.size_) { o.fd_ = -1; }
  RegularFile& operator=(RegularFile&& o) noexcept;
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  ~RegularFile();
  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }
  int release() {  // the caller owns the descriptor from now on
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Opens `path` without blocking and checks it is a regular file of at most max_bytes.
// `what` names the kind of file in messages ("log", "JSON file", "safetensors file").
RegularFile open_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what = "file");
// The whole file, through open_regular_file; a file that grows past the cap while read is refused too.
std::string read_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what = "file");

// Parses JSON with at most max_depth nested arrays/objects. Throws std::runtime_error
// "<what>: not valid JSON (...)" or "<what>: JSON nested deeper than <max_depth> levels".
nlohmann::json parse_json_limited(std::string_view text, const std::string& what, int max_depth = kMaxJsonDepth);
// read_regular_file(path, kMaxJsonFileBytes, "JSON file") + parse_json_limited(text, path).
nlohmann::json read_json_file(const std::string& path, int max_depth = kMaxJsonDepth);

// `name` reduced to a safe file-name component: only [A-Za-z0-9._-] (others become '_'), no
// leading '.', at most 80 characters. When anything had to change, "-<8 hex digits of a hash of
// the original>" is appended so that two different names never map to one file. Never empty,
// never "." or "..", never contains '/'.
std::string safe_file_name(const std::string& name);

// `s` with every control character (bytes < 0x20 and 0x7f) replaced by `with`: for echoing
// strings from untrusted files to a terminal or a report (no forged lines, no escape sequences).
std::string printable(const std::string& s, char with = '?');

}  // namespace ssmlab
