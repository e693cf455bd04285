// The coordinator's figures in the Prometheus text exposition format
// (version 0.0.4). Labels carry only fixed words, error classes and worker
// names, never a URL or a probed host name.
#pragma once

#include <cstdint>
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

// `value` escaped for a label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace hl::coordinator
