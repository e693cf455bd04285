#include "coordinator/retention.h"

#include <spdlog/spdlog.h>

#include <limits>

namespace hl::coordinator {
namespace {

constexpr int64_t kDayMs = 86400 * 1000;

}  // namespace

RetentionSchedule::RetentionSchedule(Store* store, uint32_t retention_days,
                                     Clock clock, int64_t period_ms)
    : store_(store),
      retention_ms_(int64_t{retention_days} * kDayMs),
      clock_(std::move(clock)),
      period_ms_(period_ms),
      next_due_ms_(retention_days > 0 ? std::numeric_limits<int64_t>::min()
                                      : std::numeric_limits<int64_t>::max()) {}

Result<std::optional<PurgeCounts>> RetentionSchedule::RunIfDue() {
  const int64_t now = clock_();
  if (!enabled() || now < next_due_ms_) {
    return std::optional<PurgeCounts>();
  }
  next_due_ms_ = now + period_ms_;
  auto counts =
      store_->Purge(now - retention_ms_, /*dry_run=*/false, "coordinator", now);
  if (!counts.ok()) return counts.status();
  spdlog::info(
      "retention: purged {} batches, {} lines, {} results, {} URLs older "
      "than {} days",
      counts->runs, counts->lines, counts->results, counts->jobs,
      retention_ms_ / kDayMs);
  return std::optional<PurgeCounts>(*counts);
}

}  // namespace hl::coordinator
