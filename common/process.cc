#include "common/process.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace hl {

Status DisableCoreDumps() {
  const rlimit zero{0, 0};
  if (setrlimit(RLIMIT_CORE, &zero) != 0) {
    return Internal(std::string("setrlimit(RLIMIT_CORE, 0): ") +
                    std::strerror(errno));
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Internal(std::string("prctl(PR_SET_DUMPABLE, 0): ") +
                    std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace hl
