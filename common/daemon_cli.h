// The command-line start shared by the daemons (hostlocator-coordinator,
// hostlocator-worker): a --log-level option, parsing with the daemons' exit
// codes, and diagnostics on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace hl {

// Adds --log-level (trace, debug, info, warn, error, off) bound to `level`,
// whose value on entry is the default.
void AddLogLevelOption(CLI::App& app, std::string* level);

// Parses argv. Returns nullopt to go on, with diagnostics sent to stderr
// under `logger` at `level`; else the exit code to end with (0 after
// --help or --version, 2 for a bad command line, its message printed).
std::optional<int> ParseDaemonCommandLine(CLI::App& app, int argc, char** argv,
                                          const std::string& logger,
                                          const std::string& level);

}  // namespace hl
