// dist_env.cpp — reading and checking the torchrun environment (see dist_env.h).
#include "ssmlab/dist_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "ssmlab/cli.h"

namespace ssmlab {

namespace {
// The integer value of variable `name`, nullopt when unset or empty; UsageError when not an integer.
std::optional<long> env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || x < -1000000000L || x > 1000000000L)
    throw UsageError(std::string(name) + "=" + v + " is not an integer");
  return x;
}
}  // namespace

std::string DistEnv::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local " + std::to_string(local_rank) +
         "), store " + master_addr + ":" + std::to_string(master_port);
}

DistEnv read_dist_env() {
  DistEnv e;
  const auto world = env_int("WORLD_SIZE");
  if (!world || *world == 1) return e;
  if (*world < 1) throw UsageError("WORLD_SIZE=" + std::to_string(*world) + " must be >= 1");
  e.world_size = static_cast<int>(*world);
  const auto rank = env_int("RANK");
  if (!rank) throw UsageError("WORLD_SIZE=" + std::to_string(e.world_size) + " but RANK is not set");
  if (*rank < 0 || *rank >= e.world_size)
    throw UsageError("RANK=" + std::to_string(*rank) + " must be in [0, WORLD_SIZE=" + std::to_string(e.world_size) + ")");
  e.rank = static_cast<int>(*rank);
  e.local_world_size = static_cast<int>(env_int("LOCAL_WORLD_SIZE").value_or(e.world_size));
  e.local_rank = static_cast<int>(env_int("LOCAL_RANK").value_or(e.rank));
  if (e.local_world_size < 1 || e.local_rank < 0 || e.local_rank >= e.local_world_size)
    throw UsageError("LOCAL_RANK=" + std::to_string(e.local_rank) + " must be in [0, LOCAL_WORLD_SIZE=" +
                     std::to_string(e.local_world_size) + ")");
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  const auto port = env_int("MASTER_PORT");
  if (!port) throw UsageError("WORLD_SIZE=" + std::to_string(e.world_size) + " but MASTER_PORT is not set (rank 0's store port)");
  if (*port < 1 || *port > 65535) throw UsageError("MASTER_PORT=" + std::to_string(*port) + " must be in [1, 65535]");
  e.master_port = static_cast<int>(*port);
  return e;
}

int find_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("find_free_port: socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("find_free_port: ") + std::strerror(err));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace ssmlab
