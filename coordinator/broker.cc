#include "coordinator/broker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "common/protocol.h"
#include "coordinator/metrics.h"

namespace hl::coordinator {

BrokerOptions BrokerOptionsFrom(const Config& config,
                                const std::string& endpoint) {
  BrokerOptions options;
  options.endpoint = endpoint;
  options.heartbeat_interval_ms = config.coordinator.heartbeat_interval_ms;
  options.heartbeat_liveness = config.coordinator.heartbeat_liveness;
  options.lease_timeout_ms = config.coordinator.lease_timeout_ms;
  options.max_attempts = config.coordinator.max_attempts;
  options.politeness = PolitenessCapsOf(config);
  return options;
}

Broker::Broker(zmq::context_t* context, Store* store, BrokerOptions options,
               Clock clock)
    : socket_(*context, zmq::socket_type::router),
      store_(store),
      options_(std::move(options)),
      clock_(std::move(clock)),
      politeness_(options_.politeness),
      reports_(int64_t{options_.heartbeat_interval_ms} *
               options_.heartbeat_liveness * kReportGraceSilences) {
  fleet_capped_ = options_.politeness.per_host > 0 ||
                  options_.politeness.per_domain > 0 ||
                  options_.politeness.per_address > 0;
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxMessageBytes));
  // Replies to a peer that vanished are dropped, not queued forever.
  socket_.set(zmq::sockopt::router_mandatory, false);
}

Status Broker::Bind() {
  try {
    if (!options_.curve_secret_key.empty()) {
      socket_.set(zmq::sockopt::curve_server, true);
      socket_.set(zmq::sockopt::curve_secretkey, options_.curve_secret_key);
      socket_.set(zmq::sockopt::zap_domain, "hostlocator");
    }
    socket_.bind(options_.endpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot listen on " + options_.endpoint + ": " +
                       e.what());
  }
  return Status::Ok();
}

void Broker::Send(const std::string& peer, pb::Envelope envelope) {
  const std::string bytes = EncodeEnvelope(std::move(envelope));
  try {
    socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    spdlog::warn("send to worker failed: {}", e.what());
  }
}

Status Broker::Run(const std::atomic<bool>& stop, bool until_drained) {
  return Serve(
      [&] {
        return stop.load() || (until_drained && store_->pending_count() == 0 &&
                               leases_.empty());
      },
      /*dispatch=*/true);
}

Status Broker::Drain(int64_t deadline_ms) {
  return Serve([&] { return peers_.empty() || clock_() >= deadline_ms; },
               /*dispatch=*/false);
}

Status Broker::Serve(const std::function<bool()>& done, bool dispatch) {
  next_heartbeat_ms_ = clock_() + options_.heartbeat_interval_ms;
  while (true) {
    int64_t now = clock_();
    if (dispatch) {
      auto rechecks = store_->QueueDueRechecks(now);
      if (!rechecks.ok()) return rechecks.status();
      stats_.rechecks_queued += *rechecks;
      HL_RETURN_IF_ERROR(Dispatch(now));
    }
    if (done()) return Status::Ok();
    const int64_t wait = std::clamp<int64_t>(NextDeadline(now) - now, 0,
                                             options_.heartbeat_interval_ms);
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(wait));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Internal(std::string("broker poll failed: ") + e.what());
    }
    // Drain what is readable, bounded so timers still run under load.
    for (int i = 0; i < 1024 && (item.revents & ZMQ_POLLIN); ++i) {
      std::vector<zmq::message_t> frames;
      auto received = zmq::recv_multipart(socket_, std::back_inserter(frames),
                                          zmq::recv_flags::dontwait);
      if (!received) break;
      now = clock_();
      if (frames.size() != 2) {
        ++stats_.refused_messages;
        spdlog::warn("dropped a worker message with {} frames", frames.size());
        continue;
      }
      HL_RETURN_IF_ERROR(HandleMessage(frames[0].to_string(),
                                       frames[1].to_string_view(), now));
    }
    now = clock_();
    // The credit the round's results returned is spent before they are
    // stored: a worker gets its next jobs without waiting for the write.
    if (dispatch) HL_RETURN_IF_ERROR(Dispatch(now));
    HL_RETURN_IF_ERROR(FlushResults(now));
    if (now >= next_heartbeat_ms_) {
      pb::Envelope heartbeat;
      heartbeat.mutable_heartbeat()->set_interval_ms(
          options_.heartbeat_interval_ms);
      for (const auto& [peer, state] : peers_) Send(peer, heartbeat);
      next_heartbeat_ms_ = now + options_.heartbeat_interval_ms;
      reports_.Expire(now);
      reports_changed_ = true;
    }
    HL_RETURN_IF_ERROR(ReapSilentPeers(now));
    HL_RETURN_IF_ERROR(ExpireLeases(now));
    Publish();
  }
}

