// The worker side of the coordinator protocol: a ZeroMQ DEALER that
// announces its capacity and runs every job it receives through one
// Prober, all on one EventLoop (the DEALER through its ZMQ_FD), with
// heartbeats both ways (a worker's every heartbeat interval, carrying its
// process's figures when it has a WorkerStatsBoard). One Worker per thread;
// `hostlocator run --threads N` starts N of them.
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
#include "worker/worker_stats.h"

namespace hl::worker {

struct WorkerOptions {
  std::string endpoint;      // the coordinator's, e.g. "inproc://hostlocator"
  std::string name;          // shown in coordinator logs and in results
  uint32_t capacity = 1000;  // jobs probed at once
  // Jobs asked for ahead, beyond `capacity`, and queued until a probe ends,
  // so that the next job starts at once rather than a round trip to the
  // coordinator later: what this thread completes in lease_ahead_ms at its
  // recent rate (LeaseAheadJobs). 0: none, the credit is the capacity.
  uint32_t lease_ahead_ms = 0;
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;
  // Reconnecting after the coordinator fell silent or said it stops: the
  // n-th attempt in a row waits ReconnectDelayMs(n, ...).
  uint32_t reconnect_base_ms = 100;
  uint32_t reconnect_max_ms = 10000;
  // Results sent stay for a resend after a reconnection while they are
  // younger than the silence window, and at most this many bytes of them
  // (the newest): a result a lost coordinator never stored comes back when
  // its lease expires, so the bound costs a probe, never a result.
  size_t max_retained_result_bytes = 8 << 20;
  // How long stopping may wait for the probes under way; 0 waits for all.
  uint32_t drain_timeout_ms = 0;
  // CURVE (Z85 keys, common/curve.h): this worker's pair and the
  // coordinator's public key; all empty for a plain-text link.
  std::string curve_public_key;
  std::string curve_secret_key;
  std::string curve_server_key;
  // The process's figures, reported with every heartbeat (and this thread's
  // slot in it); none: heartbeats carry no figures.
  WorkerStatsBoard* stats = nullptr;
  size_t stats_slot = 0;
};

// Exponential backoff with equal jitter: the n-th reconnection in a row
// (n from 0) waits between half and all of min(max_ms, base_ms x 2^n);
// `unit` in [0, 1) picks the point. Pure.
int64_t ReconnectDelayMs(uint32_t attempt, uint32_t base_ms, uint32_t max_ms,
                         double unit);

// The jobs a worker asks for beyond its `capacity`: those it completes in
// `ahead_ms` at the rate of `completed` jobs in `window_ms`, rounded up, at
// most `capacity` (so a queued job starts within one probe's time: a
// probe's deadline is shorter than a lease). 0 without completions or
// without a window. Pure.
uint32_t LeaseAheadJobs(uint64_t completed, int64_t window_ms,
                        uint32_t ahead_ms, uint32_t capacity);

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
  // the probes under way, within drain_timeout_ms, and sends their results;
  // jobs queued or arriving after are not started and go back to the queue
  // when the coordinator hears the goodbye) or the coordinator refuses this
  // worker or speaks another protocol version (returns kFailedPrecondition
  // with the reason, naming both versions). A coordinator that falls
  // silent for heartbeat_interval x liveness, or says it stops, is
  // reconnected to with backoff and the worker registers again (READY with
  // its free capacity and lease-ahead; the jobs it had queued are dropped,
  // the coordinator re-queues them with that connection's leases); results
  // finished while it was away, and those sent in the last silence window (they
  // may have been lost), are sent after reconnecting: the coordinator drops
  // those whose lease moved on.
  Status Run(const std::atomic<bool>& stop);

 private:
  zmq::context_t* context_;
  WorkerOptions options_;
  ProberFactory factory_;
  Clock clock_;
};

}  // namespace hl::worker
