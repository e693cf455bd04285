#include "worker/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <zmq_addon.hpp>

#include "common/curve.h"
#include "common/protocol.h"

namespace hl::worker {
namespace {

// How often the loop looks at the stop flag, the heartbeat clock and the
// coordinator's silence.
constexpr int64_t kTickMs = 100;
// How often the completion rate behind the lease-ahead is measured.
constexpr int64_t kRateWindowMs = 500;

pb::Envelope ReadyMessage(const std::string& name, uint32_t capacity) {
  pb::Envelope ready;
  ready.mutable_ready()->set_worker_name(name);
  ready.mutable_ready()->set_capacity(capacity);
  return ready;
}

// The session with the coordinator on one loop. Every member runs on the
// loop's thread.
class Session {
 public:
  Session(zmq::context_t* context, const WorkerOptions& options, Clock clock,
          EventLoop* loop, Prober* prober)
      : context_(context),
        options_(options),
        clock_(std::move(clock)),
        loop_(loop),
        prober_(prober),
        random_(std::random_device{}()) {}

  Status Serve(const std::atomic<bool>& stop) {
    if (Status s = Connect(); !s.ok()) return s;
    Tick(stop);
    while (outcome_.ok() && (!draining_ || in_flight_ > 0) && !drain_expired_) {
      if (Status s = loop_->RunOnce(-1); !s.ok()) return s;
    }
    loop_->Cancel(tick_timer_);
    loop_->Cancel(reconnect_timer_);
    if (outcome_.ok() && dealer_) {
      pb::Envelope bye;
      bye.mutable_disconnect()->set_reason("worker stopping");
      SendBytes(EncodeEnvelope(bye));
    }
    Disconnect();
    return outcome_;
  }

 private:
  void ForgetOldestResult() {
    retained_bytes_ -= recent_results_.front().second.size();
    recent_results_.pop_front();
  }

  int64_t Silence() const {
    return int64_t{options_.heartbeat_interval_ms} *
           options_.heartbeat_liveness;
  }

  // A new DEALER, registered with READY for the free capacity, then the
  // results that may not have reached the previous connection.
  Status Connect() {
    ++generation_;
    try {
      dealer_.emplace(*context_, zmq::socket_type::dealer);
      dealer_->set(zmq::sockopt::linger, 0);
      dealer_->set(zmq::sockopt::maxmsgsize,
                   static_cast<int64_t>(kMaxMessageBytes));
      // Results are bounded by the credit; never block the loop on them.
      dealer_->set(zmq::sockopt::sndhwm, 0);
      if (!options_.curve_secret_key.empty()) {
        dealer_->set(zmq::sockopt::curve_serverkey, options_.curve_server_key);
        dealer_->set(zmq::sockopt::curve_publickey, options_.curve_public_key);
        dealer_->set(zmq::sockopt::curve_secretkey, options_.curve_secret_key);
      }
      if (!options_.curve_secret_key.empty()) WatchHandshake();
      dealer_->connect(options_.endpoint);
      fd_ = dealer_->get(zmq::sockopt::fd);
    } catch (const zmq::error_t& e) {
      dealer_.reset();
      return InvalidArgument("worker " + options_.name +
                             " cannot connect to the coordinator at \"" +
                             options_.endpoint + "\": " + e.what());
    }
    HL_RETURN_IF_ERROR(loop_->Watch(fd_, EventLoop::kRead,
                                    [this](uint32_t) { ReadMessages(); }));
    last_heard_ = clock_();
    // Jobs queued on the previous connection were never started: its
    // leases end when the coordinator drops that connection.
    queued_.clear();
    const uint64_t window = uint64_t{options_.capacity} + ahead_;
    const uint64_t idle = window > in_flight_ ? window - in_flight_ : 0;
    SendBytes(EncodeEnvelope(ReadyMessage(
        options_.name, draining_ ? 0 : static_cast<uint32_t>(idle))));
    const int64_t now = clock_();
    std::vector<std::string_view> resend;
    resend.reserve(recent_results_.size());
    for (auto& [sent_ms, bytes] : recent_results_) {
      sent_ms = now;
      resend.push_back(bytes);
    }
    for (std::string& batch : EncodeResultBatches(resend)) {
      SendBytes(std::move(batch));
    }
    return Status::Ok();
  }

