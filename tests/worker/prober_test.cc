// The whole pipeline for one URL against loopback servers: the test DNS
// server, the raw HTTP server and an MMDB fixture mapping the sandbox
// addresses to countries.
#include "worker/prober.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "tests/worker/hostile_servers.h"
#include "tests/worker/loopback_servers.h"
#include "tests/worker/proxy_servers.h"
#include "tests/worker/test_geo.h"

namespace hl::worker {
namespace {

using ::testing::Contains;
using testing::DnsTestServer;
using ::testing::ElementsAre;
using testing::HttpTestServer;

constexpr int64_t kNow = 1'764'381'692'000;
constexpr char kMarker[] = "HOSTLOCATOR-BODY-MARKER-51c0de";
constexpr char kResponse[] =
    "HTTP/1.1 200 OK\r\nServer: sandbox\r\nContent-Length: 64\r\n\r\n";

net::Cidr ParseCidr(const char* text) {
  auto cidr = net::Cidr::Parse(text);
  EXPECT_TRUE(cidr.ok()) << text;
  return cidr.value();
}

// The record type of every DNS question asked, in order.
std::vector<std::string> QueryTypes(const pb::Observation& obs) {
  std::vector<std::string> types;
  for (const pb::DnsQuery& query : obs.dns().queries()) {
    types.push_back(query.type());
  }
  return types;
}

std::vector<std::string> Countries(const pb::Observation& obs) {
  return {obs.verdict().hosting_countries().begin(),
          obs.verdict().hosting_countries().end()};
}

class ProberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    geo_file_ =
        std::make_unique<testing::TestGeo>(std::vector<testing::TestNetwork>{
            {"127.10.0.0/16", "DE", 64510, "Sandbox Hosting DE"},
            {"127.20.0.0/16", "FR", 64520, "Sandbox Hosting FR"},
            {"127.30.0.0/16", "NL", 64530, "Sandbox Private NL"}});
    ASSERT_TRUE(geo_file_->status().ok()) << geo_file_->status().ToString();
    geo_ = geo_file_->locator();

    // A CDN recognised by the test server's Server header, the CNAME
    // target and the AS of 127.10/16.
    auto providers = ParseProviders(R"(
[[provider]]
name = "Sandbox CDN"
category = "cdn"
country = "US"
abuse = "abuse@cdn.test"
source = "prober_test"
verified_on = 2026-11-29
asns = [64510]
cname_suffixes = ["cdn.test"]
headers = [{ name = "server", equals = "sandbox" }]
)",
                                    "prober_test");
    ASSERT_TRUE(providers.ok()) << providers.status().ToString();
    providers_ =
        std::make_shared<const ProviderTable>(std::move(providers).value());

    dns_ = DnsTestServer::Start("127.53.1.1");
    ASSERT_NE(dns_, nullptr);
  }

  // The sandbox: 127.10/16 and 127.20/16 and ::1 may be probed, 127.30/16
  // may not.
  Config BaseConfig() const {
    Config config = DefaultConfig();
    config.resolver.servers = {dns_->address()};
    config.resolver.timeout_ms = 500;
    config.resolver.tries = 1;
    config.http.connect_timeout_ms = 1000;
    config.http.timeout_ms = 2000;
    config.safety.allow_cidrs = {ParseCidr("127.10.0.0/16"),
                                 ParseCidr("127.20.0.0/16"), ParseCidr("::1")};
    return config;
  }

  std::unique_ptr<Prober> MakeProber(const Config& config) {
    auto prober = Prober::Create(
        config, geo_, providers_,
        {.tool_version = "hostlocator-test",
         .config_digest = "c0ffee",
         .worker_name = "worker-test-1"},
        [] { return kNow; }, loop_.get());
    EXPECT_TRUE(prober.ok()) << prober.status().ToString();
    return std::move(prober).value();
  }

  std::unique_ptr<Prober> MakeProber(uint32_t max_redirects = 10,
                                     bool dns_only = false) {
    Config config = BaseConfig();
    config.http.max_redirects = max_redirects;
    config.worker.dns_only = dns_only;
    return MakeProber(config);
  }

  // Probes every URL at once and runs the loop until all are back.
  std::vector<pb::Observation> RunAll(Prober& prober,
                                      const std::vector<std::string>& urls) {
    std::vector<pb::Observation> done;
    for (const std::string& url : urls) {
      prober.Probe(
          url, pb::RequestContext::default_instance(),
          [&](pb::Observation obs) { done.push_back(std::move(obs)); });
    }
    EXPECT_TRUE(
        loop_->RunUntil([&] { return done.size() == urls.size(); }).ok());
    return done;
  }

  // Probes `url` and runs the loop until its observation is back.
  pb::Observation Run(std::unique_ptr<Prober> prober, const std::string& url) {
    std::optional<pb::Observation> obs;
    prober->Probe(url, pb::RequestContext::default_instance(),
                  [&](pb::Observation done) { obs = std::move(done); });
    EXPECT_FALSE(obs.has_value()) << "done ran inside Probe";
    EXPECT_TRUE(loop_->RunUntil([&] { return obs.has_value(); }).ok());
    EXPECT_EQ(prober->in_flight(), 0u);
    return std::move(*obs);
  }

  static std::string Body() {
    return std::string(kMarker) + std::string(64 - sizeof(kMarker) + 1, 'b');
  }

  std::unique_ptr<testing::TestGeo> geo_file_;
  std::shared_ptr<const geo::GeoLocator> geo_;
  std::shared_ptr<const ProviderTable> providers_;
  std::unique_ptr<DnsTestServer> dns_;
  std::unique_ptr<EventLoop> loop_ = EventLoop::Create().value();
};

