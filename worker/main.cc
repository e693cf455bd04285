// `hostlocator-worker`: the worker daemon. `--threads` event loops, each a
// Worker (worker/worker.h) with its own DEALER to the coordinator.
// Exit codes: 0 stopped by SIGTERM/SIGINT after draining; 1 runtime
// failure; 2 bad command line, configuration or missing data; 3 refused by
// the coordinator (another protocol version, or told to go): restarting
// does not help.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/curve.h"
#include "common/daemon_cli.h"
#include "common/process.h"
#include "common/version.h"
#include "worker/probe_setup.h"
#include "worker/worker.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& message, int code) {
  std::fprintf(stderr, "hostlocator-worker: %s\n", message.c_str());
  return code;
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
    return "worker";
  }
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  if (hl::Status s = hl::DisableCoreDumps(); !s.ok())
    return Fail(s.message(), 1);
  CLI::App app{
      "hostlocator-worker: probes the jobs a hostlocator-coordinator hands "
      "out. SIGTERM drains: probes under way finish and are reported, the "
      "rest goes back to the queue.",
      "hostlocator-worker"};
  app.set_version_flag("--version", std::string(hl::ToolVersion()));
  std::string connect, config_path, name = HostName(), log_level = "info";
  uint32_t threads = 0, in_flight = 0;
  app.add_option("--connect", connect,
                 "the coordinator's endpoint, e.g. tcp://10.0.0.5:5555")
      ->required();
  app.add_option("-c,--config", config_path,
                 "configuration file (default: $HOSTLOCATOR_CONFIG, else "
                 "built-in defaults; see config/hostlocator.toml)");
  app.add_option("--threads", threads,
                 "event-loop threads (overrides worker.threads; default one "
                 "per core)")
      ->check(CLI::Range(1, 256));
  app.add_option("--in-flight", in_flight,
                 "URLs in flight per thread (overrides worker.max_in_flight)")
      ->check(CLI::Range(1, 20000));
  app.add_option("--name", name,
                 "this worker's name in results and coordinator logs "
                 "(threads add /N)")
      ->capture_default_str();
  hl::AddLogLevelOption(app, &log_level);
  if (auto code =
          hl::ParseDaemonCommandLine(app, argc, argv, "worker", log_level)) {
    return *code;
  }

  auto config = hl::LoadConfiguration(config_path);
  if (!config.ok()) return Fail(config.status().message(), 2);
  if (threads) config->worker.threads = threads;
  if (in_flight) config->worker.max_in_flight = in_flight;
  config->digest = hl::ConfigDigest(*config);
  const hl::WorkerConfig& wc = config->worker;

  hl::worker::WorkerOptions base;
  base.endpoint = connect;
  base.capacity = wc.max_in_flight;
  base.lease_ahead_ms = wc.lease_ahead_ms;
  base.heartbeat_interval_ms = config->coordinator.heartbeat_interval_ms;
  base.heartbeat_liveness = config->coordinator.heartbeat_liveness;
  // Probes end within probe_timeout_ms; a second more for their results.
  base.drain_timeout_ms = wc.probe_timeout_ms + 1000;
  const bool curve = !wc.secret_key_file.empty();
  if (hl::Status s = hl::CheckTransportSecurity(
          connect, curve, wc.allow_plaintext, "worker.allow_plaintext");
      !s.ok()) {
    return Fail(s.message(), 2);
  }
  if (curve) {
    auto pair = hl::ReadSecretKeyFile(wc.secret_key_file);
    if (!pair.ok()) return Fail(pair.status().message(), 2);
    auto server = hl::ReadPublicKeyFile(wc.coordinator_public_key_file);
    if (!server.ok()) return Fail(server.status().message(), 2);
    base.curve_public_key = pair->public_z85;
    base.curve_secret_key = pair->secret_z85;
    base.curve_server_key = *server;
    spdlog::info("CURVE on: worker key {}, coordinator key {}",
                 hl::KeyFingerprint(pair->public_z85),
                 hl::KeyFingerprint(*server));
  }
  auto data = hl::worker::LoadProbeData(*config);
  if (!data.ok()) return Fail(data.status().message(), 2);

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  zmq::context_t context;
  const uint32_t count = hl::worker::WorkerThreads(*config);
  std::vector<hl::Status> outcomes(count);
  std::vector<std::thread> loops;
  hl::worker::WorkerStatsBoard stats(name, count);
  spdlog::info("worker {}: {} threads x {} in flight, coordinator {}", name,
               count, base.capacity, connect);
  for (uint32_t i = 0; i < count; ++i) {
    loops.emplace_back([&, i] {
      hl::worker::WorkerOptions options = base;
      options.name = count == 1 ? name : name + "/" + std::to_string(i + 1);
      options.stats = &stats;
      options.stats_slot = i;
      hl::worker::Worker worker(
          &context, options,
          hl::worker::MakeProberFactory(*config, *data, options.name),
          hl::worker::SteadyClockMs);
      outcomes[i] = worker.Run(g_stop);
      // One thread refused or failed: the others stop too.
      if (!outcomes[i].ok()) g_stop.store(true);
    });
  }
  for (std::thread& t : loops) t.join();
  for (const hl::Status& s : outcomes) {
    if (s.ok()) continue;
    return Fail(s.message(),
                s.code() == hl::StatusCode::kFailedPrecondition ? 3 : 1);
  }
  spdlog::info("worker {}: drained and stopped", name);
  return 0;
}
