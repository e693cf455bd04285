// The figures a worker process reports to the coordinator with its
// heartbeats (pb::WorkerStats): each thread writes its own slot from its
// loop, and any thread's heartbeat carries the sum over all slots.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/latency_histogram.h"
#include "common/proto/hostlocator.pb.h"
#include "worker/prober.h"

namespace hl::worker {

class WorkerStatsBoard {
 public:
  // `process_name`: the worker's --name; `threads`: the number of slots
  // (one per worker thread).
  WorkerStatsBoard(std::string process_name, size_t threads);

  // Thread `slot`'s load as of now; called on that thread, each tick.
  void SetLoad(size_t slot, const Prober::Load& load);
  // One probe finished on thread `slot`, `probe_ms` after it started.
  void RecordResult(size_t slot, const pb::Observation& observation,
                    int64_t probe_ms);
  // The process's figures: the slots summed, with the next sequence number,
  // the resident set and the thread count. Any thread.
  pb::WorkerStats Report();

 private:
  struct Figures {
    Prober::Load load;
    uint64_t completed = 0;
    std::map<std::string, uint64_t> errors_by_class;
    uint64_t politeness_waits = 0;
    uint64_t politeness_wait_us = 0;
    LatencyHistogram dns;    // the slowest A/AAAA question of the URL
    LatencyHistogram http;   // the first HEAD exchange
    LatencyHistogram probe;  // from receiving the job to its result
  };
  struct Slot {
    std::mutex mu;  // taken by its thread, and by Report
    Figures figures;
  };

  const std::string process_name_;
  const uint64_t incarnation_;
  std::atomic<uint64_t> sequence_{0};
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace hl::worker