TEST_F(ProberTest, LocatesHostByTheAddressThatAnswered) {
  auto http = HttpTestServer::Start("127.10.0.5", kResponse + Body());
  ASSERT_NE(http, nullptr);
  const auto cname =
      DnsTestServer::Cname("www.example.test", "edge.cdn.test", 300);
  dns_->Answer("www.example.test", DnsTestServer::kA,
               {cname, DnsTestServer::A("edge.cdn.test", "127.10.0.5", 60),
                DnsTestServer::A("edge.cdn.test", "127.20.0.6", 60)});
  dns_->Answer("www.example.test", DnsTestServer::kAaaa,
               {cname, DnsTestServer::Aaaa("edge.cdn.test", "::1", 60)});
  const std::string port = std::to_string(http->port());

  std::unique_ptr<Prober> prober = MakeProber();
  pb::Observation sources;
  ASSERT_TRUE(sources.ParseFromString(prober->data_sources()));
  const pb::Observation obs =
      Run(std::move(prober),
          "HTTP://WWW.Example.TEST:" + port + "/Reported/Path?q=1#fragment");
  http->Stop();

  EXPECT_EQ(obs.url(),
            "http://www.example.test:" + port + "/Reported/Path?q=1");
  EXPECT_EQ(obs.host(), "www.example.test");
  EXPECT_EQ(obs.checked_at_unix_ms(), kNow);
  EXPECT_EQ(obs.tool_version(), "hostlocator-test");
  EXPECT_EQ(obs.config_digest(), "c0ffee");
  EXPECT_EQ(obs.worker(), "worker-test-1");
  // The provenance is the prober's, once, not copied into each probe.
  EXPECT_EQ(obs.data_sources_size(), 0);
  ASSERT_EQ(sources.data_sources_size(), 3);
  EXPECT_EQ(sources.data_sources(0).role(), "country");
  EXPECT_EQ(sources.data_sources(0).database_type(),
            "hostlocator-test-country-asn");
  EXPECT_EQ(sources.data_sources(0).build_epoch(), 1'750'000'000);
  // The exact file: its SHA-256.
  EXPECT_EQ(sources.data_sources(0).sha256(),
            Sha256FileHex(sources.data_sources(0).path()).value());
  EXPECT_EQ(sources.data_sources(1).role(), "asn");
  EXPECT_EQ(sources.data_sources(2).role(), "providers");

  ASSERT_EQ(obs.dns().cname_chain_size(), 2);
  EXPECT_EQ(obs.dns().cname_chain(1), "edge.cdn.test");
  EXPECT_THAT(QueryTypes(obs),
              ElementsAre("A", "AAAA", "NS", "PTR", "PTR", "PTR"));
  ASSERT_EQ(obs.addresses_size(), 3);
  EXPECT_EQ(obs.addresses(0).ip(), "127.10.0.5");
  EXPECT_EQ(obs.addresses(0).country(), "DE");
  EXPECT_EQ(obs.addresses(0).asn(), 64510u);
  EXPECT_EQ(obs.addresses(0).as_org(), "Sandbox Hosting DE");
  EXPECT_EQ(obs.addresses(0).network(), "127.10.0.0/16");
  EXPECT_EQ(obs.addresses(1).ip(), "127.20.0.6");
  EXPECT_EQ(obs.addresses(1).country(), "FR");
  EXPECT_EQ(obs.addresses(2).ip(), "::1");
  EXPECT_EQ(obs.addresses(2).country(), "");

  EXPECT_EQ(obs.pinned_ip(), "127.10.0.5");
  EXPECT_EQ(obs.http().status(), 200);
  EXPECT_EQ(obs.http().connected_ip(), "127.10.0.5");
  EXPECT_EQ(obs.http().body_bytes(), 0u);
  EXPECT_EQ(obs.SerializeAsString().find(kMarker), std::string::npos);
  EXPECT_EQ(http->accepted(), 1);

  EXPECT_EQ(obs.status(), "located");
  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(Countries(obs), std::vector<std::string>{"DE"});
  EXPECT_FALSE(obs.verdict().reasons().empty());

  // Providers are detected before the verdict, which names them.
  ASSERT_EQ(obs.providers_size(), 1);
  const pb::ProviderMatch& cdn = obs.providers(0);
  EXPECT_EQ(cdn.name(), "Sandbox CDN");
  ASSERT_EQ(cdn.evidence_size(), 3);
  EXPECT_EQ(cdn.evidence(0).kind(), "header");
  EXPECT_EQ(cdn.evidence(0).value(), "Server: sandbox");
  EXPECT_EQ(cdn.evidence(1).kind(), "cname");
  EXPECT_EQ(cdn.evidence(1).value(), "edge.cdn.test");
  EXPECT_EQ(cdn.evidence(2).kind(), "asn");
  EXPECT_EQ(cdn.evidence(2).value(), "127.10.0.5");
  EXPECT_THAT(obs.verdict().reasons(),
              Contains("Sandbox CDN (cdn, legal country US) is in front: "
                       "origin hidden; refer to the provider (abuse: "
                       "abuse@cdn.test)"));
  EXPECT_EQ(obs.verdict().jurisdiction().attribution(), "origin_hidden");
  EXPECT_THAT(obs.verdict().jurisdiction().primary_countries(),
              ElementsAre("US"));
}

TEST_F(ProberTest, PinsFirstAaaaWhenThereIsNoA) {
  auto http = HttpTestServer::Start("::1", kResponse + Body());
  if (http == nullptr) GTEST_SKIP() << "no IPv6 loopback";
  dns_->Answer("v6.example.test", DnsTestServer::kAaaa,
               {DnsTestServer::Aaaa("v6.example.test", "::1", 60)});

  const pb::Observation obs =
      Run(MakeProber(),
          "http://v6.example.test:" + std::to_string(http->port()) + "/");

  EXPECT_EQ(obs.pinned_ip(), "::1");
  EXPECT_EQ(obs.http().status(), 200);
  EXPECT_EQ(obs.http().connected_ip(), "::1");
}

TEST_F(ProberTest, NeverProbesAResolvedAddressOutsideTheAllowlist) {
  auto http = HttpTestServer::Start("127.30.0.1", kResponse + Body());
  ASSERT_NE(http, nullptr);
  dns_->Answer("rebind.example.test", DnsTestServer::kA,
               {DnsTestServer::A("rebind.example.test", "127.30.0.1", 1)});

  const pb::Observation obs =
      Run(MakeProber(),
          "http://rebind.example.test:" + std::to_string(http->port()) + "/");
  http->Stop();

  EXPECT_EQ(http->accepted(), 0);
  EXPECT_EQ(obs.pinned_ip(), "127.30.0.1");
  EXPECT_EQ(obs.http().error().error_class(), "refused_private_target");
  EXPECT_EQ(obs.http().status(), 0);
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).country(), "NL");
}

