// The coordinator's figures in the Prometheus text exposition format
// (version 0.0.4). Labels carry only fixed words, error classes and worker
// names, never a URL or a probed host name.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "coordinator/broker.h"

namespace hl::coordinator {

struct MetricsInput {
  uint64_t queue_depth = 0;  // pending jobs
  uint64_t in_flight = 0;    // leased jobs
  uint64_t store_bytes = 0;  // the data folder's size on disk
  BrokerSnapshot broker;
  int64_t now_ms = 0;  // for the workers' time since last heard
};

std::string FormatMetrics(const MetricsInput& input);

// Adds n to counts[key]. A key that is not plain ([a-z0-9_]+), or that
// would be the (max_keys + 1)-th, counts under "other": label values stay
// few and safe whatever a result or a worker says.
void CountBounded(std::map<std::string, uint64_t>& counts,
                  const std::string& key, uint64_t n, size_t max_keys);

// `value` escaped for a label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace hl::coordinator
