#include "worker/receive_buffer.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace hl::worker {
namespace {

// The receive buffer of `fd` in setsockopt's unit; -1 with errno set.
int GrantedReceiveBuffer(int fd) {
  int reported = 0;
  socklen_t size = sizeof(reported);
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &reported, &size) != 0) return -1;
  return reported / 2;
}

// net.core.rmem_max, the most SO_RCVBUF grants; 0 when unreadable.
int ReceiveBufferCap() {
  std::ifstream file("/proc/sys/net/core/rmem_max");
  int bytes = 0;
  return file >> bytes ? bytes : 0;
}

Status Unreadable() {
  return InvalidArgument(std::string("receive buffer unreadable: ") +
                         std::strerror(errno));
}

}  // namespace

ReceiveBufferStep NextReceiveBufferStep(const ReceiveBufferFacts& facts) {
  if (facts.current >= facts.asked) return ReceiveBufferStep::kKeep;
  if (!facts.force_refused) return ReceiveBufferStep::kForce;
  if (facts.rmem_max == 0 ||
      std::min(facts.asked, facts.rmem_max) > facts.current) {
    return ReceiveBufferStep::kFallback;
  }
  return ReceiveBufferStep::kKeep;
}

Result<ReceiveBuffer> RaiseReceiveBuffer(int fd, int bytes) {
  ReceiveBufferFacts facts{.asked = bytes, .current = GrantedReceiveBuffer(fd)};
  if (facts.current < 0) return Unreadable();
  ReceiveBufferStep step = NextReceiveBufferStep(facts);
  if (step == ReceiveBufferStep::kKeep) {
    return ReceiveBuffer{.asked = bytes, .granted = facts.current};
  }
  if (step == ReceiveBufferStep::kForce &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    facts.force_refused = true;
    facts.rmem_max = ReceiveBufferCap();
    step = NextReceiveBufferStep(facts);
  }
  if (step == ReceiveBufferStep::kFallback) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  const int granted = GrantedReceiveBuffer(fd);
  if (granted < 0) return Unreadable();
  return ReceiveBuffer{.asked = bytes, .granted = granted};
}

std::string ReceiveBufferShortfall(const ReceiveBuffer& buffer) {
  if (buffer.granted >= buffer.asked) return "";
  return "the kernel granted a receive buffer of " +
         std::to_string(buffer.granted) + " bytes of the " +
         std::to_string(buffer.asked) +
         " asked (net.core.rmem_max caps it, and the process lacks "
         "CAP_NET_ADMIN to pass it); raise the cap with `sysctl -w "
         "net.core.rmem_max=" +
         std::to_string(buffer.asked) +
         "` (persist it in /etc/sysctl.d/) or grant CAP_NET_ADMIN";
}

}  // namespace hl::worker