  // With CURVE, a refused key shows only in the socket's events: a monitor
  // turns ZMQ_EVENT_HANDSHAKE_FAILED_AUTH into the worker's end.
  void WatchHandshake() {
    const std::string endpoint =
        "inproc://hl-worker-handshake-" +
        std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" +
        std::to_string(generation_);
    if (zmq_socket_monitor(dealer_->handle(), endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
      throw zmq::error_t();
    }
    monitor_.emplace(*context_, zmq::socket_type::pair);
    monitor_->set(zmq::sockopt::linger, 0);
    monitor_->connect(endpoint);
    monitor_fd_ = monitor_->get(zmq::sockopt::fd);
    if (Status s = loop_->Watch(monitor_fd_, EventLoop::kRead,
                                [this](uint32_t) { ReadHandshakeEvents(); });
        !s.ok()) {
      outcome_ = s;
    }
  }

  void ReadHandshakeEvents() {
    try {
      while (outcome_.ok() && monitor_ &&
             (monitor_->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0) {
        std::vector<zmq::message_t> event;
        if (!zmq::recv_multipart(*monitor_, std::back_inserter(event),
                                 zmq::recv_flags::dontwait)) {
          break;
        }
        uint16_t id = 0;
        if (event.empty() || event[0].size() < sizeof(id)) continue;
        std::memcpy(&id, event[0].data(), sizeof(id));
        if (id != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) continue;
        outcome_ = FailedPrecondition(
            "the coordinator at " + options_.endpoint +
            " refused this worker's CURVE key (fingerprint " +
            KeyFingerprint(options_.curve_public_key) +
            "): add its .pub file to the coordinator's "
            "coordinator.authorized_keys");
      }
    } catch (const zmq::error_t& e) {
      Fail(e);
    }
  }

  void Disconnect() {
    if (monitor_) {
      loop_->Unwatch(monitor_fd_);
      zmq_socket_monitor(dealer_->handle(), nullptr, 0);
      monitor_.reset();
      monitor_fd_ = -1;
    }
    if (!dealer_) return;
    loop_->Unwatch(fd_);
    dealer_.reset();
    fd_ = -1;
  }

  // Drops the connection and connects again after the backoff.
  void ScheduleReconnect() {
    Disconnect();
    const int64_t delay =
        ReconnectDelayMs(reconnect_failures_++, options_.reconnect_base_ms,
                         options_.reconnect_max_ms,
                         std::uniform_real_distribution<double>(0, 1)(random_));
    spdlog::info("worker {}: connecting again in {} ms", options_.name, delay);
    reconnect_timer_ = loop_->After(delay, [this] {
      reconnect_timer_ = 0;
      if (Status s = Connect(); !s.ok()) outcome_ = s;
    });
  }

  void Send(const pb::Envelope& envelope) {
    SendBytes(EncodeEnvelope(envelope));
  }

  // Hands `bytes` to ZeroMQ without copying them: the message owns them
  // until ZeroMQ has passed them on (a batch of results is tens of KB).
  void SendBytes(std::string bytes) {
    if (!outcome_.ok() || !dealer_) return;
    try {
      auto owned = std::make_unique<std::string>(std::move(bytes));
      zmq::message_t message(
          owned->data(), owned->size(),
          [](void* /*data*/, void* hint) {
            delete static_cast<std::string*>(hint);
          },
          owned.get());
      owned.release();
      // No peer to queue for (refused handshake): results stay in
      // recent_results_, anything else is not worth keeping.
      if (!dealer_->send(message, zmq::send_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      Fail(e);
      return;
    }
    // ZMQ_FD signals edges: a message that arrived during the send may not
    // wake the loop again, so look now.
    if (!read_pending_) {
      read_pending_ = true;
      loop_->Defer([this] {
        read_pending_ = false;
        ReadMessages();
      });
    }
  }

  void Fail(const zmq::error_t& e) {
    outcome_ = Internal("worker " + options_.name +
                        ": messaging with the coordinator failed: " + e.what());
  }

  void ReadMessages() {
    try {
      while (outcome_.ok() && dealer_ &&
             (dealer_->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0) {
        zmq::message_t message;
        if (!dealer_->recv(message, zmq::recv_flags::dontwait)) break;
        last_heard_ = clock_();
        reconnect_failures_ = 0;
        Handle(message.to_string_view());
      }
    } catch (const zmq::error_t& e) {
      Fail(e);
    }
  }

  void Handle(std::string_view bytes) {
    auto envelope = DecodeEnvelope(bytes);
    if (!envelope.ok()) {
      if (envelope.status().code() == StatusCode::kFailedPrecondition) {
        outcome_ =
            FailedPrecondition("the coordinator at " + options_.endpoint +
                               " cannot serve worker " + options_.name + ": " +
                               envelope.status().message());
        return;
      }
      spdlog::warn("worker {}: ignored a coordinator message: {}",
                   options_.name, envelope.status().message());
      return;
    }
    if (envelope->has_jobs()) {
      // While draining, jobs are not started (and not counted, or
      // in_flight_ would never reach 0).
      if (draining_) return;
      for (pb::Job& job : *envelope->mutable_jobs()->mutable_jobs()) {
        queued_.push_back(std::move(job));
      }
      StartQueued();
    } else if (envelope->has_heartbeat()) {
      const uint32_t pace = envelope->heartbeat().interval_ms();
      heartbeat_ms_ = pace > 0 ? std::min(pace, options_.heartbeat_interval_ms)
                               : options_.heartbeat_interval_ms;
    } else if (envelope->has_disconnect()) {
      if (envelope->disconnect().reconnect()) {
        spdlog::info("worker {}: the coordinator is stopping: {}",
                     options_.name, envelope->disconnect().reason());
        coordinator_left_ = true;
        return;
      }
      outcome_ =
          FailedPrecondition("the coordinator refused worker " + options_.name +
                             ": " + envelope->disconnect().reason());
    }
  }

  // Starts queued jobs while fewer than `capacity` probes are under way.
  void StartQueued() {
    while (!draining_ && in_flight_ < options_.capacity && !queued_.empty()) {
      pb::Job job = std::move(queued_.front());
      queued_.pop_front();
      Start(job);
    }
  }

  void Start(const pb::Job& job) {
    ++in_flight_;
    prober_->Probe(
        job.url(), job.context(),
        [this, job_id = job.job_id(), attempt = job.attempt(),
         generation = generation_, started = clock_()](pb::Observation&& obs) {
          if (options_.stats != nullptr) {
            options_.stats->RecordResult(options_.stats_slot, obs,
                                         clock_() - started);
          }
          --in_flight_;
          ++completed_;
          Post(EncodeResult(job_id, attempt, obs, prober_->data_sources()));
          // A job of an earlier connection: this connection's READY did
          // not count its credit, so grant it now, after its result.
          if (generation != generation_ && dealer_ && !draining_) {
            SendResults();
            Send(ReadyMessage(options_.name, 1));
          }
          StartQueued();
        });
  }

  // Queues a result for the RESULTS message that leaves at the end of this
  // loop turn, with every other result the turn finished.
  void Post(std::string result) {
    if (outbox_.empty()) loop_->Defer([this] { SendResults(); });
    outbox_.push_back(std::move(result));
  }

  // Sends the results posted (in as few RESULTS messages as the size bound
  // allows) and retains them for a resend after a reconnection. Without a
  // connection they are only retained: the next one sends them. Nothing to
  // do without results posted.
  void SendResults() {
    std::vector<std::string_view> results(outbox_.begin(), outbox_.end());
    for (std::string& batch : EncodeResultBatches(results)) {
      SendBytes(std::move(batch));
    }
    const int64_t now = clock_();
    for (std::string& result : outbox_) {
      retained_bytes_ += result.size();
      recent_results_.emplace_back(now, std::move(result));
    }
    outbox_.clear();
    while (retained_bytes_ > options_.max_retained_result_bytes &&
           recent_results_.size() > 1) {
      ForgetOldestResult();
    }
  }

  // Every kRateWindowMs, raises the jobs asked for ahead to what the last
  // window's completions call for (LeaseAheadJobs) with a READY for the
  // difference. Never lowers them: credit given cannot be taken back.
  void GrowLeaseAhead(int64_t now) {
    if (options_.lease_ahead_ms == 0 || now - window_started_ < kRateWindowMs) {
      return;
    }
    const uint32_t want = LeaseAheadJobs(
        completed_ - completed_before_window_, now - window_started_,
        options_.lease_ahead_ms, options_.capacity);
    window_started_ = now;
    completed_before_window_ = completed_;
    if (draining_ || want <= ahead_) return;
    const uint32_t more = want - ahead_;
    ahead_ = want;
    // Without a connection, the next READY counts it.
    if (dealer_) Send(ReadyMessage(options_.name, more));
  }

  void Tick(const std::atomic<bool>& stop) {
    tick_timer_ = loop_->After(kTickMs, [this, &stop] { Tick(stop); });
    const int64_t now = clock_();
    if (!draining_ && stop.load()) {
      draining_ = true;
      drain_started_ = now;
      queued_.clear();
    }
    if (draining_ && options_.drain_timeout_ms > 0 &&
        now - drain_started_ >= options_.drain_timeout_ms) {
      spdlog::warn("worker {}: {} probes still under way after {} ms; leaving",
                   options_.name, in_flight_, options_.drain_timeout_ms);
      drain_expired_ = true;
      return;
    }
    if (!dealer_) return;  // a reconnection is scheduled
    ReadHandshakeEvents();
    // Results older than a silence window reached a coordinator that was
    // still talking afterwards.
    while (!recent_results_.empty() &&
           recent_results_.front().first < last_heard_ - Silence()) {
      ForgetOldestResult();
    }
    if (options_.stats != nullptr) {
      options_.stats->SetLoad(options_.stats_slot, prober_->load());
    }
    GrowLeaseAhead(now);
    if (now - last_heartbeat_ >= heartbeat_ms_) {
      pb::Envelope heartbeat;
      if (options_.stats != nullptr) {
        *heartbeat.mutable_heartbeat()->mutable_stats() =
            options_.stats->Report();
      } else {
        heartbeat.mutable_heartbeat();
      }
      Send(heartbeat);
      last_heartbeat_ = now;
    }
    if (!draining_ && (coordinator_left_ || now - last_heard_ > Silence())) {
      if (!coordinator_left_) {
        spdlog::warn("worker {}: coordinator silent for {} ms, reconnecting",
                     options_.name, now - last_heard_);
      }
      coordinator_left_ = false;
      ScheduleReconnect();
      return;
    }
    ReadMessages();
  }

  zmq::context_t* context_;
  const WorkerOptions& options_;
  Clock clock_;
  EventLoop* loop_;
  Prober* prober_;
  std::minstd_rand random_;
  std::optional<zmq::socket_t> dealer_;  // empty while reconnecting
  int fd_ = -1;
  std::optional<zmq::socket_t> monitor_;  // the dealer's handshake events
  int monitor_fd_ = -1;
  uint64_t generation_ = 0;  // connections made, the current one's number
  EventLoop::TimerId tick_timer_ = 0;
  EventLoop::TimerId reconnect_timer_ = 0;
  // The coordinator's pace when shorter than ours (its HEARTBEAT says).
  uint32_t heartbeat_ms_ = options_.heartbeat_interval_ms;
  uint32_t reconnect_failures_ = 0;  // in a row, reset by any message
  bool read_pending_ = false;
  bool coordinator_left_ = false;  // it said it stops
  uint64_t in_flight_ = 0;         // started, result not yet sent
  // Received on this connection, not yet started (at most `capacity`
  // probes run at once).
  std::deque<pb::Job> queued_;
  uint32_t ahead_ = 0;  // credit asked for beyond `capacity`
  uint64_t completed_ = 0;
  // The completion rate's current window.
  int64_t window_started_ = 0;
  uint64_t completed_before_window_ = 0;
  bool draining_ = false;
  int64_t drain_started_ = 0;
  bool drain_expired_ = false;
  int64_t last_heard_ = 0;
  int64_t last_heartbeat_ = 0;  // sent every heartbeat_ms_, busy or not
  // Results finished in this loop turn (EncodeResult), sent at its end.
  std::vector<std::string> outbox_;
  // (time sent, EncodeResult) of results that may not have arrived.
  std::deque<std::pair<int64_t, std::string>> recent_results_;
  size_t retained_bytes_ = 0;  // of recent_results_
  Status outcome_;
};

}  // namespace

int64_t ReconnectDelayMs(uint32_t attempt, uint32_t base_ms, uint32_t max_ms,
                         double unit) {
  const int64_t ceiling = std::min<int64_t>(
      max_ms, int64_t{base_ms} << std::min<uint32_t>(attempt, 30));
  const int64_t half = ceiling / 2;
  return half + static_cast<int64_t>((ceiling - half) * unit);
}

uint32_t LeaseAheadJobs(uint64_t completed, int64_t window_ms,
                        uint32_t ahead_ms, uint32_t capacity) {
  if (window_ms <= 0) return 0;
  const uint64_t jobs =
      (completed * ahead_ms + static_cast<uint64_t>(window_ms) - 1) /
      static_cast<uint64_t>(window_ms);
  return static_cast<uint32_t>(std::min<uint64_t>(jobs, capacity));
}

Worker::Worker(zmq::context_t* context, WorkerOptions options,
               ProberFactory factory, Clock clock)
    : context_(context),
      options_(std::move(options)),
      factory_(std::move(factory)),
      clock_(std::move(clock)) {}

Status Worker::Run(const std::atomic<bool>& stop) {
  Result<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return loop.status();
  Result<std::unique_ptr<Prober>> prober = factory_(loop->get());
  if (!prober.ok()) return prober.status();
  Session session(context_, options_, clock_, loop->get(), prober->get());
  Status outcome = session.Serve(stop);
  // The prober goes before the loop it registered its descriptors with.
  prober->reset();
  return outcome;
}

}  // namespace hl::worker
