// dist_env.h — the torchrun environment of a data-parallel run (torch-free: the launcher and the
// training binaries share it).
//
//   RANK        this process's rank, 0 <= RANK < WORLD_SIZE
//   WORLD_SIZE  number of processes (unset or 1: a single-process run, nothing else is read)
//   LOCAL_RANK  rank on this node (picks the GPU: cuda:LOCAL_RANK); default RANK
//   LOCAL_WORLD_SIZE  processes on this node (informational)
//   MASTER_ADDR host of rank 0's rendezvous store (default 127.0.0.1)
//   MASTER_PORT its TCP port (required when WORLD_SIZE > 1)
//
// ssmlab_launch (common/tools/ssmlab_launch.cpp) sets them; torchrun's names, so either launcher
// works. docs/distributed.md.
#pragma once

#include <string>

namespace ssmlab {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  bool distributed() const { return world_size > 1; }
  std::string describe() const;  // "rank 1 of 2 (local 1), store 127.0.0.1:29500"
};

// Reads and checks the variables above. Throws UsageError with one clear line for a value that is
// not an integer, RANK >= WORLD_SIZE, a negative rank, a missing or out-of-range MASTER_PORT when
// WORLD_SIZE > 1, and LOCAL_RANK >= LOCAL_WORLD_SIZE.
DistEnv read_dist_env();

// A TCP port that was free a moment ago: binds port 0 on 127.0.0.1 and returns what the kernel gave.
// (Another process may take it before it is used; tests use it so that parallel ctest runs do not collide.)
int find_free_port();

}  // namespace ssmlab
