#include "common/process.h"

#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

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

std::string CurrentUserName() {
  const uid_t uid = geteuid();
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr && found->pw_name != nullptr) {
    return found->pw_name;
  }
  return "uid " + std::to_string(uid);
}

}  // namespace hl
