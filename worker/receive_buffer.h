// A socket's receive buffer raised past net.core.rmem_max when the process
// may, and the size the kernel granted read back.
#pragma once

#include <string>

#include "common/status.h"

namespace hl::worker {

// Sizes in the unit setsockopt(SO_RCVBUF) takes. Linux grants twice the
// size asked (its bookkeeping included) and getsockopt reports that, so
// `granted` is the reported size halved.
struct ReceiveBuffer {
  int asked = 0;
  int granted = 0;
};

// Raises the receive buffer of `fd` to `bytes`, never lowering it: with
// SO_RCVBUFFORCE, which passes net.core.rmem_max when the process has
// CAP_NET_ADMIN, else with SO_RCVBUF, which the kernel caps at
// net.core.rmem_max without an error. Returns what the kernel granted; an
// error only when `fd` is not a socket whose buffer can be read.
Result<ReceiveBuffer> RaiseReceiveBuffer(int fd, int bytes);

// What to tell the operator when `buffer` got less than it asked (why, and
// what to do); empty when it got all of it.
std::string ReceiveBufferShortfall(const ReceiveBuffer& buffer);

}  // namespace hl::worker
