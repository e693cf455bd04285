#include "worker/worker_stats.h"

#include <algorithm>
#include <random>

#include "common/process.h"

namespace hl::worker {
namespace {

uint64_t RandomIncarnation() {
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

// The requests of a probe: the first, then each redirect hop.
template <typename F>
void ForEachRequest(const pb::Observation& observation, F&& f) {
  f(observation.dns(), observation.http());
  for (const pb::Hop& hop : observation.redirects()) f(hop.dns(), hop.http());
}

}  // namespace

WorkerStatsBoard::WorkerStatsBoard(std::string process_name, size_t threads)
    : process_name_(std::move(process_name)),
      incarnation_(RandomIncarnation()) {
  for (size_t i = 0; i < threads; ++i) {
    slots_.push_back(std::make_unique<Slot>());
  }
}

void WorkerStatsBoard::SetLoad(size_t slot, const Prober::Load& load) {
  Slot& s = *slots_.at(slot);
  std::lock_guard lock(s.mu);
  s.figures.load = load;
}

void WorkerStatsBoard::RecordResult(size_t slot,
                                    const pb::Observation& observation,
                                    int64_t probe_ms) {
  Slot& s = *slots_.at(slot);
  std::lock_guard lock(s.mu);
  Figures& f = s.figures;
  ++f.completed;
  if (!observation.error().error_class().empty()) {
    ++f.errors_by_class[observation.error().error_class()];
  }
  ForEachRequest(observation, [&](const pb::DnsObservation&,
                                  const pb::HttpObservation& http) {
    if (http.politeness_wait_us() > 0) {
      ++f.politeness_waits;
      f.politeness_wait_us += http.politeness_wait_us();
    }
  });
  uint32_t slowest_us = 0;
  bool asked = false;
  for (const pb::DnsQuery& query : observation.dns().queries()) {
    if (query.type() != "A" && query.type() != "AAAA") continue;
    asked = true;
    slowest_us = std::max(slowest_us, query.elapsed_us());
  }
  if (asked) f.dns.Record(slowest_us / 1000);
  if (observation.has_http() && !observation.http().method().empty()) {
    f.http.Record(observation.http().elapsed_ms());
  }
  f.probe.Record(probe_ms);
}

pb::WorkerStats WorkerStatsBoard::Report() {
  Figures total;
  for (const auto& slot : slots_) {
    std::lock_guard lock(slot->mu);
    const Figures& f = slot->figures;
    total.load.probes += f.load.probes;
    total.load.dns += f.load.dns;
    total.load.http += f.load.http;
    total.completed += f.completed;
    for (const auto& [error_class, n] : f.errors_by_class) {
      total.errors_by_class[error_class] += n;
    }
    total.politeness_waits += f.politeness_waits;
    total.politeness_wait_us += f.politeness_wait_us;
    total.dns.Merge(f.dns);
    total.http.Merge(f.http);
    total.probe.Merge(f.probe);
  }
  pb::WorkerStats stats;
  stats.set_version(kWorkerStatsVersion);
  stats.set_process_name(process_name_);
  stats.set_incarnation(incarnation_);
  stats.set_sequence(++sequence_);
  stats.set_probes_in_flight(total.load.probes);
  stats.set_dns_in_flight(total.load.dns);
  stats.set_http_in_flight(total.load.http);
  stats.set_completed(total.completed);
  stats.mutable_errors_by_class()->insert(total.errors_by_class.begin(),
                                          total.errors_by_class.end());
  stats.set_politeness_waits(total.politeness_waits);
  stats.set_politeness_wait_us(total.politeness_wait_us);
  total.dns.ToProto("dns", stats.add_stages());
  total.http.ToProto("http", stats.add_stages());
  total.probe.ToProto("probe", stats.add_stages());
  const ProcessUsage usage = CurrentProcessUsage();
  stats.set_resident_bytes(usage.resident_bytes);
  stats.set_threads(usage.threads);
  return stats;
}

}  // namespace hl::worker
