// atomic_file.h — files that are either the old version or the new one, never torn.
// Design: write to "<path>.tmp.<pid>" in the same folder, fsync, rename over the target,
// fsync the folder. A crash at any moment leaves the previous file intact.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace ssmlab {

void write_file_atomic(const std::string& path, const std::string& bytes);
// Streams into the temp file through `writer`, then commits as above.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);
std::string read_file(const std::string& path);  // throws with the path on failure

}  // namespace ssmlab
