// Start-up of the probing side, shared by `hostlocator run`/`lookup` and the
// `hostlocator-worker` daemon: the read-only probe data and the factory of
// one Prober per worker thread. Each failure is one message that says what
// to do.
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "common/geo/geo.h"
#include "common/provider.h"
#include "common/referral.h"
#include "worker/worker.h"

namespace hl::worker {

// The read-only data every prober shares.
struct ProbeData {
  std::shared_ptr<const geo::GeoLocator> geo;
  std::shared_ptr<const ProviderTable> providers;
  std::shared_ptr<const ReferralRouting> referrals;
};

// Opens the configured MMDB files, the provider signatures and the referral
// directory; the error
// names the file, the problem, its configuration key and, for missing
// geolocation data, the command that fetches it.
Result<ProbeData> LoadProbeData(const Config& config);

// Makes one Prober per call (one per worker thread, on its loop); all
// share `data`.
ProberFactory MakeProberFactory(const Config& config, const ProbeData& data,
                                const std::string& worker_name);

// Worker threads for `config.worker.threads` (0: one per core).
uint32_t WorkerThreads(const Config& config);

}  // namespace hl::worker
