// distributed.cpp — process groups on c10d and the bucketed collectives (see distributed.h).
//
// SSMLAB_DIST_GLOO / SSMLAB_DIST_NCCL come from models/CMakeLists.txt (gloo's headers, or nccl.h
// with a CUDA LibTorch, were found); c10d's own headers want USE_C10D_GLOO / USE_C10D_NCCL, which
// Debian's TORCH_CXX_FLAGS carry (-DUSE_C10D_GLOO) but the pip LibTorch's do not, so they are
// defined here when missing (after the precompiled <torch/torch.h>, which does not use them).
#if SSMLAB_DIST_GLOO && !defined(USE_C10D_GLOO)
#define USE_C10D_GLOO 1
#endif
#if SSMLAB_DIST_NCCL && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL 1
#endif

#include "models/distributed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/version.h>
#if SSMLAB_DIST_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if SSMLAB_DIST_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "ssmlab/timer.h"
#include "models/torch_util.h"

namespace ssmlab::models {

namespace {

std::string first_line(const std::string& s) {
  std::string m = s.substr(0, s.find("Exception raised from"));
  m = m.substr(0, m.find('\n'));
  while (!m.empty() && (m.back() == ' ' || m.back() == '\n')) m.pop_back();
  return m;
}

// ---- the c10d adapter --------------------------------------------------------------------
// The only code that touches c10d's C++ API. LibTorch 1.13 (Debian, CI) and 2.x (the GPU machine)
// share what is used here: TCPStore(host, TCPStoreOptions), ProcessGroupGloo / ProcessGroupNCCL
// built from (store, rank, size, Options) with Options::timeout, and their allreduce / broadcast /
// barrier(std::vector<at::Tensor>&, XOptions) returning c10::intrusive_ptr<c10d::Work>. In 2.x
// these classes derive from c10d::Backend instead of c10d::ProcessGroup; calling the concrete class
// keeps that difference out of the code. What does differ is inside the #if below.
// The 2.x side is compiled on the GPU machine only (scripts/gpu-distributed.sh) and untested until
// that run (docs/distributed.md).
class C10dGroup {
 public:
  using WorkPtr = c10::intrusive_ptr<c10d::Work>;

  C10dGroup(const DistEnv& env, const std::string& backend, std::chrono::milliseconds timeout) {
    const auto b = dist_backends_built();
    if (std::find(b.begin(), b.end(), backend) == b.end())  // before the store: rank 0 would wait for peers
      throw DistError("this build has no '" + backend + "' backend (" + built() + ")");
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<std::size_t>(env.world_size);
    // Not waitWorkers: with a peer missing, 1.13's TCPStore server then spent about twice its timeout
    // before it threw (measured 2 T + 2 s); the process group's own rendezvous below waits for the
    // peers with the timeout instead.
    so.waitWorkers = false;
    so.timeout = timeout;
    store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    if (backend == "gloo") {
#if SSMLAB_DIST_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, opts);
      return;
#endif
    } else if (backend == "nccl") {
#if SSMLAB_DIST_NCCL
      // NVLink multicast (NVLS) can take a shared host's GPUs out of service: off unless asked for.
      ::setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 2)
      // Before 2.2 a timed-out NCCL collective blocks forever unless this is set (2.2 renamed it
      // TORCH_NCCL_ASYNC_ERROR_HANDLING and turned it on by default).
      ::setenv("NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
#endif
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world_size, opts);
      return;
#endif
    }
    throw DistError("this build has no '" + backend + "' backend (" + built() + ")");
  }

  WorkPtr allreduce(std::vector<at::Tensor>& t) {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    return call([&](auto& pg) { return pg.allreduce(t, o); });
  }
  WorkPtr broadcast(std::vector<at::Tensor>& t, int root) {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    return call([&](auto& pg) { return pg.broadcast(t, o); });
  }
  WorkPtr barrier() {
    return call([&](auto& pg) { return pg.barrier(c10d::BarrierOptions()); });
  }

  static std::string built() {
    const auto b = dist_backends_built();
    if (b.empty()) return "this build has none: see docs/distributed.md, 'Building'";
    std::string s = "built:";
    for (const auto& x : b) s += " " + x;
    return s;
  }

 private:
  template <class F>
  WorkPtr call(F&& f) {
#if SSMLAB_DIST_GLOO
    if (gloo_) return f(*gloo_);
#endif
#if SSMLAB_DIST_NCCL
    if (nccl_) return f(*nccl_);
#endif
    (void)f;
    throw DistError("no process group");
  }

