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
// counted. A peer exists from its READY on: other messages from an unknown
// peer get no answer (a worker the broker forgot falls silent on its side,
// reconnects and registers again), and a RESULT returns credit only for a
// job dispatched to that peer over this connection (results re-sent after a
// reconnection do not inflate the credit; the worker grants the credit of
// such jobs with another READY). Single-threaded: Run owns the socket and the
// store.
//
// Scheduling: jobs are leased in queue (id) order, except that a job whose
// host, registrable domain or known address is at its fleet-wide cap
// (FleetPoliteness, coordinator/scheduler.h) stays queued, parked by the
// store under that cap's key until a lease counted against the key ends
// (Store::LeasePending, Store::WakeParked). Periodic re-checks that fall
// due are queued as the broker serves.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/config.h"
#include "common/latency_histogram.h"
#include "common/proto/hostlocator.pb.h"
#include "common/protocol.h"
#include "common/status.h"
#include "coordinator/scheduler.h"
#include "coordinator/store.h"
#include "coordinator/worker_reports.h"

namespace hl::coordinator {

struct BrokerOptions {
  std::string endpoint;  // e.g. "inproc://hostlocator" or "tcp://*:5555"
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;
  uint32_t lease_timeout_ms = 120000;
  uint32_t max_attempts = 3;
  uint32_t max_jobs_per_message = 64;
  // CURVE server secret key (Z85); empty for plain text. With a key, the
  // context needs a ZAP handler (coordinator/zap.h) to admit workers.
  std::string curve_secret_key;
  PolitenessCaps politeness;  // fleet-wide; all 0: no cap
  // Jobs looked at per lease call beyond what is leased when passing over
  // jobs at a cap.
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

// One connected worker as the broker sees it.
struct WorkerFigures {
  std::string name;
  uint64_t results = 0;    // results stored from this peer
  uint64_t in_flight = 0;  // jobs leased to it now
  int64_t last_seen_ms = 0;
};

// A copy of the broker's figures, safe to read on any thread (the API's
// /metrics). Error classes are the observation's stable error_class values,
// at most kMaxErrorClasses of them; others count under "other".
struct BrokerSnapshot {
  static constexpr size_t kMaxErrorClasses = 64;
  BrokerStats stats;
  std::vector<WorkerFigures> workers;
  std::map<std::string, uint64_t> results_by_status;  // located, error, ...
  std::map<std::string, uint64_t> errors_by_class;
  LatencyHistogram result_latency;  // lease to stored result
  LatencyHistogram http_latency;    // the HEAD exchange (http.elapsed_ms)
  // What worker processes reported in their heartbeats, the latest per
  // process; a process silent for kReportGraceSilences silence windows is
  // dropped. Live (heard within one silence window) per live_window_ms.
  std::vector<ReportedWorker> reported;
  int64_t live_window_ms = 0;
};

// Silence windows (heartbeat interval x liveness) after which a worker
// process's reported figures disappear from /metrics.
inline constexpr int64_t kReportGraceSilences = 12;

// The broker settings of [coordinator] and the fleet politeness caps of
// [politeness] for `endpoint`, without CURVE.
BrokerOptions BrokerOptionsFrom(const Config& config,
                                const std::string& endpoint);

// Called on the broker thread after a result is stored, with the job as
// stored and the observation serialized (an Observation message, as the
// worker sent it and the store wrote it).
using ResultSink =
    std::function<void(const pb::JobRecord&, std::string_view observation)>;

class Broker {
 public:
  Broker(zmq::context_t* context, Store* store, BrokerOptions options,
         Clock clock);

  Status Bind();
  // The endpoint bound, with the port the system chose for "tcp://HOST:*".
  std::string bound_endpoint() const {
    return socket_.get(zmq::sockopt::last_endpoint);
  }
  void set_result_sink(ResultSink sink) { sink_ = std::move(sink); }

