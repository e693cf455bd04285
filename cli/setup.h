// Start-up shared by the commands: configuration, geolocation, probers.
// Each failure is one message that says what to do.
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "common/geo/geo.h"
#include "common/provider.h"
#include "worker/worker.h"

namespace hl::cli {

// --config PATH, else $HOSTLOCATOR_CONFIG, else the built-in defaults.
Result<Config> LoadConfiguration(const std::string& path);

// Opens the configured MMDB files; the error names the missing file, its
// configuration key and the command that fetches the data.
Result<std::shared_ptr<const geo::GeoLocator>> OpenGeolocation(
    const Config& config);

// Loads the provider signatures named by providers.file; the error names
// the file, the problem and the configuration key.
Result<std::shared_ptr<const ProviderTable>> LoadProviders(
    const Config& config);

// Makes one Prober per call (one per probe thread); all share `geo` and
// `providers`.
worker::ProberFactory MakeProberFactory(
    const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
    std::shared_ptr<const ProviderTable> providers,
    const std::string& worker_name);

// Prints "hostlocator: <message>" to stderr.
void PrintError(const std::string& message);

}  // namespace hl::cli
