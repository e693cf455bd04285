// The coordinator's side of the worker protocol: a ZeroMQ ROUTER that hands
// pending jobs to workers with credit, takes results into the store, and
// re-queues the jobs of silent workers and expired leases.
//
// Protocol (DESIGN.md): a worker announces READY(capacity), which grants
// that much credit; JOBS are sent only against credit; each RESULT returns
// one credit. Any message counts as life; a peer silent for
// heartbeat_interval x heartbeat_liveness is dead and its leased jobs go
// back to the queue. A lease also expires after lease_timeout. A job whose
// attempts reach max_attempts goes to DEAD. Results are idempotent: a result
// for a job that is not currently leased at that attempt is dropped and
// counted. Single-threaded: Run owns the socket and the store.
//
// Scheduling: jobs are leased in queue (id) order, except that a job whose
// host, registrable domain or known address is at its fleet-wide cap
// (FleetPoliteness, coordinator/scheduler.h) stays queued while up to
// politeness_look_ahead jobs behind it are considered. Periodic re-checks
// that fall due are queued as the broker serves.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "coordinator/scheduler.h"
#include "coordinator/store.h"

namespace hl::coordinator {

struct BrokerOptions {
  std::string endpoint;  // e.g. "inproc://hostlocator" or "tcp://*:5555"
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;
  uint32_t lease_timeout_ms = 120000;
  uint32_t max_attempts = 3;
  uint32_t max_jobs_per_message = 64;
  PolitenessCaps politeness;  // fleet-wide; all 0: no cap
  // Queue entries looked at beyond what is leased when passing over jobs at
  // a cap.
  uint32_t politeness_look_ahead = 4096;
};

struct BrokerStats {
  uint64_t dispatched = 0;
  uint64_t results = 0;
  uint64_t duplicate_results = 0;  // late or repeated, dropped
  uint64_t requeued = 0;
  uint64_t dead_lettered = 0;
  uint64_t workers_lost = 0;
  uint64_t refused_messages = 0;  // malformed, oversized, wrong version
  uint64_t rechecks_queued = 0;   // periodic re-checks that fell due
};

// Called on the broker thread after a result is stored.
using ResultSink =
    std::function<void(const pb::JobRecord&, const pb::Observation&)>;

class Broker {
 public:
  Broker(zmq::context_t* context, Store* store, BrokerOptions options,
         Clock clock);

  Status Bind();
  void set_result_sink(ResultSink sink) { sink_ = std::move(sink); }

  // Serves until `stop` becomes true or, with until_drained, until the store
  // has no pending and no leased job.
  Status Run(const std::atomic<bool>& stop, bool until_drained);
  // Serves without dispatching until every worker has left (its results of
  // the probes under way stored) or until deadline_ms: the clean end of a
  // run whose workers were told to stop.
  Status Drain(int64_t deadline_ms);

  const BrokerStats& stats() const { return stats_; }
  size_t live_workers() const { return peers_.size(); }

 private:
  struct Peer {
    std::string name;
    uint32_t credit = 0;
    int64_t last_seen_ms = 0;
    std::unordered_set<uint64_t> jobs;
  };
  struct Lease {
    std::string peer;
    uint32_t attempt = 0;
    int64_t deadline_ms = 0;
    DispatchTarget target;  // as counted by politeness_
  };

  Status Serve(const std::function<bool()>& done, bool dispatch);
  Status HandleMessage(const std::string& peer, const std::string& payload,
                       int64_t now);
  Status HandleResult(const pb::JobResult& result, int64_t now);
  Status Dispatch(int64_t now);
  // Forgets the lease of `job_id` (its peer's share, deadline and politeness
  // count); false when there is none.
  bool EndLease(uint64_t job_id);
  Status ExpireLeases(int64_t now);
  Status ReapSilentPeers(int64_t now);
  // Ends a lease and re-queues the job. A job a worker hands back when it
  // leaves was possibly never started: that costs no attempt (count_attempt
  // false); a lost worker or an expired lease does, so a job that kills
  // workers ends in DEAD.
  Status Release(uint64_t job_id, const std::string& why, bool count_attempt,
                 int64_t now);
  void Send(const std::string& peer, const pb::Envelope& envelope);
  int64_t NextDeadline(int64_t now) const;

  zmq::socket_t socket_;
  Store* store_;
  BrokerOptions options_;
  Clock clock_;
  ResultSink sink_;
  std::map<std::string, Peer> peers_;  // by ZeroMQ routing id
  std::unordered_map<uint64_t, Lease> leases_;
  // (deadline, job id) of every lease, earliest first.
  std::set<std::pair<int64_t, uint64_t>> lease_deadlines_;
  FleetPoliteness politeness_;
  // Set when a dispatch passed over jobs at a cap and found nothing more to
  // lease, with the pending count then: the queue is not scanned again until
  // a lease ends (freeing a slot) or the pending count changes.
  bool held_by_caps_ = false;
  uint64_t pending_when_held_ = 0;
  int64_t next_heartbeat_ms_ = 0;
  BrokerStats stats_;
};

}  // namespace hl::coordinator
