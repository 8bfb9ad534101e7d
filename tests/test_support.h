// test_support.h — small helpers shared by the test binaries (header-only).
#pragma once

#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace ssmlab::test {

// Deletes a file or directory tree (no error if absent). Not std::filesystem::remove_all: the pip
// LibTorch 2.11 on the GPU machine exports its own copy of that symbol from libtorch.so, our test
// binaries bind to it, and it calls through a null pointer (seen on the H100 on 2026-11-23: every
// test that cleaned a temp dir segfaulted). POSIX nftw has no such clash.
inline void remove_tree(const std::filesystem::path& p) {
  auto rm = [](const char* path, const struct stat*, int, struct FTW*) { return std::remove(path); };
  nftw(p.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS);
}

// An empty directory under the temp dir, unique to this process: <tmp>/ssmlab_<name>_<pid>.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("ssmlab_" + name + "_" + std::to_string(::getpid()));
  remove_tree(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace ssmlab::test
