#include "cli/setup.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/clock.h"

namespace hl::cli {

Result<Config> LoadConfiguration(const std::string& path) {
  std::string chosen = path;
  if (chosen.empty()) {
    if (const char* env = std::getenv("HOSTLOCATOR_CONFIG"); env && *env) {
      chosen = env;
    }
  }
  if (chosen.empty()) return DefaultConfig();
  return LoadConfigFile(chosen);
}

Result<ProbeData> LoadProbeData(const Config& config) {
  auto geo = geo::GeoLocator::Open(config.geo);
  if (!geo.ok()) return geo.status();
  auto table = LoadProvidersFile(config.providers.file);
  if (!table.ok()) {
    return Status(
        table.status().code(),
        table.status().message() + " (configuration key \"providers.file\")");
  }
  auto directory = LoadReferralFile(config.referral.directory);
  if (!directory.ok()) {
    return Status(directory.status().code(),
                  directory.status().message() +
                      " (configuration key \"referral.directory\")");
  }
  return ProbeData{
      std::move(geo).value(),
      std::make_shared<const ProviderTable>(std::move(table).value()),
      std::make_shared<const ReferralRouting>(ReferralRouting{
          std::move(directory).value(), config.referral.home_country})};
}

worker::ProberFactory MakeProberFactory(const Config& config,
                                        const ProbeData& data,
                                        const std::string& worker_name) {
  return [config, data, worker_name](worker::EventLoop* loop) {
    return worker::Prober::Create(
        config, data.geo, data.providers,
        worker::ProberContext{HL_VERSION, config.digest, worker_name},
        SystemClockMs, loop, data.referrals);
  };
}

uint32_t WorkerThreads(const Config& config) {
  if (config.worker.threads > 0) return config.worker.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

void PrintError(const std::string& message) {
  std::fprintf(stderr, "hostlocator: %s\n", message.c_str());
}

}  // namespace hl::cli
