// distributed.h — data-parallel training over processes on PyTorch's c10d: Gloo on CPU, NCCL on
// GPUs (docs/distributed.md). The Trainer uses it; a training binary only joins and passes it on:
//
//   sm::DistConfig dc;  sm::add_dist_flags(cli, &dc);          // --dist-backend --dist-timeout ...
//   auto opts = cli.parse_or_exit(argc, argv);  ssmlab::init_runtime(opts);
//   auto dist = sm::Distributed::join(dc, tc.device);         // reads RANK, WORLD_SIZE, ... (ssmlab/dist_env.h)
//   sm::apply_writer_rule(&opts, *dist);                      // ranks != 0 write and print nothing
//   ... batch_fn returns the GLOBAL batch (per-rank batch x dist->world() rows) ...
//   sm::Trainer trainer(net, tc, &run, dist);           // same weights everywhere, then DP steps
//
// WORLD_SIZE unset or 1: no process group, every collective below is a no-op, and training is the
// single-process code path unchanged. WORLD_SIZE > 1: rank 0 hosts a c10d TCPStore at
// MASTER_ADDR:MASTER_PORT, every rank joins a ProcessGroupGloo (CPU) or ProcessGroupNCCL (CUDA,
// device cuda:LOCAL_RANK), with --dist-timeout on the rendezvous and on every collective: a missing
// peer, a wrong port or a dead rank ends in a DistError naming the store, never a hang.
//
// Collectives work on flattened buckets (consecutive tensors of one dtype, up to --dist-bucket-mb):
// one torch::cat, one all-reduce per bucket (all launched, then waited for), one copy back. They are
// issued after the backward pass, not overlapped with it (DDP's autograd hooks are not part of the
// C++ API; docs/distributed.md, "Not done").
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ssmlab/cli.h"
#include "ssmlab/dist_env.h"

namespace ssmlab::models {

struct DistConfig {
  std::string backend = "auto";  // auto (NCCL on CUDA, Gloo on CPU) | gloo | nccl
  double timeout_s = 0;          // rendezvous and collective timeout; 0: $SSMLAB_DIST_TIMEOUT, else 600 s
  double bucket_mb = 25;         // gradient bucket size [MiB]
};
// Declares --dist-backend --dist-timeout --dist-bucket-mb.
void add_dist_flags(Cli& cli, DistConfig* dc);

// A failed rendezvous or collective (peer missing or dead, timeout, a build without the backend).
struct DistError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The c10d backends this build has ("gloo", "nccl"); empty when LibTorch's c10d headers or gloo's
// headers (Debian: libgloo-dev) or nccl.h were not found at configure time.
std::vector<std::string> dist_backends_built();

class Distributed {
 public:
  // Reads the environment (ssmlab::read_dist_env: UsageError for bad values), resolves the device
  // (device_spec as --device; "auto"/"cuda" become cuda:LOCAL_RANK when WORLD_SIZE > 1) and joins
  // the process group. Throws DistError when the group cannot be formed within the timeout.
  static std::shared_ptr<Distributed> join(const DistConfig& dc, const std::string& device_spec);
  // A single-process stand-in (world 1) on `device`: every collective is a no-op.
  static std::shared_ptr<Distributed> single(const torch::Device& device);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  const DistEnv& env() const;
  int rank() const { return env().rank; }
  int world() const { return env().world_size; }
  bool active() const { return env().world_size > 1; }
  bool is_main() const { return env().rank == 0; }
  const torch::Device& device() const;
  const std::string& backend() const;  // "gloo" | "nccl" | "none" (world 1)
  double timeout_s() const;

  // In-place sums over the ranks, in flattened buckets (see above). On CUDA the call synchronises
  // the device before and after, so that comm_seconds() is the all-reduce's own time.
  void allreduce_sum(const std::vector<torch::Tensor>& tensors);
  std::vector<double> allreduce_sum(std::vector<double> values);  // one small fp64 all-reduce
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);  // in place, bucketed
  void barrier();
  // Broadcasts rank 0's parameters and buffers, then checks that every rank holds the same values
  // (a checksum per tensor, compared after an all-reduce); DistError when they differ.
  void sync_module(torch::nn::Module& module);
  // Seconds spent in allreduce_sum(tensors) so far.
  double comm_seconds() const;

  struct Impl;

 private:
  explicit Distributed(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The rank-0 writer rule: on ranks other than 0, opts gets silent = true (no JSONL records, progress
// lines or summaries through RunLog / ssmlab::progress), an empty log path and no plot. Checkpoints
// are written by the Trainer on rank 0 only; any other file a binary writes (saved models, run
// folders) it guards with dist.is_main() itself.
void apply_writer_rule(CommonOptions* opts, const Distributed& dist);

}  // namespace ssmlab::models