TEST_F(ProberTest, IpLiteralNeedsNoDns) {
  auto http = HttpTestServer::Start("127.20.0.9", kResponse + Body());
  ASSERT_NE(http, nullptr);

  const pb::Observation obs = Run(
      MakeProber(), "http://127.20.0.9:" + std::to_string(http->port()) + "/x");

  EXPECT_FALSE(obs.has_dns());
  EXPECT_EQ(dns_->queries(), 0);
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).country(), "FR");
  EXPECT_EQ(obs.pinned_ip(), "127.20.0.9");
  EXPECT_EQ(obs.http().status(), 200);
  EXPECT_EQ(obs.status(), "located");
  EXPECT_EQ(Countries(obs), std::vector<std::string>{"FR"});
}

TEST_F(ProberTest, RecordsNameServersAndReverseNames) {
  dns_->Answer("shop.example.test", DnsTestServer::kA,
               {DnsTestServer::A("shop.example.test", "127.30.0.7", 60),
                DnsTestServer::A("shop.example.test", "127.30.0.8", 60)});
  dns_->Answer("example.test", DnsTestServer::kNs,
               {DnsTestServer::Ns("example.test", "ns1.hoster.test", 3600),
                DnsTestServer::Ns("example.test", "ns2.hoster.test", 3600)});
  dns_->Answer("7.0.30.127.in-addr.arpa", DnsTestServer::kPtr,
               {DnsTestServer::Ptr("7.0.30.127.in-addr.arpa",
                                   "vps7.hoster.test", 3600)});

  const pb::Observation obs = Run(MakeProber(), "http://shop.example.test/");

  EXPECT_EQ(obs.dns().ns_domain(), "example.test");
  EXPECT_THAT(obs.dns().ns(),
              ElementsAre("ns1.hoster.test", "ns2.hoster.test"));
  ASSERT_EQ(obs.dns().ptr_size(), 2);
  EXPECT_EQ(obs.dns().ptr(0).ip(), "127.30.0.7");
  EXPECT_THAT(obs.dns().ptr(0).names(), ElementsAre("vps7.hoster.test"));
  EXPECT_EQ(obs.dns().ptr(1).ip(), "127.30.0.8");
  EXPECT_TRUE(obs.dns().ptr(1).names().empty());  // NXDOMAIN: no PTR
  EXPECT_THAT(QueryTypes(obs), ElementsAre("A", "AAAA", "NS", "PTR", "PTR"));
  // NS and PTR failures never make the observation fail.
  EXPECT_FALSE(obs.dns().has_error());
}

std::string Redirect(int status, const std::string& location) {
  return "HTTP/1.1 " + std::to_string(status) +
         " Moved\r\nLocation: " + location + "\r\nContent-Length: 0\r\n\r\n";
}

