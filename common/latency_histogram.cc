#include "common/latency_histogram.h"

#include <algorithm>

namespace hl {

void LatencyHistogram::Record(int64_t ms) {
  ms = std::max<int64_t>(ms, 0);
  for (size_t i = 0; i < kBoundsMs.size(); ++i) {
    if (ms <= kBoundsMs[i]) ++below[i];
  }
  ++count;
  sum_ms += static_cast<uint64_t>(ms);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < below.size(); ++i) below[i] += other.below[i];
  count += other.count;
  sum_ms += other.sum_ms;
}

void LatencyHistogram::ToProto(const std::string& stage,
                               hostlocator::v1::StageLatency* out) const {
  out->set_stage(stage);
  out->mutable_below()->Assign(below.begin(), below.end());
  out->set_count(count);
  out->set_sum_ms(sum_ms);
}

bool LatencyHistogram::FromProto(const hostlocator::v1::StageLatency& in,
                                 LatencyHistogram* out) {
  if (static_cast<size_t>(in.below_size()) != kBoundsMs.size()) return false;
  std::copy(in.below().begin(), in.below().end(), out->below.begin());
  out->count = in.count();
  out->sum_ms = in.sum_ms();
  return true;
}

}  // namespace hl
