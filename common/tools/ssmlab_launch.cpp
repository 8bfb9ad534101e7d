// ssmlab_launch — starts the processes of a data-parallel run, like torchrun (docs/distributed.md).
//
//   ssmlab_launch --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P]
//                 [--grace S] -- BINARY ARGS...
//
// Each process gets the inherited environment plus RANK = R*N + i, WORLD_SIZE = M*N, LOCAL_RANK = i,
// LOCAL_WORLD_SIZE = N, MASTER_ADDR, MASTER_PORT (ssmlab/dist_env.h; the binary takes cuda:LOCAL_RANK).
// Anything else in the environment (NCCL_NVLS_ENABLE=0, CUDA_VISIBLE_DEVICES, ...) reaches the ranks
// unchanged. SIGINT/SIGTERM/SIGHUP are forwarded to every rank. When one rank fails (non-zero exit or
// a signal), the launcher names it on stderr, sends SIGTERM to the others, SIGKILL after --grace
// seconds, and exits with the failed rank's code (128 + signal when it was killed). Each rank is its
// own process group (signals reach its children too) and gets SIGTERM if the launcher dies.
//
// The flags are parsed by hand (not ssmlab::Cli): everything after "--" belongs to the binary, and
// the launcher has none of the experiment flags (--seed, --log, ...) that Cli adds.
// Exit codes: 0 every rank succeeded; 2 usage error; otherwise the first failed rank's status.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "ssmlab/dist_env.h"

namespace {

volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

const char* kUsage =
    "usage: ssmlab_launch --nproc-per-node N [--nnodes M] [--node-rank R] [--master-addr HOST]\n"
    "                     [--master-port PORT] [--grace SECONDS] -- BINARY [ARGS...]\n"
    "  --nproc-per-node N  processes on this node (one per GPU), default 1\n"
    "  --nnodes M          nodes in the run (start one launcher per node), default 1\n"
    "  --node-rank R       this node's index in [0, M), default 0\n"
    "  --master-addr HOST  host of rank 0 (its rendezvous store), default 127.0.0.1\n"
    "  --master-port PORT  port of that store, default 29500; 0 = a free port (single node only)\n"
    "  --grace SECONDS     after a failure, SIGTERM to the other ranks, SIGKILL after this, default 5\n"
    "Every rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT added to\n"
    "the inherited environment. docs/distributed.md.\n";

int usage_error(const std::string& msg) {
  std::cerr << "error: " << msg << "\n" << kUsage;
  return 2;
}

bool parse_int(const std::string& s, long lo, long hi, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || errno || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    return "was killed by signal " + std::to_string(s) + " (" + (strsignal(s) ? strsignal(s) : "?") + ")";
  }
  return "stopped (status " + std::to_string(status) + ")";
}

struct Rank {
  int rank = 0, local = 0;
  pid_t pid = -1;
  bool running = false;
};

}  // namespace