  c10::intrusive_ptr<c10d::Store> store_;
#if SSMLAB_DIST_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#endif
#if SSMLAB_DIST_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
};

double timeout_from(const DistConfig& dc) {
  if (dc.timeout_s > 0) return dc.timeout_s;
  if (const char* e = std::getenv("SSMLAB_DIST_TIMEOUT"); e && *e) {
    char* end = nullptr;
    const double v = std::strtod(e, &end);
    if (*end != '\0' || !(v > 0) || !std::isfinite(v))
      throw UsageError(std::string("SSMLAB_DIST_TIMEOUT=") + e + " must be a positive number of seconds");
    return v;
  }
  return 600.0;
}

}  // namespace

// ---- flags ----------------------------------------------------------------------------------
void add_dist_flags(Cli& cli, DistConfig* dc) {
  cli.add("dist-backend", &dc->backend, "data-parallel backend when WORLD_SIZE > 1: auto (NCCL on CUDA, Gloo on CPU) | gloo | nccl")
      .one_of({"auto", "gloo", "nccl"});
  cli.add("dist-timeout", &dc->timeout_s, "rendezvous and collective timeout [s] (0: $SSMLAB_DIST_TIMEOUT, else 600)")
      .at_least(0.0);
  cli.add("dist-bucket-mb", &dc->bucket_mb, "gradient all-reduce bucket [MiB]").greater_than(0.0);
}

std::vector<std::string> dist_backends_built() {
  std::vector<std::string> b;
#if SSMLAB_DIST_GLOO
  b.push_back("gloo");
#endif
#if SSMLAB_DIST_NCCL
  b.push_back("nccl");
#endif
  return b;
}

struct Distributed::Impl {
  DistEnv env;
  torch::Device device = torch::kCPU;
  std::string backend = "none";
  double timeout_s = 0;
  int64_t bucket_bytes = 25 << 20;
  std::unique_ptr<C10dGroup> group;
  double comm_s = 0;

  std::string where() const { return "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size); }
  // Waits for one collective; a failure becomes a DistError saying where and why.
  void wait(const C10dGroup::WorkPtr& w, const char* what) const {
    try {
      w->wait();
    } catch (const std::exception& e) {
      throw DistError(std::string(what) + " failed on " + where() + " (" + backend + ", timeout " +
                      std::to_string(static_cast<int>(timeout_s)) + " s): " + first_line(e.what()) +
                      " -- another rank probably stopped");
    }
  }
  void sync() const {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  }
  // Consecutive tensors of one dtype and device, up to bucket_bytes each (a larger tensor alone).
  std::vector<std::vector<size_t>> buckets(const std::vector<torch::Tensor>& ts) const {
    std::vector<std::vector<size_t>> out;
    int64_t bytes = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
      const auto& t = ts[i];
      const bool fresh = out.empty() || bytes + static_cast<int64_t>(t.nbytes()) > bucket_bytes ||
                         t.scalar_type() != ts[out.back()[0]].scalar_type() || t.device() != ts[out.back()[0]].device();
      if (fresh) out.emplace_back(), bytes = 0;
      out.back().push_back(i);
      bytes += static_cast<int64_t>(t.nbytes());
    }
    return out;
  }
  // One collective per bucket on a flattened copy (all launched first, then waited for), copied back.
  template <class Op>
  void bucketed(const std::vector<torch::Tensor>& ts, Op op, const char* what) {
    torch::NoGradGuard ng;
    const auto bs = buckets(ts);
    std::vector<torch::Tensor> flats;
    std::vector<C10dGroup::WorkPtr> works;
    try {
      for (const auto& b : bs) {
        std::vector<torch::Tensor> parts;
        for (size_t i : b) parts.push_back(ts[i].detach().reshape({-1}));
        flats.push_back(torch::cat(parts));
        std::vector<at::Tensor> one{flats.back()};
        works.push_back(op(one));
      }
    } catch (const DistError&) {
      throw;
    } catch (const std::exception& e) {
      throw DistError(std::string(what) + " failed on " + where() + ": " + first_line(e.what()));
    }
    for (size_t k = 0; k < bs.size(); ++k) {
      wait(works[k], what);
      int64_t off = 0;
      for (size_t i : bs[k]) {
        const int64_t n = ts[i].numel();
        ts[i].detach().copy_(flats[k].narrow(0, off, n).view(ts[i].sizes()));
        off += n;
      }
    }
  }
};