void Broker::RecordResult(const ObservationSummary& observation,
                          int64_t latency_ms) {
  const auto bounded = [](std::map<std::string, uint64_t>& counts,
                          const std::string& key) {
    CountBounded(counts, key, 1, BrokerSnapshot::kMaxErrorClasses);
  };
  bounded(figures_.results_by_status, observation.status);
  if (!observation.error_class.empty()) {
    bounded(figures_.errors_by_class, observation.error_class);
  }
  if (latency_ms >= 0) figures_.result_latency.Record(latency_ms);
  if (observation.http_elapsed_ms > 0) {
    figures_.http_latency.Record(observation.http_elapsed_ms);
  }
}

void Broker::Publish() {
  std::lock_guard lock(published_mu_);
  published_.stats = stats_;
  published_.results_by_status = figures_.results_by_status;
  published_.errors_by_class = figures_.errors_by_class;
  published_.result_latency = figures_.result_latency;
  published_.http_latency = figures_.http_latency;
  published_.live_window_ms =
      int64_t{options_.heartbeat_interval_ms} * options_.heartbeat_liveness;
  if (reports_changed_) {
    published_.reported = reports_.Current();
    reports_changed_ = false;
  }
  published_.workers.clear();
  for (const auto& [id, peer] : peers_) {
    published_.workers.push_back(
        {peer.name, peer.results, peer.jobs.size(), peer.last_seen_ms});
  }
}

BrokerSnapshot Broker::snapshot() const {
  std::lock_guard lock(published_mu_);
  return published_;
}

int64_t Broker::NextDeadline(int64_t now) const {
  int64_t next = std::min(next_heartbeat_ms_, store_->next_recheck_ms());
  if (!lease_deadlines_.empty()) {
    next = std::min(next, lease_deadlines_.begin()->first);
  }
  const int64_t silence =
      int64_t{options_.heartbeat_interval_ms} * options_.heartbeat_liveness;
  for (const auto& [peer, state] : peers_) {
    next = std::min(next, state.last_seen_ms + silence);
  }
  return std::max(next, now);
}

Status Broker::HandleMessage(const std::string& peer, std::string_view payload,
                             int64_t now) {
  auto decoded = DecodeInbound(payload);
  if (!decoded.ok()) {
    ++stats_.refused_messages;
    spdlog::warn("refused a worker message: {}", decoded.status().message());
    if (decoded.status().code() == StatusCode::kFailedPrecondition) {
      pb::Envelope bye;
      bye.mutable_disconnect()->set_reason(decoded.status().message());
      Send(peer, bye);
    }
    return Status::Ok();
  }
  pb::InboundEnvelope& envelope = *decoded;
  if (!envelope.has_results()) HL_RETURN_IF_ERROR(FlushResults(now));
  auto it = peers_.find(peer);
  if (envelope.has_ready()) {
    if (it == peers_.end()) it = peers_.try_emplace(peer).first;
    Peer& state = it->second;
    state.last_seen_ms = now;
    state.name = envelope.ready().worker_name();
    state.credit += envelope.ready().capacity();
    spdlog::info("worker {} ready, capacity {}", state.name,
                 envelope.ready().capacity());
    return Status::Ok();
  }
  if (it == peers_.end()) {
    // Not registered (or forgotten as silent): a result may still be
    // current; anything else waits for the worker's READY.
    for (pb::SerializedJobResult& result :
         *envelope.mutable_results()->mutable_results()) {
      HandleResult(std::move(result));
    }
    return Status::Ok();
  }
  Peer& state = it->second;
  state.last_seen_ms = now;
  switch (envelope.body_case()) {
    case pb::InboundEnvelope::kResults:
      for (pb::SerializedJobResult& result :
           *envelope.mutable_results()->mutable_results()) {
        if (state.owed.erase(result.job_id()) > 0 &&
            state.credit < UINT32_MAX) {
          ++state.credit;
        }
        HandleResult(std::move(result));
      }
      return Status::Ok();
    case pb::InboundEnvelope::kHeartbeat:
      if (envelope.heartbeat().has_stats() &&
          reports_.Update(envelope.heartbeat().stats(), now)) {
        reports_changed_ = true;
      }
      return Status::Ok();
    case pb::InboundEnvelope::kDisconnect:
      spdlog::info("worker {} leaves: {}", state.name,
                   envelope.disconnect().reason());
      for (uint64_t job_id :
           std::vector<uint64_t>(state.jobs.begin(), state.jobs.end())) {
        HL_RETURN_IF_ERROR(
            Release(job_id, "worker left", /*count_attempt=*/false, now));
      }
      peers_.erase(it);
      return Status::Ok();
    default:
      ++stats_.refused_messages;
      spdlog::warn("worker {} sent an unexpected {} message", state.name,
                   static_cast<int>(envelope.body_case()));
      return Status::Ok();
  }
}