TEST_F(ProberTest, FollowsRedirectsAndTheLastHopDecides) {
  auto final_server = HttpTestServer::Start("127.20.0.22", kResponse + Body());
  ASSERT_NE(final_server, nullptr);
  const std::string final_url =
      "http://final.example.test:" + std::to_string(final_server->port()) +
      "/landing";
  auto first = HttpTestServer::Start("127.10.0.21", Redirect(301, final_url));
  ASSERT_NE(first, nullptr);
  dns_->Answer("start.example.test", DnsTestServer::kA,
               {DnsTestServer::A("start.example.test", "127.10.0.21", 60)});
  dns_->Answer("final.example.test", DnsTestServer::kA,
               {DnsTestServer::A("final.example.test", "127.20.0.22", 60)});

  const pb::Observation obs =
      Run(MakeProber(),
          "http://start.example.test:" + std::to_string(first->port()) + "/");

  EXPECT_EQ(obs.http().status(), 301);
  ASSERT_EQ(obs.redirects_size(), 1);
  const pb::Hop& hop = obs.redirects(0);
  EXPECT_EQ(hop.url(), final_url);
  EXPECT_EQ(hop.host(), "final.example.test");
  ASSERT_EQ(hop.addresses_size(), 1);
  EXPECT_EQ(hop.addresses(0).country(), "FR");
  EXPECT_EQ(hop.pinned_ip(), "127.20.0.22");
  EXPECT_EQ(hop.http().status(), 200);
  EXPECT_FALSE(obs.has_redirect_error());
  EXPECT_EQ(obs.status(), "located");
  EXPECT_EQ(Countries(obs), std::vector<std::string>{"FR"});
  ASSERT_GT(obs.verdict().reasons_size(), 0);
  EXPECT_EQ(obs.verdict().reasons(0).rfind("followed 1 redirect(s)", 0), 0u)
      << obs.verdict().reasons(0);
  EXPECT_EQ(final_server->accepted(), 1);
}

TEST_F(ProberTest, RelativeRedirectLoopStopsWithTheReason) {
  auto server = HttpTestServer::Start("127.10.0.23", Redirect(302, "/again"));
  ASSERT_NE(server, nullptr);
  dns_->Answer("loop.example.test", DnsTestServer::kA,
               {DnsTestServer::A("loop.example.test", "127.10.0.23", 60)});
  const std::string base =
      "http://loop.example.test:" + std::to_string(server->port());

  const pb::Observation obs = Run(MakeProber(), base + "/start");

  ASSERT_EQ(obs.redirects_size(), 1);
  EXPECT_EQ(obs.redirects(0).url(), base + "/again");
  EXPECT_EQ(obs.redirect_error().error_class(), "redirect_loop");
  EXPECT_EQ(obs.status(), "located");
  EXPECT_EQ(Countries(obs), std::vector<std::string>{"DE"});
  EXPECT_EQ(server->accepted(), 2);  // /start and /again, never /again twice
}

TEST_F(ProberTest, RedirectLimitAndInvalidLocationStopFollowing) {
  auto server =
      HttpTestServer::Start("127.10.0.24", Redirect(301, "/elsewhere"));
  ASSERT_NE(server, nullptr);
  const std::string url =
      "http://127.10.0.24:" + std::to_string(server->port()) + "/";
  const pb::Observation none = Run(MakeProber(/*max_redirects=*/0), url);
  EXPECT_EQ(none.redirects_size(), 0);
  EXPECT_EQ(none.redirect_error().error_class(), "too_many_redirects");
  EXPECT_EQ(Countries(none), std::vector<std::string>{"DE"});

  auto bad = HttpTestServer::Start("127.10.0.25",
                                   Redirect(302, "ftp://files.example/x"));
  ASSERT_NE(bad, nullptr);
  const pb::Observation invalid = Run(
      MakeProber(), "http://127.10.0.25:" + std::to_string(bad->port()) + "/");
  EXPECT_EQ(invalid.redirects_size(), 0);
  EXPECT_EQ(invalid.redirect_error().error_class(), "invalid_redirect");
}

// A hop that might end after worker.probe_timeout_ms is not started.
TEST_F(ProberTest, ProbeTimeoutEndsTheChainBeforeAHopThatMightNotFit) {
  // The first request takes 20 ms; then one more request's slowest case
  // (500 ms DNS + 2000 ms HTTP) no longer fits in 2500 ms.
  auto server = testing::ConcurrentHttpServer::Start(
      "127.10.0.27", Redirect(301, "/elsewhere"), /*hold_ms=*/20);
  ASSERT_NE(server, nullptr);
  Config config = BaseConfig();
  config.worker.probe_timeout_ms = 2500;

  const pb::Observation obs =
      Run(MakeProber(config),
          "http://127.10.0.27:" + std::to_string(server->port()) + "/");

  EXPECT_EQ(obs.http().status(), 301);
  EXPECT_EQ(obs.redirects_size(), 0);
  EXPECT_EQ(obs.redirect_error().error_class(), "probe_timeout");
  EXPECT_EQ(server->accepted(), 1);
  EXPECT_EQ(Countries(obs), std::vector<std::string>{"DE"});
}