Distributed::Distributed(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Distributed::~Distributed() = default;

std::shared_ptr<Distributed> Distributed::single(const torch::Device& device) {
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  return std::shared_ptr<Distributed>(new Distributed(std::move(impl)));
}

std::shared_ptr<Distributed> Distributed::join(const DistConfig& dc, const std::string& device_spec) {
  const DistEnv env = read_dist_env();
  if (!env.distributed()) return single(resolve_device(device_spec));
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->timeout_s = timeout_from(dc);
  impl->bucket_bytes = std::max<int64_t>(1, static_cast<int64_t>(dc.bucket_mb * 1024 * 1024));
  // one GPU per rank: cuda:LOCAL_RANK (CUDA_VISIBLE_DEVICES, if set, is applied first by CUDA)
  std::string spec = device_spec;
  if (spec == "cuda" || (spec == "auto" && torch::cuda::is_available())) spec = "cuda:" + std::to_string(env.local_rank);
  impl->device = resolve_device(spec);
  impl->backend = dc.backend == "auto" ? (impl->device.is_cuda() ? "nccl" : "gloo") : dc.backend;
  if (impl->backend == "nccl" && !impl->device.is_cuda())
    throw UsageError("--dist-backend nccl needs a CUDA device (got " + impl->device.str() + "); use gloo on the CPU");
#if SSMLAB_DIST_NCCL
  if (impl->device.is_cuda()) c10::cuda::set_device(static_cast<c10::DeviceIndex>(impl->device.index()));
#endif
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(impl->timeout_s * 1000.0));
  try {
    impl->group = std::make_unique<C10dGroup>(env, impl->backend, timeout);
  } catch (const DistError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistError("cannot join the " + impl->backend + " process group as " + env.describe() + " within " +
                    std::to_string(static_cast<int>(impl->timeout_s)) + " s: " + first_line(e.what()) +
                    " -- is every rank started, with the same MASTER_ADDR/MASTER_PORT?");
  }
  return std::shared_ptr<Distributed>(new Distributed(std::move(impl)));
}

const DistEnv& Distributed::env() const { return impl_->env; }
const torch::Device& Distributed::device() const { return impl_->device; }
const std::string& Distributed::backend() const { return impl_->backend; }
double Distributed::timeout_s() const { return impl_->timeout_s; }
double Distributed::comm_seconds() const { return impl_->comm_s; }

void Distributed::allreduce_sum(const std::vector<torch::Tensor>& tensors) {
  if (!active() || tensors.empty()) return;
  impl_->sync();
  Stopwatch clock;
  impl_->bucketed(tensors, [&](std::vector<at::Tensor>& t) { return impl_->group->allreduce(t); }, "all-reduce");
  impl_->sync();
  impl_->comm_s += clock.seconds();
}

std::vector<double> Distributed::allreduce_sum(std::vector<double> values) {
  if (!active() || values.empty()) return values;
  const torch::Device on = impl_->backend == "nccl" ? impl_->device : torch::Device(torch::kCPU);
  std::vector<at::Tensor> t{torch::tensor(values, torch::kFloat64).to(on)};
  impl_->wait(impl_->group->allreduce(t), "all-reduce");
  const auto c = t[0].cpu();
  for (size_t i = 0; i < values.size(); ++i) values[i] = c[static_cast<int64_t>(i)].item<double>();
  return values;
}

void Distributed::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  if (!active() || tensors.empty()) return;
  impl_->bucketed(tensors, [&](std::vector<at::Tensor>& t) { return impl_->group->broadcast(t, root); }, "broadcast");
}

void Distributed::barrier() {
  if (!active()) return;
  impl_->wait(impl_->group->barrier(), "barrier");
}

void Distributed::sync_module(torch::nn::Module& module) {
  if (!active()) return;
  std::vector<torch::Tensor> ts;
  for (const auto& p : module.parameters(/*recurse=*/true)) ts.push_back(p);
  for (const auto& b : module.buffers(/*recurse=*/true)) ts.push_back(b);
  broadcast(ts, 0);
  // Every rank must now hold rank 0's values: the per-tensor sums, summed over ranks, are world x ours.
  std::vector<double> sums;
  {
    torch::NoGradGuard ng;
    for (const auto& t : ts) sums.push_back(t.detach().to(torch::kFloat64).sum().item<double>());
  }
  const auto total = allreduce_sum(sums);
  double bad = 0;
  for (size_t i = 0; i < sums.size(); ++i)
    if (!(std::abs(total[i] - world() * sums[i]) <= 1e-9 * std::max(1.0, std::abs(total[i])))) bad = 1;
  const double ranks_bad = allreduce_sum(std::vector<double>{bad})[0];
  if (ranks_bad > 0)
    throw DistError("the model differs across ranks after the broadcast from rank 0 (" +
                    std::to_string(static_cast<int>(ranks_bad)) + " rank(s) disagree)");
}

void apply_writer_rule(CommonOptions* opts, const Distributed& dist) {
  if (dist.is_main()) return;
  opts->silent = true;
  opts->log_path.clear();
  opts->plot = false;
}

}  // namespace ssmlab::models