  // Serves until `stop` becomes true or, with until_drained, until the store
  // has no pending and no leased job.
  Status Run(const std::atomic<bool>& stop, bool until_drained);
  // Serves without dispatching until every worker has left (its results of
  // the probes under way stored) or until deadline_ms: the clean end of a
  // run whose workers were told to stop.
  Status Drain(int64_t deadline_ms);

  // Tells every worker that the coordinator stops (DISCONNECT with
  // reconnect set: they keep their results and connect again later) and
  // puts their leased jobs back in the queue without counting an attempt.
  Status Farewell(const std::string& reason);

  const BrokerStats& stats() const { return stats_; }
  size_t live_workers() const { return peers_.size(); }
  // The figures as of the broker loop's last turn; thread-safe.
  BrokerSnapshot snapshot() const;

 private:
  struct Peer {
    std::string name;
    uint32_t credit = 0;
    int64_t last_seen_ms = 0;
    std::unordered_set<uint64_t> jobs;  // leased to this peer now
    // Dispatched to this peer, result not yet back: each holds one credit,
    // returned by the peer's RESULT even when the lease moved on meanwhile.
    std::unordered_set<uint64_t> owed;
    uint64_t results = 0;
  };
  struct Lease {
    std::string peer;
    uint32_t attempt = 0;
    int64_t deadline_ms = 0;
    DispatchTarget target;  // as counted by politeness_
  };

  Status Serve(const std::function<bool()>& done, bool dispatch);
  Status HandleMessage(const std::string& peer, std::string_view payload,
                       int64_t now);
  // Results are taken in rounds: those read before the broker next blocks
  // wait in round_ and are stored by FlushResults in one write, before any
  // other message of the round that could end a lease is handled (a
  // DISCONNECT) and before timers run; the credit they returned is leased
  // first (their leases still count against the fleet caps then). A result
  // whose job is not leased at its attempt, also a second one in the same
  // round, is dropped and counted. The observation is stored as the worker
  // serialized it; one whose structure does not hold (SummarizeObservation) is
  // refused like a malformed message, its lease left to expire.
  void HandleResult(pb::SerializedJobResult result);
  Status FlushResults(int64_t now);
  // Leases pending jobs to each peer whose credit reaches its LeaseGroup.
  Status Dispatch(int64_t now);
  // The least credit a peer is leased jobs against: a 32nd of its capacity
  // (credit plus jobs owed), at least 1 and at most max_jobs_per_message.
  // Each lease is a store write and a message whose cost hardly depends on
  // the number of jobs in it; leasing each returned credit at once made
  // about one lease call per 2.4 results (docs/architecture.md,
  // "Scheduling"). A peer short of its group has more than its capacity
  // minus the group in flight, whose results complete the group; a worker
  // of capacity below 64 is leased every credit, as before.
  uint32_t LeaseGroup(const Peer& state) const;
  static constexpr size_t kLeaseGroupShare = 32;
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
  void Send(const std::string& peer, pb::Envelope envelope);
  int64_t NextDeadline(int64_t now) const;
  // Counts a stored result in the figures /metrics shows.
  void RecordResult(const ObservationSummary& observation, int64_t latency_ms);
  // Copies the figures into published_ for snapshot().
  void Publish();

  zmq::socket_t socket_;
  Store* store_;
  BrokerOptions options_;
  Clock clock_;
  ResultSink sink_;
  // A result read and checked, not yet stored.
  struct RoundResult {
    pb::SerializedJobResult result;
    ObservationSummary summary;
  };
  std::vector<RoundResult> round_;
  // Any fleet-wide cap set: without one, dispatch filters nothing and
  // nothing is counted.
  bool fleet_capped_ = false;
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
  BrokerSnapshot figures_;  // results_by_status, errors, latencies
  WorkerReports reports_;
  bool reports_changed_ = false;  // since the last Publish
  mutable std::mutex published_mu_;
  BrokerSnapshot published_;  // guarded by published_mu_
};

}  // namespace hl::coordinator
