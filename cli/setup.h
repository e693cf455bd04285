// Start-up shared by the commands: configuration, geolocation, probers.
// Each failure is one message that says what to do.
#pragma once

#include <string>

#include "common/config.h"
#include "worker/probe_setup.h"

namespace hl::cli {

using ::hl::LoadConfiguration;
using worker::LoadProbeData;
using worker::MakeProberFactory;
using worker::ProbeData;
using worker::WorkerThreads;

// Prints "hostlocator: <message>" to stderr.
void PrintError(const std::string& message);

}  // namespace hl::cli
