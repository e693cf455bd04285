// The worker side of the coordinator protocol: a ZeroMQ DEALER that
// announces its capacity and runs every job it receives through one
// Prober, all on one EventLoop (the DEALER through its ZMQ_FD), with
// heartbeats both ways. One Worker per thread; `hostlocator run --threads
// N` starts N of them.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "worker/event_loop.h"
#include "worker/prober.h"

namespace hl::worker {

struct WorkerOptions {
  std::string endpoint;      // the coordinator's, e.g. "inproc://hostlocator"
  std::string name;          // shown in coordinator logs and in results
  uint32_t capacity = 1000;  // jobs in flight at once (the credit)
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;
};

// Makes the Prober of one worker thread, on that thread's loop.
using ProberFactory =
    std::function<Result<std::unique_ptr<Prober>>(EventLoop* loop)>;

class Worker {
 public:
  // `clock` times heartbeats and the coordinator's silence: a monotonic
  // clock (SteadyClockMs), so that a step of the wall clock neither
  // silences the worker nor makes it reconnect.
  Worker(zmq::context_t* context, WorkerOptions options, ProberFactory factory,
         Clock clock);

  // Serves on the calling thread until `stop` becomes true (then finishes
  // the probes under way and sends their results; jobs that arrive after
  // are not started and go back to the queue when the coordinator hears
  // the goodbye) or the coordinator refuses this worker (returns
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
