#include "worker/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/protocol.h"

namespace hl::worker {
namespace {

// Jobs waiting for a probe thread. Close() wakes every waiter; Pop then
// returns nullopt. Jobs not yet started when the queue closes, and jobs
// pushed after, are dropped (Close returns how many were waiting; Push
// returns false): the coordinator re-queues them when this worker says
// goodbye or falls silent.
class JobQueue {
 public:
  bool Push(pb::Job job) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return false;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }
  std::optional<pb::Job> Pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
    if (closed_) return std::nullopt;
    pb::Job job = std::move(jobs_.front());
    jobs_.pop_front();
    return job;
  }
  size_t Close() {
    size_t dropped;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      dropped = jobs_.size();
      jobs_.clear();
    }
    cv_.notify_all();
    return dropped;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pb::Job> jobs_;
  bool closed_ = false;
};

zmq::socket_t ConnectDealer(zmq::context_t* context,
                            const std::string& endpoint) {
  zmq::socket_t dealer(*context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxMessageBytes));
  dealer.connect(endpoint);
  return dealer;
}

void SendEnvelope(zmq::socket_t& socket, const pb::Envelope& envelope) {
  socket.send(zmq::buffer(EncodeEnvelope(envelope)), zmq::send_flags::none);
}

pb::Envelope ReadyMessage(const std::string& name, uint32_t capacity) {
  pb::Envelope ready;
  ready.mutable_ready()->set_worker_name(name);
  ready.mutable_ready()->set_capacity(capacity);
  return ready;
}

}  // namespace

Worker::Worker(zmq::context_t* context, WorkerOptions options,
               ProberFactory factory, Clock clock)
    : context_(context),
      options_(std::move(options)),
      factory_(std::move(factory)),
      clock_(std::move(clock)) {}

Status Worker::Run(const std::atomic<bool>& stop) {
  std::vector<std::unique_ptr<Prober>> probers;
  for (uint32_t i = 0; i < options_.capacity; ++i) {
    auto prober = factory_();
    if (!prober.ok()) return prober.status();
    probers.push_back(std::move(prober).value());
  }

  const std::string results_endpoint =
      "inproc://hostlocator-worker-results-" +
      std::to_string(reinterpret_cast<uintptr_t>(this));
  // Both sockets exist before any probe thread does: a thread still
  // joinable when an exception leaves this function would terminate the
  // process.
  zmq::socket_t results(*context_, zmq::socket_type::pull);
  zmq::socket_t dealer;
  try {
    results.set(zmq::sockopt::linger, 0);
    results.bind(results_endpoint);
    dealer = ConnectDealer(context_, options_.endpoint);
  } catch (const zmq::error_t& e) {
    return InvalidArgument("worker " + options_.name +
                           " cannot connect to the coordinator at \"" +
                           options_.endpoint + "\": " + e.what());
  }

  JobQueue queue;
  std::vector<std::thread> threads;
  for (auto& prober : probers) {
    threads.emplace_back(
        [this, &queue, &results_endpoint, prober = std::move(prober)] {
          zmq::socket_t push(*context_, zmq::socket_type::push);
          push.set(zmq::sockopt::linger, -1);
          push.connect(results_endpoint);
          while (auto job = queue.Pop()) {
            pb::Envelope envelope;
            auto* result = envelope.mutable_result();
            result->set_job_id(job->job_id());
            result->set_attempt(job->attempt());
            *result->mutable_observation() =
                prober->Probe(job->url(), job->context());
            result->mutable_observation()->set_worker(options_.name);
            SendEnvelope(push, envelope);
          }
        });
  }

  const int64_t silence =
      int64_t{options_.heartbeat_interval_ms} * options_.heartbeat_liveness;
  uint64_t in_flight = 0;  // received, result not yet sent
  bool draining = false;
  Status outcome;

  try {
    SendEnvelope(dealer, ReadyMessage(options_.name, options_.capacity));
    int64_t last_heard = clock_();
    int64_t last_sent = last_heard;
    while (!draining || in_flight > 0) {
      if (!draining && stop.load()) {
        draining = true;
        in_flight -= queue.Close();
        continue;
      }
      zmq::pollitem_t items[] = {{dealer.handle(), 0, ZMQ_POLLIN, 0},
                                 {results.handle(), 0, ZMQ_POLLIN, 0}};
      // Bounded so a stop request is seen within kStopLatency.
      constexpr std::chrono::milliseconds kStopLatency(100);
      try {
        zmq::poll(items, 2,
                  std::min(kStopLatency, std::chrono::milliseconds(
                                             options_.heartbeat_interval_ms)));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) {
          outcome = Internal(std::string("worker poll failed: ") + e.what());
          break;
        }
      }
      int64_t now = clock_();
      if (items[0].revents & ZMQ_POLLIN) {
        zmq::message_t message;
        while (dealer.recv(message, zmq::recv_flags::dontwait)) {
          last_heard = now;
          auto envelope = DecodeEnvelope(message.to_string_view());
          if (!envelope.ok()) {
            spdlog::warn("worker {}: ignored a coordinator message: {}",
                         options_.name, envelope.status().message());
            continue;
          }
          if (envelope->has_jobs()) {
            // While draining the queue is closed: jobs that arrive then are
            // not started and not counted, or in_flight would never reach 0.
            for (const auto& job : envelope->jobs().jobs()) {
              if (queue.Push(job)) ++in_flight;
            }
          } else if (envelope->has_disconnect()) {
            outcome = FailedPrecondition("the coordinator refused worker " +
                                         options_.name + ": " +
                                         envelope->disconnect().reason());
            draining = true;
            in_flight -= queue.Close();
          }
        }
      }
      if (items[1].revents & ZMQ_POLLIN) {
        zmq::message_t message;
        while (results.recv(message, zmq::recv_flags::dontwait)) {
          dealer.send(message, zmq::send_flags::none);
          --in_flight;
          last_sent = now;
        }
      }
      if (now - last_sent >= options_.heartbeat_interval_ms) {
        pb::Envelope heartbeat;
        heartbeat.mutable_heartbeat();
        SendEnvelope(dealer, heartbeat);
        last_sent = now;
      }
      if (!draining && now - last_heard > silence) {
        spdlog::warn("worker {}: coordinator silent for {} ms, reconnecting",
                     options_.name, now - last_heard);
        dealer = ConnectDealer(context_, options_.endpoint);
        const uint64_t idle =
            options_.capacity > in_flight ? options_.capacity - in_flight : 0;
        SendEnvelope(dealer,
                     ReadyMessage(options_.name, static_cast<uint32_t>(idle)));
        last_heard = last_sent = now;
      }
    }
    if (outcome.ok()) {
      pb::Envelope bye;
      bye.mutable_disconnect()->set_reason("worker stopping");
      SendEnvelope(dealer, bye);
    }
  } catch (const zmq::error_t& e) {
    outcome = Internal("worker " + options_.name +
                       ": messaging with the coordinator failed: " + e.what());
  }
  queue.Close();
  for (auto& thread : threads) thread.join();
  return outcome;
}

}  // namespace hl::worker
