// Applies coordinator.retention_days on its own: the coordinator daemon
// purges what is older than the retention every kPurgePeriodMs, and
// `hostlocator run` once at start. Each purge is recorded in the audit log
// (actor "coordinator") and logged with its counts, never a URL.
#pragma once

#include <cstdint>
#include <optional>

#include "common/clock.h"
#include "common/status.h"
#include "coordinator/store.h"

namespace hl::coordinator {

class RetentionSchedule {
 public:
  static constexpr int64_t kPurgePeriodMs = 3600 * 1000;

  // `retention_days` (coordinator.retention_days) 0: never purges.
  RetentionSchedule(Store* store, uint32_t retention_days, Clock clock,
                    int64_t period_ms = kPurgePeriodMs);

  bool enabled() const { return retention_ms_ > 0; }
  // Purges what is older than the retention when a purge is due (the first
  // call always is; then one period after the last), and returns its
  // counts; nullopt when none was due or retention is off.
  Result<std::optional<PurgeCounts>> RunIfDue();
  // When the next purge is due (clock time); INT64_MAX when retention is off.
  int64_t next_due_ms() const { return next_due_ms_; }

 private:
  Store* store_;
  int64_t retention_ms_;
  Clock clock_;
  int64_t period_ms_;
  int64_t next_due_ms_;
};

}  // namespace hl::coordinator
