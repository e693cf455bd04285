// The worker side of the coordinator protocol: a ZeroMQ DEALER that
// announces its capacity, runs each job it receives through a Prober on one
// of `capacity` probe threads, and returns results, with heartbeats both
// ways. The socket is owned by the thread that calls Run; probe threads hand
// results back over an inproc PUSH/PULL pair.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "worker/prober.h"

namespace hl::worker {

struct WorkerOptions {
  std::string endpoint;   // the coordinator's, e.g. "inproc://hostlocator"
  std::string name;       // shown in coordinator logs and in results
  uint32_t capacity = 8;  // probe threads = concurrent jobs
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;
};

// Makes the Prober of one probe thread.
using ProberFactory = std::function<Result<std::unique_ptr<Prober>>()>;

class Worker {
 public:
  Worker(zmq::context_t* context, WorkerOptions options, ProberFactory factory,
         Clock clock);

  // Serves until `stop` becomes true (then finishes the probes under way and
  // sends their results) or the coordinator refuses this worker (returns
  // kFailedPrecondition with the coordinator's reason). A coordinator that
  // falls silent is reconnected to, and the worker registers again.
  Status Run(const std::atomic<bool>& stop);

 private:
  zmq::context_t* context_;
  WorkerOptions options_;
  ProberFactory factory_;
  Clock clock_;
};

}  // namespace hl::worker