int main(int argc, char** argv) {
  long nproc = 1, nnodes = 1, node_rank = 0, port = 29500, grace = 5;
  std::string addr = "127.0.0.1";
  int cmd_at = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      cmd_at = i + 1;
      break;
    }
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string value;
    const auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usage_error(a + " needs a value");
    }
    long* target = nullptr;
    long lo = 0, hi = 0;
    if (a == "--nproc-per-node" || a == "--nproc_per_node") target = &nproc, lo = 1, hi = 1024;
    else if (a == "--nnodes") target = &nnodes, lo = 1, hi = 100000;
    else if (a == "--node-rank" || a == "--node_rank") target = &node_rank, lo = 0, hi = 100000;
    else if (a == "--master-port" || a == "--master_port") target = &port, lo = 0, hi = 65535;
    else if (a == "--grace") target = &grace, lo = 0, hi = 3600;
    else if (a == "--master-addr" || a == "--master_addr") {
      if (value.empty()) return usage_error("--master-addr must not be empty");
      addr = value;
      continue;
    } else {
      return usage_error("unknown flag " + a + " (the binary's own flags go after --)");
    }
    if (!parse_int(value, lo, hi, target))
      return usage_error(a + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] (got '" + value + "')");
  }
  if (cmd_at < 0 || cmd_at >= argc) return usage_error("no binary: write ssmlab_launch [flags] -- BINARY [ARGS...]");
  if (node_rank >= nnodes)
    return usage_error("--node-rank " + std::to_string(node_rank) + " must be < --nnodes " + std::to_string(nnodes));
  if (port == 0) {
    if (nnodes > 1) return usage_error("--master-port 0 (a free port) works on one node only; give every node the same port");
    port = ssmlab::find_free_port();
  }
  const long world = nnodes * nproc;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);

  std::vector<Rank> ranks(static_cast<size_t>(nproc));
  std::fflush(nullptr);
  for (long i = 0; i < nproc; ++i) {
    Rank& r = ranks[static_cast<size_t>(i)];
    r.local = static_cast<int>(i);
    r.rank = static_cast<int>(node_rank * nproc + i);
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("ssmlab_launch: fork");
      for (auto& o : ranks)
        if (o.running) ::kill(-o.pid, SIGKILL);
      return 1;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher died: stop (no orphaned rank waiting on a peer)
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &dfl, nullptr);
      const std::pair<const char*, std::string> vars[] = {
          {"RANK", std::to_string(r.rank)},   {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(i)},  {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
          {"GROUP_RANK", std::to_string(node_rank)}, {"MASTER_ADDR", addr},
          {"MASTER_PORT", std::to_string(port)}};
      for (const auto& [k, v] : vars) ::setenv(k, v.c_str(), 1);
      ::execvp(argv[cmd_at], argv + cmd_at);
      std::fprintf(stderr, "ssmlab_launch: cannot run %s: %s\n", argv[cmd_at], std::strerror(errno));
      std::fflush(stderr);
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so that no signal can race the child's own call
    r.pid = pid;
    r.running = true;
  }
  std::cerr << "ssmlab_launch: " << nproc << " process(es), ranks " << node_rank * nproc << ".." << node_rank * nproc + nproc - 1
            << " of " << world << ", store " << addr << ":" << port << "; pids";
  for (const auto& r : ranks) std::cerr << " rank" << r.rank << "=" << r.pid;
  std::cerr << std::endl;

  int exit_code = 0;
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_at{};
  size_t running = ranks.size();
  auto stop_others = [&](int sig) {
    for (auto& o : ranks)
      if (o.running) ::kill(-o.pid, sig);
  };
  while (running > 0) {
    if (g_signal != 0) {
      const int s = g_signal;
      g_signal = 0;
      std::cerr << "ssmlab_launch: got signal " << s << " (" << strsignal(s) << "), forwarding it to every rank" << std::endl;
      stop_others(s);
      if (!stopping) {
        stopping = true;
        kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(grace);
        if (exit_code == 0) exit_code = 128 + s;
      }
    }
    int status = 0;
    const pid_t w = ::waitpid(-1, &status, WNOHANG);
    if (w > 0) {
      for (auto& r : ranks) {
        if (r.pid != w || !r.running) continue;
        r.running = false;
        --running;
        const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (failed && !stopping) {
          std::cerr << "ssmlab_launch: rank " << r.rank << " (local rank " << r.local << ", pid " << r.pid << ") "
                    << describe_status(status) << "; stopping the other " << running << " rank(s)" << std::endl;
          exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
          if (exit_code == 0) exit_code = 1;
          stopping = true;
          kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(grace);
          stop_others(SIGTERM);
        } else if (failed) {
          std::cerr << "ssmlab_launch: rank " << r.rank << " " << describe_status(status) << std::endl;
        }
      }
      continue;
    }
    if (stopping && std::chrono::steady_clock::now() >= kill_at) {
      stop_others(SIGKILL);
      kill_at = std::chrono::steady_clock::now() + std::chrono::hours(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (exit_code != 0) std::cerr << "ssmlab_launch: failed (exit " << exit_code << ")" << std::endl;
  return exit_code;
}
