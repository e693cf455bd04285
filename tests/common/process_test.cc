#include "common/process.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace hl {
namespace {

// The child's findings, as its exit code.
enum ChildResult {
  kChildOk = 0,
  kChildFailed = 10,
  kChildCoreLimit = 11,
  kChildDumpable = 12,
  kChildRaised = 13,
};

int CheckInChild() {
  if (!DisableCoreDumps().ok()) return kChildFailed;
  rlimit limit{};
  if (getrlimit(RLIMIT_CORE, &limit) != 0 || limit.rlim_cur != 0 ||
      limit.rlim_max != 0) {
    return kChildCoreLimit;
  }
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return kChildDumpable;
  // The hard limit cannot be raised back without CAP_SYS_RESOURCE.
  if (geteuid() != 0) {
    const rlimit raised{RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &raised) == 0) return kChildRaised;
  }
  return kChildOk;
}

// In a child process, so that the test binary itself stays dumpable.
TEST(ProcessTest, DisableCoreDumpsSetsLimitAndDumpableFlag) {
  const int parent_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(CheckInChild());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), kChildOk);
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), parent_dumpable);
}

}  // namespace
}  // namespace hl