TEST_F(ProberTest, RedirectToAPrivateAddressIsNeverConnected) {
  auto inside = HttpTestServer::Start("127.30.0.5", kResponse + Body());
  ASSERT_NE(inside, nullptr);
  auto server = HttpTestServer::Start(
      "127.10.0.26", Redirect(302, "http://127.30.0.5:" +
                                       std::to_string(inside->port()) + "/"));
  ASSERT_NE(server, nullptr);

  const pb::Observation obs =
      Run(MakeProber(),
          "http://127.10.0.26:" + std::to_string(server->port()) + "/");
  inside->Stop();

  ASSERT_EQ(obs.redirects_size(), 1);
  EXPECT_EQ(obs.redirects(0).http().error().error_class(),
            "refused_private_target");
  EXPECT_EQ(inside->accepted(), 0);
}

// Each hop's name is resolved and its address checked before any
// connection: a second redirect to a name that resolves outside the
// allowlist gets none.
TEST_F(ProberTest, ALaterHopResolvedToAPrivateAddressIsNeverConnected) {
  auto inside = HttpTestServer::Start("127.30.0.7", kResponse + Body());
  ASSERT_NE(inside, nullptr);
  const std::string port = std::to_string(inside->port());
  auto middle = HttpTestServer::Start(
      "127.20.0.27",
      Redirect(302, "http://rebound.example.test:" + port + "/"));
  ASSERT_NE(middle, nullptr);
  auto first = HttpTestServer::Start(
      "127.10.0.27", Redirect(301, "http://middle.example.test:" +
                                       std::to_string(middle->port()) + "/"));
  ASSERT_NE(first, nullptr);
  dns_->Answer("start.example.test", DnsTestServer::kA,
               {DnsTestServer::A("start.example.test", "127.10.0.27", 60)});
  dns_->Answer("middle.example.test", DnsTestServer::kA,
               {DnsTestServer::A("middle.example.test", "127.20.0.27", 60)});
  dns_->Answer("rebound.example.test", DnsTestServer::kA,
               {DnsTestServer::A("rebound.example.test", "127.30.0.7", 60)});

  const pb::Observation obs =
      Run(MakeProber(),
          "http://start.example.test:" + std::to_string(first->port()) + "/");
  inside->Stop();

  ASSERT_EQ(obs.redirects_size(), 2);
  EXPECT_EQ(obs.redirects(0).http().status(), 302);
  const pb::Hop& rebound = obs.redirects(1);
  EXPECT_EQ(rebound.host(), "rebound.example.test");
  EXPECT_EQ(rebound.pinned_ip(), "127.30.0.7");
  EXPECT_EQ(rebound.http().error().error_class(), "refused_private_target");
  EXPECT_EQ(inside->accepted(), 0);
  EXPECT_EQ(middle->accepted(), 1);
}

TEST_F(ProberTest, NxdomainEndsBeforeHttp) {
  const pb::Observation obs =
      Run(MakeProber(), "http://gone.example.test/page");

  EXPECT_EQ(obs.status(), "unresolved");
  EXPECT_EQ(obs.error().error_class(), "nxdomain");
  EXPECT_EQ(obs.dns().error().error_class(), "nxdomain");
  // The registrable domain may exist: its NS are asked all the same.
  EXPECT_THAT(QueryTypes(obs), ElementsAre("A", "AAAA", "NS"));
  EXPECT_FALSE(obs.has_http());
  EXPECT_TRUE(obs.pinned_ip().empty());
  EXPECT_TRUE(Countries(obs).empty());
}

TEST_F(ProberTest, DnsOnlyLocatesWithoutAnyConnection) {
  auto http = HttpTestServer::Start("127.10.0.31", kResponse + Body());
  ASSERT_NE(http, nullptr);
  dns_->Answer("quiet.example.test", DnsTestServer::kA,
               {DnsTestServer::A("quiet.example.test", "127.10.0.31", 60),
                DnsTestServer::A("quiet.example.test", "127.20.0.31", 60)});

  const pb::Observation obs =
      Run(MakeProber(/*max_redirects=*/10, /*dns_only=*/true),
          "http://quiet.example.test:" + std::to_string(http->port()) + "/");
  http->Stop();

  EXPECT_EQ(http->accepted(), 0);
  EXPECT_FALSE(obs.has_http());
  EXPECT_EQ(obs.pinned_ip(), "127.10.0.31");
  EXPECT_EQ(obs.status(), "located");
  // Without an answering address, every resolved address counts.
  EXPECT_EQ(Countries(obs), (std::vector<std::string>{"DE", "FR"}));
}

