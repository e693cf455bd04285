// The figures worker processes report with their heartbeats
// (pb::WorkerStats), the latest per process, for /metrics. Pure: time is
// passed in.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/latency_histogram.h"
#include "common/proto/hostlocator.pb.h"

namespace hl::coordinator {

namespace pb = ::hostlocator::v1;

// One worker process as its last report described it.
struct ReportedWorker {
  std::string name;  // the process's --name
  int64_t heard_ms = 0;
  uint64_t probes_in_flight = 0;
  uint64_t dns_in_flight = 0;
  uint64_t http_in_flight = 0;
  uint64_t completed = 0;
  std::map<std::string, uint64_t> errors_by_class;  // bounded, see Update
  uint64_t politeness_waits = 0;
  uint64_t politeness_wait_us = 0;
  std::map<std::string, LatencyHistogram> stages;  // "dns", "http", "probe"
  uint64_t resident_bytes = 0;
  uint32_t threads = 0;
};

class WorkerReports {
 public:
  // At most this many processes and error classes per process are kept
  // (further classes count under "other"), so that a misbehaving worker
  // cannot grow the coordinator's memory or the scrape.
  static constexpr size_t kMaxWorkers = 4096;
  static constexpr size_t kMaxErrorClasses = 64;

  // A process not heard from for `grace_ms` is forgotten.
  explicit WorkerReports(int64_t grace_ms) : grace_ms_(grace_ms) {}

  // Keeps `stats` as its process's latest report. Ignored (false): another
  // version than kWorkerStatsVersion, no name, a report older (lower
  // sequence) than the kept one of the same incarnation, or a new process
  // beyond kMaxWorkers. A new incarnation replaces the old one.
  bool Update(const pb::WorkerStats& stats, int64_t now_ms);
  // Forgets the processes silent for longer than the grace period.
  void Expire(int64_t now_ms);
  // The kept processes, by name.
  std::vector<ReportedWorker> Current() const;

 private:
  struct Kept {
    uint64_t incarnation = 0;
    uint64_t sequence = 0;
    ReportedWorker figures;
  };
  int64_t grace_ms_;
  std::map<std::string, Kept> workers_;
};

}  // namespace hl::coordinator