void Broker::HandleResult(pb::SerializedJobResult result) {
  auto summary = SummarizeObservation(result.observation());
  if (!summary.ok()) {
    ++stats_.refused_messages;
    spdlog::warn("refused the result of job {}: {}", result.job_id(),
                 summary.status().message());
    return;
  }
  round_.push_back({std::move(result), std::move(summary).value()});
}

Status Broker::FlushResults(int64_t now) {
  if (round_.empty()) return Status::Ok();
  std::vector<Store::ResultIn> in;
  in.reserve(round_.size());
  for (const RoundResult& r : round_) {
    in.push_back({r.result.job_id(), r.result.attempt(), r.result.observation(),
                  r.summary.status});
  }
  auto outcomes = store_->StoreResults(in, now);
  if (!outcomes.ok()) return outcomes.status();
  for (size_t i = 0; i < round_.size(); ++i) {
    const uint64_t job_id = round_[i].result.job_id();
    const Result<pb::JobRecord>& stored = (*outcomes)[i];
    const StatusCode code = stored.status().code();
    if (code == StatusCode::kAlreadyExists || code == StatusCode::kNotFound) {
      ++stats_.duplicate_results;
      spdlog::debug("dropped a late result for job {}: {}", job_id,
                    stored.status().message());
      continue;
    }
    if (!stored.ok()) return stored.status();
    ++stats_.results;
    int64_t latency_ms = -1;
    if (auto lease = leases_.find(job_id); lease != leases_.end()) {
      latency_ms = now - (lease->second.deadline_ms -
                          int64_t{options_.lease_timeout_ms});
      if (auto holder = peers_.find(lease->second.peer);
          holder != peers_.end()) {
        ++holder->second.results;
      }
    }
    EndLease(job_id);
    ObservationSummary& summary = round_[i].summary;
    if (options_.politeness.per_address > 0 && !summary.addresses.empty()) {
      politeness_.LearnAddresses(summary.host, std::move(summary.addresses));
    }
    RecordResult(summary, latency_ms);
    if (sink_) sink_(*stored, round_[i].result.observation());
  }
  round_.clear();
  return Status::Ok();
}

Status Broker::Dispatch(int64_t now) {
  if (held_by_caps_ && store_->pending_count() == pending_when_held_) {
    return Status::Ok();
  }
  held_by_caps_ = false;
  for (auto& [peer, state] : peers_) {
    while (state.credit >= LeaseGroup(state) && store_->pending_count() > 0) {
      const size_t want =
          std::min<size_t>(state.credit, options_.max_jobs_per_message);
      std::unordered_map<uint64_t, DispatchTarget> targets;
      bool passed_over = false;
      const LeaseFilter admit =
          [&](const pb::JobRecord& job) -> std::optional<std::string> {
        DispatchTarget target = politeness_.Resolve(
            TargetOfUrl(job.url(), options_.politeness.per_domain > 0));
        if (auto refusal = politeness_.Refusal(target)) {
          passed_over = true;
          return refusal;
        }
        politeness_.Start(target);
        targets.emplace(job.job_id(), std::move(target));
        return std::nullopt;
      };
      auto jobs =
          store_->LeasePending(want, now, fleet_capped_ ? admit : LeaseFilter(),
                               options_.politeness_look_ahead);
      if (!jobs.ok()) return jobs.status();
      if (passed_over && jobs->size() < want) {
        held_by_caps_ = true;
        pending_when_held_ = store_->pending_count();
      }
      if (jobs->empty()) return Status::Ok();
      pb::Envelope envelope;
      auto* batch = envelope.mutable_jobs();
      const int64_t deadline = now + options_.lease_timeout_ms;
      for (const auto& job : *jobs) {
        auto* out = batch->add_jobs();
        out->set_job_id(job.job_id());
        out->set_url(job.url());
        out->set_attempt(job.attempts());
        out->set_lease_deadline_unix_ms(deadline);
        *out->mutable_context() = job.context();
        leases_[job.job_id()] = Lease{peer, job.attempts(), deadline,
                                      std::move(targets[job.job_id()])};
        lease_deadlines_.emplace(deadline, job.job_id());
        state.jobs.insert(job.job_id());
        state.owed.insert(job.job_id());
      }
      state.credit -= static_cast<uint32_t>(jobs->size());
      stats_.dispatched += jobs->size();
      Send(peer, std::move(envelope));
    }
  }
  return Status::Ok();
}