// The politeness caps hold at the server: 12 URLs on one host with
// max_per_host 2 never make it hold more than 2 connections, yet 2 are held
// at once (the probes do run concurrently), and the waits are recorded.
TEST_F(ProberTest, PerHostCapHoldsAtTheServer) {
  auto http = testing::ConcurrentHttpServer::Start("127.10.0.40", kResponse,
                                                   /*hold_ms=*/100);
  ASSERT_NE(http, nullptr);
  dns_->Answer("busy.example.test", DnsTestServer::kA,
               {DnsTestServer::A("busy.example.test", "127.10.0.40", 60)});
  Config config = BaseConfig();
  config.politeness.max_per_host = 2;
  std::vector<std::string> urls;
  for (int i = 0; i < 12; ++i) {
    urls.push_back("http://busy.example.test:" + std::to_string(http->port()) +
                   "/" + std::to_string(i));
  }
  auto prober = MakeProber(config);

  const std::vector<pb::Observation> done = RunAll(*prober, urls);

  EXPECT_EQ(http->max_open(), 2);
  EXPECT_EQ(http->accepted(), 12);
  uint32_t longest_wait_us = 0;
  for (const pb::Observation& obs : done) {
    EXPECT_EQ(obs.http().status(), 200) << obs.url();
    longest_wait_us =
        std::max(longest_wait_us, obs.http().politeness_wait_us());
  }
  // The last pair waited for five pairs of 100 ms.
  EXPECT_GE(longest_wait_us, 400'000u);
}

// Shared hosting: many names on one address share the per-address cap.
TEST_F(ProberTest, PerAddressCapHoldsAcrossHosts) {
  auto http = testing::ConcurrentHttpServer::Start("127.10.0.41", kResponse,
                                                   /*hold_ms=*/100);
  ASSERT_NE(http, nullptr);
  Config config = BaseConfig();
  config.politeness.max_per_host = 4;
  config.politeness.max_per_address = 3;
  std::vector<std::string> urls;
  for (int i = 0; i < 12; ++i) {
    const std::string host = "site" + std::to_string(i) + ".example.test";
    dns_->Answer(host, DnsTestServer::kA,
                 {DnsTestServer::A(host, "127.10.0.41", 60)});
    urls.push_back("http://" + host + ":" + std::to_string(http->port()) + "/");
  }
  auto prober = MakeProber(config);

  const std::vector<pb::Observation> done = RunAll(*prober, urls);

  EXPECT_EQ(http->max_open(), 3);
  EXPECT_EQ(http->accepted(), 12);
  for (const pb::Observation& obs : done) {
    EXPECT_EQ(obs.http().status(), 200) << obs.url();
  }
}

// min_host_interval_ms spaces the starts of the HEADs to one host.
TEST_F(ProberTest, MinimumIntervalSpacesRequestsToOneHost) {
  auto http = testing::ConcurrentHttpServer::Start("127.10.0.42", kResponse,
                                                   /*hold_ms=*/0);
  ASSERT_NE(http, nullptr);
  Config config = BaseConfig();
  config.politeness.min_host_interval_ms = 150;
  std::vector<std::string> urls;
  for (int i = 0; i < 4; ++i) {
    urls.push_back("http://127.10.0.42:" + std::to_string(http->port()) + "/" +
                   std::to_string(i));
  }
  auto prober = MakeProber(config);
  const auto start = std::chrono::steady_clock::now();

  const std::vector<pb::Observation> done = RunAll(*prober, urls);

  // Three intervals between four starts, on the loop's millisecond clock
  // (each reading may be up to 1 ms late against this one).
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(447));
  std::vector<uint32_t> waits;
  for (const pb::Observation& obs : done) {
    EXPECT_EQ(obs.http().status(), 200);
    waits.push_back(obs.http().politeness_wait_us());
  }
  std::sort(waits.begin(), waits.end());
  EXPECT_LT(waits[0], 50'000u);
  EXPECT_GE(waits[3], 440'000u);
}

TEST_F(ProberTest, DoneMayDestroyTheProber) {
  auto http = testing::ConcurrentHttpServer::Start("127.10.0.43", kResponse,
                                                   /*hold_ms=*/0);
  ASSERT_NE(http, nullptr);
  std::unique_ptr<Prober> prober = MakeProber();
  const std::string base =
      "http://127.10.0.43:" + std::to_string(http->port()) + "/";
  int done = 0;
  for (const char* path : {"a", "b", "c"}) {
    prober->Probe(base + path, pb::RequestContext::default_instance(),
                  [&](pb::Observation) {
                    ++done;
                    prober.reset();
                  });
  }
  ASSERT_TRUE(loop_->RunUntil([&] { return prober == nullptr; }).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_->RunOnce(20).ok());
  EXPECT_EQ(done, 1);
}

// worker.probe_timeout_ms is a hard deadline: whatever stage a probe is
// stuck in, it ends at the deadline with "probe_timeout" and what it had
// learned, its outstanding work cancelled, while the thread's other probes
// go on.
class ProbeDeadlineTest : public ProberTest {
 protected:
  static constexpr int64_t kDeadlineMs = 400;

  struct Timed {
    pb::Observation obs;
    std::chrono::milliseconds took{0};
  };

  Config DeadlineConfig() const {
    Config config = BaseConfig();
    config.worker.probe_timeout_ms = kDeadlineMs;
    return config;
  }

  // Probes every URL at once; each observation by URL with the time its
  // done came after the start. Fails a URL whose done runs twice.
  std::map<std::string, Timed> RunTimed(Prober& prober,
                                        const std::vector<std::string>& urls) {
    std::map<std::string, Timed> done;
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& url : urls) {
      prober.Probe(url, pb::RequestContext::default_instance(),
                   [&, url](pb::Observation obs) {
                     EXPECT_EQ(done.count(url), 0u) << url;
                     done[url] = {
                         std::move(obs),
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)};
                   });
    }
    EXPECT_TRUE(
        loop_->RunUntil([&] { return done.size() == urls.size(); }).ok());
    return done;
  }

  // Runs the loop for `ms` more (whatever the cancelled work still had
  // pending must not call back).
  void RunFor(int64_t ms) {
    const int64_t end = loop_->Now() + ms;
    while (loop_->Now() < end) ASSERT_TRUE(loop_->RunOnce(10).ok());
  }

  // Within the deadline plus a margin for a loaded machine; never before
  // it (the loop's clock reads whole milliseconds).
  static void ExpectEndedAtTheDeadline(const Timed& timed) {
    EXPECT_GE(timed.took.count(), kDeadlineMs - 2);
    EXPECT_LT(timed.took.count(), kDeadlineMs + 600);
  }
};

