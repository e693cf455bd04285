#include "worker/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "common/protocol.h"

namespace hl::worker {
namespace {

// How often the loop looks at the stop flag, the heartbeat clock and the
// coordinator's silence.
constexpr int64_t kTickMs = 100;

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
        prober_(prober) {}

  Status Serve(const std::atomic<bool>& stop) {
    if (Status s = Connect(); !s.ok()) return s;
    Send(ReadyMessage(options_.name, options_.capacity));
    last_heard_ = clock_();
    Tick(stop);
    while (outcome_.ok() && (!draining_ || in_flight_ > 0)) {
      if (Status s = loop_->RunOnce(-1); !s.ok()) return s;
    }
    loop_->Cancel(tick_timer_);
    if (outcome_.ok()) {
      pb::Envelope bye;
      bye.mutable_disconnect()->set_reason("worker stopping");
      Send(bye);
    }
    loop_->Unwatch(fd_);
    return outcome_;
  }

 private:
  Status Connect() {
    try {
      if (dealer_) loop_->Unwatch(fd_);
      dealer_.emplace(*context_, zmq::socket_type::dealer);
      dealer_->set(zmq::sockopt::linger, 0);
      dealer_->set(zmq::sockopt::maxmsgsize,
                   static_cast<int64_t>(kMaxMessageBytes));
      // Results are bounded by the credit; never block the loop on them.
      dealer_->set(zmq::sockopt::sndhwm, 0);
      dealer_->connect(options_.endpoint);
      fd_ = dealer_->get(zmq::sockopt::fd);
    } catch (const zmq::error_t& e) {
      return InvalidArgument("worker " + options_.name +
                             " cannot connect to the coordinator at \"" +
                             options_.endpoint + "\": " + e.what());
    }
    return loop_->Watch(fd_, EventLoop::kRead,
                        [this](uint32_t) { ReadMessages(); });
  }

  void Send(const pb::Envelope& envelope) {
    if (!outcome_.ok()) return;
    try {
      dealer_->send(zmq::buffer(EncodeEnvelope(envelope)),
                    zmq::send_flags::none);
      last_sent_ = clock_();
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
      while (outcome_.ok() &&
             (dealer_->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0) {
        zmq::message_t message;
        if (!dealer_->recv(message, zmq::recv_flags::dontwait)) break;
        last_heard_ = clock_();
        Handle(message.to_string_view());
      }
    } catch (const zmq::error_t& e) {
      Fail(e);
    }
  }

  void Handle(std::string_view bytes) {
    auto envelope = DecodeEnvelope(bytes);
    if (!envelope.ok()) {
      spdlog::warn("worker {}: ignored a coordinator message: {}",
                   options_.name, envelope.status().message());
      return;
    }
    if (envelope->has_jobs()) {
      // While draining, jobs are not started (and not counted, or
      // in_flight_ would never reach 0).
      if (draining_) return;
      for (const pb::Job& job : envelope->jobs().jobs()) {
        ++in_flight_;
        prober_->Probe(job.url(), job.context(),
                       [this, job_id = job.job_id(),
                        attempt = job.attempt()](pb::Observation obs) {
                         pb::Envelope result;
                         result.mutable_result()->set_job_id(job_id);
                         result.mutable_result()->set_attempt(attempt);
                         *result.mutable_result()->mutable_observation() =
                             std::move(obs);
                         --in_flight_;
                         Send(result);
                       });
      }
    } else if (envelope->has_disconnect()) {
      outcome_ =
          FailedPrecondition("the coordinator refused worker " + options_.name +
                             ": " + envelope->disconnect().reason());
    }
  }

  void Tick(const std::atomic<bool>& stop) {
    tick_timer_ = loop_->After(kTickMs, [this, &stop] { Tick(stop); });
    if (!draining_ && stop.load()) draining_ = true;
    const int64_t now = clock_();
    if (now - last_sent_ >= options_.heartbeat_interval_ms) {
      pb::Envelope heartbeat;
      heartbeat.mutable_heartbeat();
      Send(heartbeat);
    }
    const int64_t silence =
        int64_t{options_.heartbeat_interval_ms} * options_.heartbeat_liveness;
    if (!draining_ && now - last_heard_ > silence) {
      spdlog::warn("worker {}: coordinator silent for {} ms, reconnecting",
                   options_.name, now - last_heard_);
      if (Status s = Connect(); !s.ok()) {
        outcome_ = s;
        return;
      }
      const uint64_t idle =
          options_.capacity > in_flight_ ? options_.capacity - in_flight_ : 0;
      Send(ReadyMessage(options_.name, static_cast<uint32_t>(idle)));
      last_heard_ = now;
    }
    ReadMessages();
  }

  zmq::context_t* context_;
  const WorkerOptions& options_;
  Clock clock_;
  EventLoop* loop_;
  Prober* prober_;
  std::optional<zmq::socket_t> dealer_;
  int fd_ = -1;
  EventLoop::TimerId tick_timer_ = 0;
  bool read_pending_ = false;
  uint64_t in_flight_ = 0;  // received, result not yet sent
  bool draining_ = false;
  int64_t last_heard_ = 0;
  int64_t last_sent_ = 0;
  Status outcome_;
};

}  // namespace

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
