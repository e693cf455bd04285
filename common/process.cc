#include "common/process.h"

#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
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

ProcessUsage CurrentProcessUsage() {
  std::ifstream file("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  // The command name, in parentheses, may hold spaces: fields are counted
  // from the last ')', which ends it; the state is field 3.
  const size_t end_of_name = stat.rfind(')');
  if (end_of_name == std::string::npos) return {};
  std::istringstream fields(stat.substr(end_of_name + 1));
  std::vector<std::string> after(std::istream_iterator<std::string>(fields),
                                 {});
  constexpr size_t kThreads = 20 - 3;  // num_threads, field 20
  constexpr size_t kRss = 24 - 3;      // rss in pages, field 24
  if (after.size() <= kRss) return {};
  ProcessUsage usage;
  usage.threads = static_cast<uint32_t>(std::stoul(after[kThreads]));
  usage.resident_bytes =
      std::stoull(after[kRss]) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return usage;
}

}  // namespace hl
