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

// What RaiseReceiveBuffer knows of a socket before its next setsockopt.
struct ReceiveBufferFacts {
  int asked = 0;
  int current = 0;  // the buffer the socket has
  // Whether SO_RCVBUFFORCE was asked and refused (EPERM without
  // CAP_NET_ADMIN).
  bool force_refused = false;
  // net.core.rmem_max, read once FORCE was refused; 0 when unreadable.
  int rmem_max = 0;
};

// What RaiseReceiveBuffer does next.
enum class ReceiveBufferStep {
  kKeep,      // leave the buffer as it is
  kForce,     // setsockopt(SO_RCVBUFFORCE): passes rmem_max
  kFallback,  // setsockopt(SO_RCVBUF): the kernel caps it at rmem_max
};

// Keep when the socket has what was asked; else FORCE; once FORCE was
// refused, the SO_RCVBUF fallback only when it raises the buffer (the
// kernel sets it to min(asked, rmem_max), which is below the current size
// where rmem_default > 2 x rmem_max) or rmem_max is unknown. Pure.
ReceiveBufferStep NextReceiveBufferStep(const ReceiveBufferFacts& facts);

// Raises the receive buffer of `fd` to `bytes`, never lowering it, by the
// steps of NextReceiveBufferStep. Returns what the kernel granted; an error
// only when `fd` is not a socket whose buffer can be read.
Result<ReceiveBuffer> RaiseReceiveBuffer(int fd, int bytes);

// What to tell the operator when `buffer` got less than it asked (why, and
// what to do); empty when it got all of it: the warning, if any. Pure.
std::string ReceiveBufferShortfall(const ReceiveBuffer& buffer);

}  // namespace hl::worker