uint32_t Broker::LeaseGroup(const Peer& state) const {
  const size_t capacity = state.credit + state.owed.size();
  return static_cast<uint32_t>(
      std::clamp<size_t>(capacity / kLeaseGroupShare, 1,
                         std::max<uint32_t>(options_.max_jobs_per_message, 1)));
}

bool Broker::EndLease(uint64_t job_id) {
  auto lease = leases_.find(job_id);
  if (lease == leases_.end()) return false;
  if (auto holder = peers_.find(lease->second.peer); holder != peers_.end()) {
    holder->second.jobs.erase(job_id);
  }
  lease_deadlines_.erase({lease->second.deadline_ms, job_id});
  if (fleet_capped_) {
    politeness_.Finish(lease->second.target);
    // Without parked jobs there is nothing to wake (the common case).
    if (store_->parked_count() > 0) {
      store_->WakeParked(politeness_.KeysOf(lease->second.target));
    }
  }
  held_by_caps_ = false;
  leases_.erase(lease);
  return true;
}

Status Broker::Release(uint64_t job_id, const std::string& why,
                       bool count_attempt, int64_t now) {
  if (!EndLease(job_id)) return Status::Ok();
  HL_RETURN_IF_ERROR(
      store_->Requeue(job_id, why, options_.max_attempts, count_attempt, now));
  auto job = store_->GetJob(job_id);
  if (!job.ok()) return job.status();
  if (job->state() == pb::JOB_STATE_DEAD) {
    ++stats_.dead_lettered;
    spdlog::warn("job {} dead after {} attempts: {}", job_id, job->attempts(),
                 why);
  } else {
    ++stats_.requeued;
  }
  return Status::Ok();
}

Status Broker::Farewell(const std::string& reason) {
  const int64_t now = clock_();
  pb::Envelope bye;
  bye.mutable_disconnect()->set_reason(reason);
  bye.mutable_disconnect()->set_reconnect(true);
  for (const auto& [peer, state] : peers_) {
    Send(peer, bye);
    for (uint64_t job_id :
         std::vector<uint64_t>(state.jobs.begin(), state.jobs.end())) {
      HL_RETURN_IF_ERROR(Release(job_id, "coordinator stopped",
                                 /*count_attempt=*/false, now));
    }
  }
  peers_.clear();
  return Status::Ok();
}

Status Broker::ExpireLeases(int64_t now) {
  while (!lease_deadlines_.empty() && lease_deadlines_.begin()->first <= now) {
    const uint64_t job_id = lease_deadlines_.begin()->second;
    HL_RETURN_IF_ERROR(
        Release(job_id, "lease expired", /*count_attempt=*/true, now));
  }
  return Status::Ok();
}

Status Broker::ReapSilentPeers(int64_t now) {
  const int64_t silence =
      int64_t{options_.heartbeat_interval_ms} * options_.heartbeat_liveness;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (now - it->second.last_seen_ms <= silence) {
      ++it;
      continue;
    }
    ++stats_.workers_lost;
    spdlog::warn("worker {} silent for {} ms: re-queuing its {} jobs",
                 it->second.name, now - it->second.last_seen_ms,
                 it->second.jobs.size());
    const std::vector<uint64_t> jobs(it->second.jobs.begin(),
                                     it->second.jobs.end());
    it = peers_.erase(it);
    for (uint64_t job_id : jobs) {
      HL_RETURN_IF_ERROR(
          Release(job_id, "worker lost", /*count_attempt=*/true, now));
    }
  }
  return Status::Ok();
}

}  // namespace hl::coordinator
