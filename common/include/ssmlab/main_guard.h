// main_guard.h — how every ssmlab binary ends, and the start-up checks that decide it early.
//
// Exit codes (docs/reliability.md, "Exit codes"):
//   0  success;
//   2  usage or configuration error found before any work: a flag, a --config value, an output
//      path that cannot be written, a model shape that is inconsistent or does not fit in memory
//      (ssmlab::UsageError, thrown by Cli::parse and by the checks below);
//   1  failure while working: I/O, a bad input file, a diverged run, out of memory;
//   never a signal or a backtrace.
//
//   int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
//
// run_main prints every escaping exception as one "error: <message>" line on stderr (a LibTorch
// c10::Error loses its C++ backtrace: the message is cut before "Exception raised from").
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "ssmlab/cli.h"

namespace ssmlab {

// Runs fn(argc, argv) and maps what escapes it onto the exit codes above.
int run_main(int argc, char** argv, const std::function<int(int, char**)>& fn);

// The message of an exception as one readable block: a c10 backtrace ("Exception raised from
// ...") and trailing newlines cut off.
std::string error_message(const std::exception& e);

// ---- output paths (checked at start-up, before any work; throw UsageError naming --flag) ----
// A file the binary will create or replace: not a directory, FIFO, device or socket; its folder
// exists (or can be created: the nearest existing ancestor is a folder) and a file can be created
// in it (tried: a probe file is created and removed, so read-only and pseudo file systems such as
// /proc are caught even as root). An empty path is accepted (the output is off).
void check_output_file(const std::string& flag, const std::string& path);
// A folder the binary will write files into: an existing folder, or one that can be created.
void check_output_dir(const std::string& flag, const std::string& path);
// The same as a Cli validator: cli.add("checkpoint", &p, "...").check(output_file_check()).
std::function<std::optional<std::string>(const std::string&)> output_file_check();
std::function<std::optional<std::string>(const std::string&)> output_dir_check();

// ---- machine limits (for start-up checks) ----
// Physical memory (sysconf pages x page size); 0 when unknown.
std::uint64_t physical_memory_bytes();
// Throws UsageError "<flag> ...: needs about X GiB (<what>), this machine has Y GiB of memory"
// when `bytes` exceeds `available` (physical memory when 0). A non-finite or negative estimate counts as too big.
void check_fits_in_memory(const std::string& flag, const std::string& what, double bytes,
                          std::uint64_t available = 0);
// The largest --threads accepted: 4 x the hardware threads (more only oversubscribes the cores;
// thousands of threads made a run hang in thread start-up).
int max_threads();
// "1.5 GiB"
std::string format_bytes(double bytes);

}  // namespace ssmlab
