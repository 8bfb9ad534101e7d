// atomic_file.h — files that are either the old version or the new one, never torn.
// Design: write to a fresh "<path>.tmp.<pid>.<n>" in the same folder (O_EXCL), fsync, rename over
// the target, fsync the folder. A crash at any moment leaves the previous file intact.
//  - Only a regular file (or nothing) is replaced: a directory, FIFO or device at `path` (say
//    /dev/null, which a rename by root would otherwise replace) is refused before any work.
//  - Every failure (the writer throws, EFBIG under `ulimit -f`, ENOSPC, EIO on fsync, rename)
//    removes the temp file and throws std::runtime_error naming `path` and the system error.
//    SIGXFSZ is ignored process-wide (once) so a file-size limit is an error, not a signal.
//  - Temp files of processes that died mid-write (kill -9) are removed by the next write to the
//    same path: "<name>.tmp.<pid>[.<n>]" whose pid no longer exists.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace ssmlab {

void write_file_atomic(const std::string& path, const std::string& bytes);
// Streams into the temp file through `writer`, then commits as above.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);
// Whole file through the checked reader (safe_io.h): regular files only, at most kMaxAnyFileBytes.
// Throws std::runtime_error naming the path.
std::string read_file(const std::string& path);

// Makes SIGXFSZ ignored (if it has its default action), so exceeding RLIMIT_FSIZE makes write(2)
// fail with EFBIG instead of killing the process. Called by every ssmlab file writer.
void ignore_file_size_signal();

}  // namespace ssmlab
