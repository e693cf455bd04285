// A latency histogram with fixed buckets, shared by the coordinator's own
// figures and the ones workers report in their heartbeats (WorkerStats).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/proto/hostlocator.pb.h"

namespace hl {

// The version of WorkerStats this build writes and reads. Bumped when a
// field's meaning changes (e.g. other histogram bounds).
inline constexpr uint32_t kWorkerStatsVersion = 1;

// Upper bounds in milliseconds, and a last, implicit +Inf bucket;
// cumulative, as Prometheus exposes it.
struct LatencyHistogram {
  static constexpr std::array<int64_t, 10> kBoundsMs = {
      10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
  std::array<uint64_t, kBoundsMs.size()> below{};  // observations <= bound
  uint64_t count = 0;
  uint64_t sum_ms = 0;

  void Record(int64_t ms);
  // Adds another histogram's observations.
  void Merge(const LatencyHistogram& other);
  void ToProto(const std::string& stage,
               hostlocator::v1::StageLatency* out) const;
  // False (and *out untouched) when `in` has another number of buckets.
  static bool FromProto(const hostlocator::v1::StageLatency& in,
                        LatencyHistogram* out);
};

}  // namespace hl
