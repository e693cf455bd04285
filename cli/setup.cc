#include "cli/setup.h"

#include <cstdio>
#include <cstdlib>

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

Result<std::shared_ptr<const geo::GeoLocator>> OpenGeolocation(
    const Config& config) {
  auto geo = geo::GeoLocator::Open(config.geo);
  if (!geo.ok()) return geo.status();
  return std::shared_ptr<const geo::GeoLocator>(std::move(geo).value());
}

Result<std::shared_ptr<const ProviderTable>> LoadProviders(
    const Config& config) {
  auto table = LoadProvidersFile(config.providers.file);
  if (!table.ok()) {
    return Status(
        table.status().code(),
        table.status().message() + " (configuration key \"providers.file\")");
  }
  return std::make_shared<const ProviderTable>(std::move(table).value());
}

worker::ProberFactory MakeProberFactory(
    const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
    std::shared_ptr<const ProviderTable> providers,
    const std::string& worker_name) {
  return [config, geo, providers, worker_name]() {
    return worker::Prober::Create(
        config, geo, providers,
        worker::ProberContext{HL_VERSION, config.digest, worker_name},
        SystemClockMs);
  };
}

void PrintError(const std::string& message) {
  std::fprintf(stderr, "hostlocator: %s\n", message.c_str());
}

}  // namespace hl::cli
