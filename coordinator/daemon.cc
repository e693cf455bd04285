#include "coordinator/daemon.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/curve.h"

namespace hl::coordinator {

BrokerOptions BrokerOptionsFrom(const Config& config,
                                const std::string& endpoint) {
  BrokerOptions options;
  options.endpoint = endpoint;
  options.heartbeat_interval_ms = config.coordinator.heartbeat_interval_ms;
  options.heartbeat_liveness = config.coordinator.heartbeat_liveness;
  options.lease_timeout_ms = config.coordinator.lease_timeout_ms;
  options.max_attempts = config.coordinator.max_attempts;
  return options;
}

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
  auto store = Store::Open(data_dir);
  if (!store.ok()) return store.status();
  daemon->store_ = std::move(store).value();
  auto recovered = daemon->store_->RecoverLeases(SystemClockMs());
  if (!recovered.ok()) return recovered.status();
  if (*recovered > 0) {
    spdlog::info("re-queued {} jobs leased by the previous process",
                 *recovered);
  }
  daemon->broker_ = std::make_unique<Broker>(
      &daemon->context_, daemon->store_.get(), options, SystemClockMs);
  HL_RETURN_IF_ERROR(daemon->broker_->Bind());
  spdlog::info("coordinator listening on {}: {} jobs pending", c.listen,
               daemon->store_->pending_count());
  return daemon;
}

CoordinatorDaemon::~CoordinatorDaemon() = default;

Status CoordinatorDaemon::Serve(const std::atomic<bool>& stop) {
  Status served = broker_->Run(stop, /*until_drained=*/false);
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
