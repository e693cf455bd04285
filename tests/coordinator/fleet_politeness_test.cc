// Fleet-wide politeness end to end: the coordinator's broker, three real
// workers (each its own event loop) and one counting HTTP server. The
// server never sees more connections open at once than the per-host cap,
// although the workers together would open hundreds.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "coordinator/broker.h"
#include "coordinator/ingest.h"
#include "tests/worker/loopback_servers.h"
#include "tests/worker/proxy_servers.h"
#include "tests/worker/test_geo.h"
#include "worker/worker.h"

namespace hl::coordinator {
namespace {

using worker::testing::ConcurrentHttpServer;
using worker::testing::DnsTestServer;

constexpr int kUrls = 1000;
constexpr int kWorkers = 3;
constexpr uint32_t kPerHostCap = 3;
constexpr char kHost[] = "one.example.test";
constexpr char kServerIp[] = "127.10.44.1";

TEST(FleetPolitenessEndToEnd, OneHostNeverSeesMoreThanTheCap) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("hl-fleet-politeness-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto geo_file = std::make_unique<worker::testing::TestGeo>(
      std::vector<worker::testing::TestNetwork>{
          {"127.10.0.0/16", "DE", 64510, "Sandbox Hosting DE"}});
  ASSERT_TRUE(geo_file->status().ok());
  auto dns = DnsTestServer::Start("127.53.44.1");
  ASSERT_NE(dns, nullptr);
  dns->Answer(kHost, DnsTestServer::kA,
              {DnsTestServer::A(kHost, kServerIp, 300)});
  auto server = ConcurrentHttpServer::Start(
      kServerIp, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      /*hold_ms=*/2);
  ASSERT_NE(server, nullptr);

  auto store = Store::Open(dir.string());
  ASSERT_TRUE(store.ok());
  std::string list;
  for (int i = 0; i < kUrls; ++i) {
    list += "http://" + std::string(kHost) + ":" +
            std::to_string(server->port()) + "/" + std::to_string(i) + "\n";
  }
  auto reader = InputReader::FromText(std::move(list));
  ASSERT_TRUE(reader.ok());
  auto ingested = IngestBatch(**store, **reader, BatchSpec{}, 1000, {});
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  ASSERT_EQ((*store)->pending_count(), static_cast<uint64_t>(kUrls));

  Config config = DefaultConfig();
  config.resolver.servers = {dns->address()};
  config.resolver.timeout_ms = 1000;
  config.resolver.tries = 2;
  config.safety.allow_cidrs = {net::Cidr::Parse("127.10.0.0/16").value()};
  // The workers' own limits are far above the fleet's.
  config.politeness.max_per_host = 1000;
  config.politeness.max_per_address = 1000;

  zmq::context_t context;
  BrokerOptions options;
  options.endpoint = "inproc://fleet-politeness";
  options.heartbeat_interval_ms = 200;
  options.politeness = {.per_host = kPerHostCap};
  Broker broker(&context, store->get(), options, SystemClockMs);
  ASSERT_TRUE(broker.Bind().ok());
  uint32_t located = 0;
  broker.set_result_sink([&](const pb::JobRecord&, std::string_view stored) {
    pb::Observation o;
    ASSERT_TRUE(
        o.ParseFromArray(stored.data(), static_cast<int>(stored.size())));
    if (o.http().status() == 200) ++located;
  });

  std::atomic<bool> stop_workers{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      worker::WorkerOptions wo;
      wo.endpoint = options.endpoint;
      wo.name = "fleet-" + std::to_string(i);
      wo.capacity = 200;
      wo.heartbeat_interval_ms = options.heartbeat_interval_ms;
      wo.heartbeat_liveness = options.heartbeat_liveness;
      worker::Worker w(
          &context, wo,
          [&, name = wo.name](worker::EventLoop* loop) {
            return worker::Prober::Create(
                config, geo_file->locator(),
                std::make_shared<const ProviderTable>(),
                {.tool_version = "hostlocator-test",
                 .config_digest = "c0ffee",
                 .worker_name = name},
                SystemClockMs, loop);
          },
          worker::SteadyClockMs);
      EXPECT_TRUE(w.Run(stop_workers).ok());
    });
  }
  std::atomic<bool> stop{false};
  Status served = broker.Run(stop, /*until_drained=*/true);
  stop_workers = true;
  if (served.ok()) served = broker.Drain(SystemClockMs() + 10000);
  for (auto& t : workers) t.join();
  ASSERT_TRUE(served.ok()) << served.ToString();

  EXPECT_EQ(broker.stats().results, static_cast<uint64_t>(kUrls));
  EXPECT_EQ(located, static_cast<uint32_t>(kUrls));
  EXPECT_EQ(server->accepted(), kUrls);
  EXPECT_LE(server->max_open(), static_cast<int>(kPerHostCap));
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hl::coordinator
