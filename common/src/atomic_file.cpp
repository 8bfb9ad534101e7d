// atomic_file.cpp — temp file + fsync + rename (see atomic_file.h).
#include "ssmlab/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <streambuf>

#include "ssmlab/safe_io.h"

namespace ssmlab {

void ignore_file_size_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (::sigaction(SIGXFSZ, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGXFSZ, SIG_IGN);
  });
}

namespace {

std::string err_text(int e) { return std::strerror(e); }

// An output streambuf over a file descriptor that remembers the first write error (errno), so the
// caller can report EFBIG / ENOSPC instead of a bare "stream failed".
class FdOutBuf : public std::streambuf {
 public:
  explicit FdOutBuf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof buf_); }
  int error() const { return err_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    const char* p = pbase();
    while (p < pptr()) {
      ssize_t n = ::write(fd_, p, static_cast<size_t>(pptr() - p));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (!err_) err_ = errno;
        setp(buf_, buf_ + sizeof buf_);
        return false;
      }
      p += n;
    }
    setp(buf_, buf_ + sizeof buf_);
    return err_ == 0;
  }
  int fd_;
  int err_ = 0;
  char buf_[1 << 16];
};

// Removes "<base>.tmp.<pid>[.<anything>]" in `dir` whose pid is not a live process (a writer that
// was killed between creating its temp file and renaming it). Best effort: errors are ignored.
void remove_stale_temps(const std::string& dir, const std::string& base) {
  const std::string prefix = base + ".tmp.";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    size_t i = prefix.size(), j = i;
    while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
    if (j == i || j - i > 9 || (j < name.size() && name[j] != '.')) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name.substr(i, j - i)));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    std::string full = dir + "/" + name;
    struct stat st {};
    if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(full.c_str());
  }
  ::closedir(d);
}

// Deletes the temp file unless committed.
struct TempFile {
  std::string path;
  int fd = -1;
  bool committed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed && !path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  namespace fs = std::filesystem;
  if (path.empty()) throw std::runtime_error("write_file_atomic: empty path");
  ignore_file_size_signal();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    const char* kind = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode) ? "a character device" : S_ISBLK(st.st_mode) ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file";
    throw std::runtime_error("refusing to replace '" + path + "': it is " + kind + ", not a regular file");
  }
  fs::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : std::string(".");
  const std::string base = target.filename().string();
  if (base.empty() || base == "." || base == "..") throw std::runtime_error("write_file_atomic: '" + path + "' names no file");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create folder '" + dir + "' for '" + path + "': " + ec.message());
  remove_stale_temps(dir, base);

  static std::atomic<unsigned> counter{0};
  TempFile tmp;
  for (int attempt = 0; attempt < 100 && tmp.fd < 0; ++attempt) {
    tmp.path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (tmp.fd < 0 && errno != EEXIST) {
      int e = errno;
      tmp.path.clear();  // not ours: nothing to remove
      throw std::runtime_error("cannot create a temp file beside '" + path + "': " + err_text(e));
    }
  }
  if (tmp.fd < 0) {
    tmp.path.clear();
    throw std::runtime_error("cannot create a temp file beside '" + path + "': every name is taken");
  }
  auto fail = [&](const std::string& what, int e) {
    throw std::runtime_error("cannot write '" + path + "': " + what + ": " + err_text(e) + " (previous version kept)");
  };
  {
    FdOutBuf buf(tmp.fd);
    std::ostream out(&buf);
    writer(out);  // an exception here unwinds through TempFile, which removes the temp file
    out.flush();
    if (buf.error()) fail("write failed", buf.error());
    if (!out) fail("write failed", EIO);
  }
  if (::fsync(tmp.fd) != 0) fail("fsync failed", errno);
  int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) fail("close failed", errno);
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) fail("rename failed", errno);
  tmp.committed = true;
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // makes the rename durable; a failure here cannot un-rename, so it is not reported
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

std::string read_file(const std::string& path) { return read_regular_file(path, kMaxAnyFileBytes, "file"); }

}  // namespace ssmlab
