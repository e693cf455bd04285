// Start-up shared by the commands: configuration, geolocation, probers.
// Each failure is one message that says what to do.
#pragma once

#include <string>

#include "common/config.h"
#include "common/signing.h"
#include "common/status.h"
#include "worker/probe_setup.h"

namespace hl::cli {

using ::hl::LoadConfiguration;
using worker::LoadProbeData;
using worker::MakeProberFactory;
using worker::ProbeData;
using worker::WorkerThreads;

// Prints "hostlocator: <message>" to stderr.
void PrintError(const std::string& message);

// The key that signs what a command writes from a local data folder (an
// export, a run's referral packages): `path` when given, else the
// configuration's coordinator.signing_key_file, else DATA/signing.key;
// created on first use, and said so on stderr.
Result<SigningKey> LocalSigningKey(const std::string& path,
                                   const Config& config,
                                   const std::string& data_dir);

}  // namespace hl::cli
