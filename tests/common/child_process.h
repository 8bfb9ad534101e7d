// child_process.h — running a piece of a test (or a binary) where a hang, a crash or a runaway
// allocation cannot take the test binary down with it: a forked child with a deadline.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <utility>

namespace ssmlab::test {

struct ChildResult {
  bool finished = false;  // false: still running at the deadline (then killed)
  bool exited = false;    // exited normally (not by a signal)
  int code = -1;          // exit code when exited
  int signal = 0;         // terminating signal otherwise
  double seconds = 0;
};

// Runs fn() in a forked child; its return value becomes the exit code (an escaping exception: 99).
// memory_limit > 0 caps the child's address space (RLIMIT_AS), so a reader that would read
// /dev/zero forever fails there instead of exhausting the machine.
inline ChildResult run_in_child(const std::function<int()>& fn, double timeout_s = 10, rlim_t memory_limit = 0) {
  std::fflush(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (memory_limit > 0) {
      struct rlimit rl {memory_limit, memory_limit};
      ::setrlimit(RLIMIT_AS, &rl);
    }
    int code = 99;
    try {
      code = fn();
    } catch (...) {
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  ChildResult r;
  if (pid < 0) return r;
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (w == pid) {
      r.finished = true;
      break;
    }
    if (r.seconds > timeout_s) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exited = WIFEXITED(status);
  r.code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return r;
}

// Runs a shell command under `timeout` (exit 124 when it hangs) and returns (exit status, stdout+stderr).
// A command killed by a signal shows up as 128 + signal.
inline std::pair<int, std::string> run_command(const std::string& cmd, int timeout_s = 30) {
  std::string full = "timeout -s KILL " + std::to_string(timeout_s) + " sh -c '" + [&] {
    std::string q;
    for (char c : cmd) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q;
  }() + "' 2>&1";
  std::FILE* p = ::popen(full.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int st = ::pclose(p);
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return {rc, out};
}

// Shell-quotes one argument.
inline std::string sq(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace ssmlab::test
