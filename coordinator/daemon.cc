#include "coordinator/daemon.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/curve.h"

namespace hl::coordinator {

Result<std::unique_ptr<CoordinatorDaemon>> CoordinatorDaemon::Start(
    const Config& config, const std::string& data_dir) {
  const CoordinatorConfig& c = config.coordinator;
  const bool curve = !c.secret_key_file.empty();
  HL_RETURN_IF_ERROR(CheckTransportSecurity(c.listen, curve, c.allow_plaintext,
                                            "coordinator.allow_plaintext"));
  if (!curve && !c.authorized_keys.empty()) {
    return InvalidArgument(
        "coordinator.authorized_keys is set but coordinator.secret_key_file "
        "is not: set the coordinator's key file (`hostlocator keys generate "
        "--name coordinator`)");
  }
  std::unique_ptr<CoordinatorDaemon> daemon(new CoordinatorDaemon());
  BrokerOptions options = BrokerOptionsFrom(config, c.listen);
  if (curve) {
    auto pair = ReadSecretKeyFile(c.secret_key_file);
    if (!pair.ok()) return pair.status();
    auto workers = ReadAuthorizedKeys(c.authorized_keys);
    if (!workers.ok()) return workers.status();
    if (workers->empty()) {
      return InvalidArgument(
          "CURVE is on (coordinator.secret_key_file) but no worker key is "
          "authorised: list the workers' .pub files or their directory in "
          "coordinator.authorized_keys");
    }
    auto zap = ZapHandler::Start(&daemon->context_, *workers);
    if (!zap.ok()) return zap.status();
    daemon->zap_ = std::move(zap).value();
    options.curve_secret_key = pair->secret_z85;
    spdlog::info("CURVE on: coordinator key {}, {} worker keys authorised",
                 KeyFingerprint(pair->public_z85), workers->size());
  }
  auto store = Store::Open(data_dir, StorePolicyOf(config));
  if (!store.ok()) return store.status();
  daemon->store_ = std::move(store).value();
  daemon->retention_days_ = c.retention_days;
  auto recovered = daemon->store_->RecoverLeases(SystemClockMs());
  if (!recovered.ok()) return recovered.status();
  if (*recovered > 0) {
    spdlog::info("re-queued {} jobs leased by the previous process",
                 *recovered);
  }
  auto enrichment = EnrichmentService::Start(daemon->store_.get(), config);
  if (!enrichment.ok()) return enrichment.status();
  daemon->enrichment_ = std::move(enrichment).value();
  if (daemon->enrichment_) {
    spdlog::info("RDAP enrichment on (bootstrap {})",
                 config.rdap.bootstrap_dir);
  }
  daemon->broker_ = std::make_unique<Broker>(
      &daemon->context_, daemon->store_.get(), options, SystemClockMs);
  HL_RETURN_IF_ERROR(daemon->broker_->Bind());
  if (!config.api.tokens_file.empty()) {
    ApiOptions api;
    api.bind_address = config.api.address;
    api.port = static_cast<uint16_t>(config.api.port);
    api.tokens_file = config.api.tokens_file;
    api.tls_cert_file = config.api.tls_cert_file;
    api.tls_key_file = config.api.tls_key_file;
    api.data_dir = data_dir;
    api.max_request_bytes = size_t{config.api.max_request_mb} << 20;
    api.threads = config.api.threads;
    api.config_digest = config.digest;
    api.history = config.history;
    api.signing_key_file = config.coordinator.signing_key_file;
    Broker* broker = daemon->broker_.get();
    daemon->api_ = std::make_unique<ApiServer>(
        daemon->store_.get(), [broker] { return broker->snapshot(); }, api,
        SystemClockMs);
    HL_RETURN_IF_ERROR(daemon->api_->Start());
    spdlog::info("API on {}://{}:{}",
                 api.tls_cert_file.empty() ? "http" : "https", api.bind_address,
                 daemon->api_->port());
  } else {
    spdlog::info("no API: set api.tokens_file to serve it");
  }
  spdlog::info("coordinator listening on {}: {} jobs pending", c.listen,
               daemon->store_->pending_count());
  return daemon;
}

CoordinatorDaemon::~CoordinatorDaemon() = default;

void CoordinatorDaemon::ApplyRetention(RetentionSchedule& schedule) {
  std::unique_lock lock(retention_mu_);
  while (!retention_stop_) {
    lock.unlock();
    if (auto purged = schedule.RunIfDue(); !purged.ok()) {
      spdlog::error("retention: purge failed: {}", purged.status().message());
    }
    lock.lock();
    const int64_t wait_ms =
        std::max<int64_t>(0, schedule.next_due_ms() - SystemClockMs());
    retention_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                           [&] { return retention_stop_; });
  }
}

Status CoordinatorDaemon::Serve(const std::atomic<bool>& stop) {
  RetentionSchedule schedule(store_.get(), retention_days_, SystemClockMs);
  std::thread retention;
  if (schedule.enabled()) {
    retention = std::thread([&] { ApplyRetention(schedule); });
  }
  Status served = broker_->Run(stop, /*until_drained=*/false);
  if (retention.joinable()) {
    {
      std::lock_guard lock(retention_mu_);
      retention_stop_ = true;
    }
    retention_cv_.notify_all();
    retention.join();
  }
  if (api_) api_->Stop();
  enrichment_.reset();
  if (Status s = broker_->Farewell("coordinator stopping"); served.ok()) {
    served = s;
  }
  const BrokerStats& s = broker_->stats();
  spdlog::info(
      "coordinator stopped: dispatched {}, results {}, duplicate results "
      "dropped {}, re-queued {}, dead-lettered {}, workers lost {}, refused "
      "messages {}, refused worker keys {}; {} jobs pending",
      s.dispatched, s.results, s.duplicate_results, s.requeued, s.dead_lettered,
      s.workers_lost, s.refused_messages, zap_ ? zap_->refused() : 0,
      store_->pending_count());
  return served;
}

}  // namespace hl::coordinator