TEST_F(ProbeDeadlineTest, SilentResolverIsCutAtTheDeadline) {
  auto http = HttpTestServer::Start("127.10.0.60", kResponse);
  ASSERT_NE(http, nullptr);
  dns_->Answer("fine.example.test", DnsTestServer::kA,
               {DnsTestServer::A("fine.example.test", "127.10.0.60", 60)});
  // The stuck probe's A and AAAA are the first two questions asked; the
  // resolver would wait for them longer than the deadline.
  dns_->DropNext(2);
  Config config = DeadlineConfig();
  config.resolver.timeout_ms = 700;
  auto prober = MakeProber(config);
  const std::string stuck = "http://stuck.example.test/";
  const std::string fine =
      "http://fine.example.test:" + std::to_string(http->port()) + "/";

  std::map<std::string, Timed> done = RunTimed(*prober, {stuck, fine});
  // Past the resolver's timeout of the cancelled questions.
  RunFor(500);

  const pb::Observation& cut = done[stuck].obs;
  ExpectEndedAtTheDeadline(done[stuck]);
  EXPECT_EQ(cut.status(), "unresolved");
  EXPECT_EQ(cut.error().error_class(), "probe_timeout");
  EXPECT_EQ(cut.dns().error().error_class(), "probe_timeout");
  EXPECT_THAT(cut.dns().cname_chain(), ElementsAre("stuck.example.test"));
  ASSERT_EQ(cut.dns().queries_size(), 2);
  for (const pb::DnsQuery& query : cut.dns().queries()) {
    EXPECT_EQ(query.rcode(), "CANCELLED");
    EXPECT_EQ(query.resolver(), dns_->address());
  }
  EXPECT_FALSE(cut.has_http());
  EXPECT_EQ(done[fine].obs.status(), "located");
  EXPECT_EQ(done[fine].obs.http().status(), 200);
  EXPECT_EQ(prober->in_flight(), 0u);
  EXPECT_EQ(done.size(), 2u);
}

