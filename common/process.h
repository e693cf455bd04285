// Process-wide protections set once at start-up.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace hl {

// Keeps the process's memory (configuration, keys, reported URLs) out of
// core files and away from other processes of the same user: RLIMIT_CORE
// soft and hard 0 (inherited by children, cannot be raised again without
// privilege) and PR_SET_DUMPABLE 0 (no core, no ptrace attach by non-root;
// /proc/PID becomes owned by root, its world-readable files such as
// status, limits, stat and cmdline stay readable). kInternal naming the
// call that failed.
Status DisableCoreDumps();

// The login name of the effective user ("uid N" when it has none): who
// submitted a batch from the command line, for the batch record.
std::string CurrentUserName();

struct ProcessUsage {
  uint64_t resident_bytes = 0;
  uint32_t threads = 0;
};
// This process's resident set and thread count (/proc/self/stat); zeros
// when it cannot be read.
ProcessUsage CurrentProcessUsage();

}  // namespace hl
