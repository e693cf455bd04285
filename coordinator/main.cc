// `hostlocator-coordinator`: the coordinator daemon (coordinator/daemon.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 runtime failure; 2 bad
// command line or configuration.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>

#include "common/config.h"
#include "common/daemon_cli.h"
#include "common/process.h"
#include "common/version.h"
#include "coordinator/daemon.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "hostlocator-coordinator: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (hl::Status s = hl::DisableCoreDumps(); !s.ok())
    return Fail(s.message(), 1);
  CLI::App app{
      "hostlocator-coordinator: the job store and the broker that hands "
      "jobs to hostlocator-worker daemons. Stops cleanly on SIGTERM.",
      "hostlocator-coordinator"};
  app.set_version_flag("--version", std::string(hl::ToolVersion()));
  std::string config_path, data_dir, listen, log_level = "info";
  app.add_option("-c,--config", config_path,
                 "configuration file (default: $HOSTLOCATOR_CONFIG, else "
                 "built-in defaults; see config/hostlocator.toml)");
  app.add_option("--data", data_dir, "data folder (overrides run.data_dir)");
  app.add_option("--listen", listen,
                 "endpoint for workers (overrides coordinator.listen)");
  hl::AddLogLevelOption(app, &log_level);
  if (auto code = hl::ParseDaemonCommandLine(app, argc, argv, "coordinator",
                                             log_level)) {
    return *code;
  }

  auto config = hl::LoadConfiguration(config_path);
  if (!config.ok()) return Fail(config.status().message(), 2);
  if (!listen.empty()) {
    config->coordinator.listen = listen;
    config->digest = hl::ConfigDigest(*config);
  }
  if (data_dir.empty()) data_dir = config->run.data_dir;

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  auto daemon = hl::coordinator::CoordinatorDaemon::Start(*config, data_dir);
  if (!daemon.ok()) {
    const hl::StatusCode code = daemon.status().code();
    return Fail(daemon.status().message(),
                code == hl::StatusCode::kInvalidArgument ||
                        code == hl::StatusCode::kFailedPrecondition ||
                        code == hl::StatusCode::kNotFound
                    ? 2
                    : 1);
  }
  if (hl::Status s = (*daemon)->Serve(g_stop); !s.ok()) {
    return Fail(s.message(), 1);
  }
  return 0;
}