// The first probe's HEAD is never answered; the second, to the same host,
// waits for the host's minimum interval. Both are cut, the connection is
// closed and the address's one slot freed: a third probe, another name on
// that address, sends its HEAD at once.
TEST_F(ProbeDeadlineTest, SlowHeadAndPolitenessWaitAreCut) {
  auto hostile = testing::HostileHttpServer::Start("127.10.0.61");
  ASSERT_NE(hostile, nullptr);
  auto http = HttpTestServer::Start("127.20.0.61", kResponse);
  ASSERT_NE(http, nullptr);
  dns_->Answer("other.example.test", DnsTestServer::kA,
               {DnsTestServer::A("other.example.test", "127.10.0.61", 60)});
  Config config = DeadlineConfig();
  config.politeness.max_per_address = 1;
  config.politeness.min_host_interval_ms = 1000;
  auto prober = MakeProber(config);
  const std::string silent =
      "http://127.10.0.61:" + std::to_string(hostile->port()) + "/silent";
  const std::string fine =
      "http://127.20.0.61:" + std::to_string(http->port()) + "/";

  std::map<std::string, Timed> done =
      RunTimed(*prober, {silent + "?a", silent + "?b", fine});

  const pb::Observation& head = done[silent + "?a"].obs;
  const pb::Observation& waiting = done[silent + "?b"].obs;
  ExpectEndedAtTheDeadline(done[silent + "?a"]);
  ExpectEndedAtTheDeadline(done[silent + "?b"]);
  EXPECT_EQ(head.http().error().error_class(), "probe_timeout");
  EXPECT_THAT(head.http().error().message(),
              ::testing::HasSubstr("before the HEAD was answered"));
  EXPECT_EQ(waiting.http().error().error_class(), "probe_timeout");
  EXPECT_THAT(waiting.http().error().message(),
              ::testing::HasSubstr("waited for a politeness slot"));
  EXPECT_GE(waiting.http().politeness_wait_us(), 390'000u);
  // The addresses still give the country.
  EXPECT_EQ(Countries(head), std::vector<std::string>{"DE"});
  EXPECT_EQ(done[fine].obs.http().status(), 200);
  EXPECT_EQ(hostile->accepted(), 1);
  for (int i = 0; i < 100 && hostile->open_connections() > 0; ++i) {
    RunFor(10);
  }
  EXPECT_EQ(hostile->open_connections(), 0);

  const std::string other =
      "http://other.example.test:" + std::to_string(hostile->port()) +
      "/silent";
  std::map<std::string, Timed> again = RunTimed(*prober, {other});
  EXPECT_THAT(again[other].obs.http().error().message(),
              ::testing::HasSubstr("before the HEAD was answered"));
  EXPECT_EQ(hostile->accepted(), 2);
  EXPECT_EQ(prober->in_flight(), 0u);
}

// A chain of quick hops on one host whose minimum interval outlasts the
// deadline: the first hop is cut while it waits, the first request kept.
TEST_F(ProbeDeadlineTest, RedirectChainIsCutInAHop) {
  auto hostile = testing::HostileHttpServer::Start("127.10.0.62");
  ASSERT_NE(hostile, nullptr);
  Config config = DeadlineConfig();
  // One request's slowest case (100 + 150 ms) fits before the deadline, so
  // the hop starts; the interval then holds it past the deadline.
  config.resolver.timeout_ms = 100;
  config.http.connect_timeout_ms = 150;
  config.http.timeout_ms = 150;
  config.politeness.min_host_interval_ms = 1000;
  auto prober = MakeProber(config);
  const std::string chain =
      "http://127.10.0.62:" + std::to_string(hostile->port()) + "/hop/0";

  std::map<std::string, Timed> done = RunTimed(*prober, {chain});

  const pb::Observation& obs = done[chain].obs;
  ExpectEndedAtTheDeadline(done[chain]);
  EXPECT_EQ(obs.http().status(), 302);
  ASSERT_EQ(obs.redirects_size(), 1);
  EXPECT_EQ(obs.redirects(0).http().error().error_class(), "probe_timeout");
  EXPECT_FALSE(obs.has_redirect_error());
  EXPECT_EQ(Countries(obs), std::vector<std::string>{"DE"});
  EXPECT_EQ(hostile->accepted(), 1);
}

TEST_F(ProberTest, OnionIsNotResolved) {
  const pb::Observation obs = Run(
      MakeProber(),
      "http://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/");

  EXPECT_EQ(obs.status(), "unresolved");
  EXPECT_EQ(obs.error().error_class(), "not_attributable");
  EXPECT_EQ(dns_->queries(), 0);
  EXPECT_FALSE(obs.has_dns());
  EXPECT_FALSE(obs.has_http());
  EXPECT_EQ(obs.checked_at_unix_ms(), kNow);
}

TEST_F(ProberTest, RejectedUrlIsAnError) {
  const pb::Observation obs = Run(MakeProber(), "ftp://example.test/file");

  EXPECT_EQ(obs.status(), "error");
  EXPECT_EQ(obs.error().error_class(), "invalid_url");
  EXPECT_NE(obs.error().message().find("unsupported scheme"),
            std::string::npos);
  EXPECT_EQ(obs.url(), "ftp://example.test/file");
  EXPECT_EQ(dns_->queries(), 0);
  EXPECT_FALSE(obs.has_http());
  EXPECT_EQ(obs.checked_at_unix_ms(), kNow);
}

// Evidence every result carries: start and end of the probe, and the
// referral directory beside the other data sources.
TEST_F(ProberTest, RecordsFinishTimeAndReferralDirectory) {
  auto routing = std::make_shared<ReferralRouting>();
  routing->home_country = "DE";
  routing->directory.path = "/etc/hostlocator/referral.toml";
  routing->directory.sha256 = std::string(64, 'a');
  for (const char* date : {"2026-03-01", "2026-05-02", ""}) {
    routing->directory.targets.emplace_back().verified_on = date;
  }
  int64_t now = kNow;
  auto prober = Prober::Create(
      BaseConfig(), geo_, providers_, {}, [&now] { return now++; }, loop_.get(),
      routing);
  ASSERT_TRUE(prober.ok()) << prober.status().ToString();
  pb::Observation sources;
  ASSERT_TRUE(sources.ParseFromString((*prober)->data_sources()));
  const pb::Observation obs = Run(
      std::move(prober).value(),
      "http://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/");

  EXPECT_EQ(obs.checked_at_unix_ms(), kNow);
  EXPECT_GT(obs.finished_at_unix_ms(), obs.checked_at_unix_ms());
  ASSERT_EQ(sources.data_sources_size(), 4);
  const pb::DataSource& referrals = sources.data_sources(3);
  EXPECT_EQ(referrals.role(), "referrals");
  EXPECT_EQ(referrals.database_type(), "hostlocator-referrals (unverified)");
  EXPECT_EQ(referrals.path(), "/etc/hostlocator/referral.toml");
  EXPECT_EQ(referrals.sha256(), std::string(64, 'a'));
  EXPECT_EQ(referrals.build_epoch(), 1777680000);  // 2026-05-02
}

TEST(ProberCreateTest, NeedsAGeolocator) {
  auto loop = EventLoop::Create().value();
  auto prober = Prober::Create(
      DefaultConfig(), nullptr, std::make_shared<const ProviderTable>(), {},
      [] { return kNow; }, loop.get());
  ASSERT_FALSE(prober.ok());
  EXPECT_EQ(prober.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ProberTest, NeedsAProviderTable) {
  auto prober = Prober::Create(
      DefaultConfig(), geo_, nullptr, {}, [] { return kNow; }, loop_.get());
  ASSERT_FALSE(prober.ok());
  EXPECT_EQ(prober.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hl::worker
