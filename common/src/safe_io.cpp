// safe_io.cpp — checked readers, depth-limited JSON, safe file names (see safe_io.h).
#include "ssmlab/safe_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace ssmlab {

namespace {
std::string kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}
std::string not_regular(const std::string& what, const std::string& path, mode_t m) {
  return what + " '" + path + "' is " + kind_of(m) + ", not a regular file";
}
}  // namespace

RegularFile& RegularFile::operator=(RegularFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    size_ = o.size_;
    o.fd_ = -1;
  }
  return *this;
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

RegularFile open_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what) {
  // stat first, so that devices are not even opened; fstat after open closes the race.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(not_regular(what, path, st.st_mode));
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  RegularFile f(fd, 0);
  if (::fstat(fd, &st) != 0) throw std::runtime_error("cannot stat " + what + " '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(not_regular(what, path, st.st_mode));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes)
    throw std::runtime_error(what + " '" + path + "' is " + std::to_string(size) + " bytes, above the limit of " +
                             std::to_string(max_bytes) + " bytes for this kind of file");
  // Regular files ignore O_NONBLOCK; clear it anyway so the descriptor behaves as a plain one.
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return RegularFile(f.release(), size);
}

std::string read_regular_file(const std::string& path, std::uint64_t max_bytes, const std::string& what) {
  RegularFile f = open_regular_file(path, max_bytes, what);
  std::string out;
  out.reserve(static_cast<size_t>(f.size()));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(f.fd(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot read " + what + " '" + path + "': " + std::strerror(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::uint64_t>(n) > max_bytes)
      throw std::runtime_error(what + " '" + path + "' grew past the limit of " + std::to_string(max_bytes) +
                               " bytes while it was read");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {
struct TooDeep {};
}  // namespace

nlohmann::json parse_json_limited(std::string_view text, const std::string& what, int max_depth) {
  using Json = nlohmann::json;
  // nlohmann's parser is iterative, but the value it returns is walked recursively afterwards
  // (dump, comparisons, our own checks): refuse deep nesting while parsing, through the parser
  // callback, which sees the depth of every array/object as it starts.
  Json::parser_callback_t limit = [max_depth](int depth, Json::parse_event_t ev, Json&) {
    if ((ev == Json::parse_event_t::object_start || ev == Json::parse_event_t::array_start) && depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(text.data(), text.data() + text.size(), limit);
  } catch (const TooDeep&) {
    throw std::runtime_error(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
  } catch (const Json::exception& e) {
    throw std::runtime_error(what + ": not valid JSON (" + e.what() + ")");
  }
}

nlohmann::json read_json_file(const std::string& path, int max_depth) {
  return parse_json_limited(read_regular_file(path, kMaxJsonFileBytes, "JSON file"), path, max_depth);
}

std::string safe_file_name(const std::string& name) {
  constexpr size_t kMaxLen = 80;
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    out += ok ? c : '_';
  }
  size_t lead = out.find_first_not_of('.');
  out = lead == std::string::npos ? std::string() : out.substr(lead);
  if (out.size() > kMaxLen) out.resize(kMaxLen);
  if (out != name || out.empty()) {
    std::uint32_t h = 2166136261u;  // FNV-1a of the original bytes
    for (unsigned char c : name) h = (h ^ c) * 16777619u;
    char tag[16];
    std::snprintf(tag, sizeof tag, "%08x", h);
    out += (out.empty() ? "" : "-") + std::string(tag);
  }
  return out;
}

std::string printable(const std::string& s, char with) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = with;
  return out;
}

}  // namespace ssmlab
