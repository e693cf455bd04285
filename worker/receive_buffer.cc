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

Result<ReceiveBuffer> RaiseReceiveBuffer(int fd, int bytes) {
  const int current = GrantedReceiveBuffer(fd);
  if (current < 0) return Unreadable();
  if (current >= bytes) {
    return ReceiveBuffer{.asked = bytes, .granted = current};
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    // EPERM without CAP_NET_ADMIN: SO_RCVBUF grants at most rmem_max, which
    // may be less than the socket has (rmem_default above it).
    const int cap = ReceiveBufferCap();
    if (cap == 0 || std::min(bytes, cap) > current) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    }
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
