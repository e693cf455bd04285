#include "coordinator/worker_reports.h"

#include "coordinator/metrics.h"

namespace hl::coordinator {

bool WorkerReports::Update(const pb::WorkerStats& stats, int64_t now_ms) {
  if (stats.version() != kWorkerStatsVersion || stats.process_name().empty()) {
    return false;
  }
  auto it = workers_.find(stats.process_name());
  if (it == workers_.end()) {
    if (workers_.size() >= kMaxWorkers) return false;
    it = workers_.try_emplace(stats.process_name()).first;
  } else if (it->second.incarnation == stats.incarnation() &&
             it->second.sequence >= stats.sequence()) {
    return false;
  }
  Kept& kept = it->second;
  kept.incarnation = stats.incarnation();
  kept.sequence = stats.sequence();
  ReportedWorker& f = kept.figures;
  f = ReportedWorker{};
  f.name = stats.process_name();
  f.heard_ms = now_ms;
  f.probes_in_flight = stats.probes_in_flight();
  f.dns_in_flight = stats.dns_in_flight();
  f.http_in_flight = stats.http_in_flight();
  f.completed = stats.completed();
  for (const auto& [error_class, n] : stats.errors_by_class()) {
    CountBounded(f.errors_by_class, error_class, n, kMaxErrorClasses);
  }
  f.politeness_waits = stats.politeness_waits();
  f.politeness_wait_us = stats.politeness_wait_us();
  for (const pb::StageLatency& stage : stats.stages()) {
    if (stage.stage() != "dns" && stage.stage() != "http" &&
        stage.stage() != "probe") {
      continue;
    }
    LatencyHistogram histogram;
    if (LatencyHistogram::FromProto(stage, &histogram)) {
      f.stages[stage.stage()] = histogram;
    }
  }
  f.resident_bytes = stats.resident_bytes();
  f.threads = stats.threads();
  return true;
}

void WorkerReports::Expire(int64_t now_ms) {
  std::erase_if(workers_, [&](const auto& entry) {
    return now_ms - entry.second.figures.heard_ms > grace_ms_;
  });
}

std::vector<ReportedWorker> WorkerReports::Current() const {
  std::vector<ReportedWorker> out;
  out.reserve(workers_.size());
  for (const auto& [name, kept] : workers_) out.push_back(kept.figures);
  return out;
}

}  // namespace hl::coordinator
