// DNS goes only to the configured resolvers: c-ares reads no system file
// to pick a server or a search domain (/etc/resolv.conf, nsswitch.conf,
// /etc/hosts), and libcurl never resolves a name, also through a proxy (it
// is handed the pinned address). This binary interposes fopen and
// getaddrinfo, so it sees every call the libraries make; its own binary
// keeps the interposers away from the other tests.
#include <ares.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netdb.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "tests/worker/proxy_servers.h"
#include "tests/worker/test_geo.h"
#include "worker/dns_resolver.h"
#include "worker/prober.h"

namespace {

// What the interposers saw, from every thread.
struct Calls {
  std::mutex mutex;
  std::vector<std::string> opened;    // fopen's paths
  std::vector<std::string> resolved;  // getaddrinfo's names
};

Calls& Seen() {
  static Calls* calls = new Calls;
  return *calls;
}

void Note(std::vector<std::string> Calls::*list, const char* text) {
  Calls& calls = Seen();
  std::lock_guard<std::mutex> lock(calls.mutex);
  (calls.*list).push_back(text != nullptr ? text : "(null)");
}

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

FILE* fopen(const char* path, const char* mode) {
  static const auto next = Next<FILE* (*)(const char*, const char*)>("fopen");
  Note(&Calls::opened, path);
  return next(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  static const auto next = Next<FILE* (*)(const char*, const char*)>("fopen64");
  Note(&Calls::opened, path);
  return next(path, mode);
}

int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                addrinfo** res) {
  static const auto next =
      Next<int (*)(const char*, const char*, const addrinfo*, addrinfo**)>(
          "getaddrinfo");
  Note(&Calls::resolved, node);
  return next(node, service, hints, res);
}

}  // extern "C"

namespace hl::worker {
namespace {

using testing::DnsTestServer;
using testing::HttpTestServer;
using testing::ProxyTestServer;

// The files the system's resolver configuration lives in.
const std::vector<std::string> kSystemFiles = {
    "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf",
    "/etc/svc.conf"};

std::vector<std::string> SystemFilesOpened() {
  Calls& calls = Seen();
  std::lock_guard<std::mutex> lock(calls.mutex);
  std::vector<std::string> found;
  for (const std::string& path : calls.opened) {
    for (const std::string& file : kSystemFiles) {
      if (path == file) found.push_back(path);
    }
  }
  return found;
}

std::vector<std::string> NamesResolved() {
  Calls& calls = Seen();
  std::lock_guard<std::mutex> lock(calls.mutex);
  return calls.resolved;
}

void Forget() {
  Calls& calls = Seen();
  std::lock_guard<std::mutex> lock(calls.mutex);
  calls.opened.clear();
  calls.resolved.clear();
}

// Without it the tests below could pass with interposers that see nothing.
TEST(SystemResolverTest, InterposersSeeTheLibrariesCalls) {
  Forget();
  ares_library_init(ARES_LIB_INIT_ALL);
  ares_channel channel = nullptr;
  ASSERT_EQ(ares_init(&channel), ARES_SUCCESS);  // the system's defaults
  ares_destroy(channel);
  // A name libcurl resolves through the system's resolver ("localhost" it
  // answers itself): getaddrinfo is called whether or not /etc/hosts
  // lists it.
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  curl_easy_setopt(curl, CURLOPT_URL, "http://ip6-localhost:1/");
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);

  EXPECT_THAT(SystemFilesOpened(), ::testing::Contains("/etc/resolv.conf"));
  EXPECT_THAT(NamesResolved(), ::testing::Contains("ip6-localhost"));
}

TEST(SystemResolverTest, ResolverReadsNoSystemFile) {
  auto dns = DnsTestServer::Start("127.53.7.1");
  ASSERT_NE(dns, nullptr);
  dns->Answer("www.example.test", DnsTestServer::kA,
              {DnsTestServer::A("www.example.test", "127.10.7.1", 60)});
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  ResolverConfig config;
  config.servers = {dns->address()};
  Forget();

  auto resolver =
      DnsResolver::Create(config, loop->get(), [] { return int64_t{0}; });
  ASSERT_TRUE(resolver.ok()) << resolver.status().ToString();
  std::optional<pb::DnsObservation> obs;
  (*resolver)->Resolve("www.example.test",
                       [&obs](pb::DnsObservation done) { obs = done; });
  ASSERT_TRUE((*loop)->RunUntil([&obs] { return obs.has_value(); }).ok());

  ASSERT_EQ(obs->addresses_size(), 1) << obs->ShortDebugString();
  EXPECT_EQ(obs->addresses(0).ip(), "127.10.7.1");
  EXPECT_EQ(obs->queries(0).resolver(), dns->address());
  EXPECT_EQ(SystemFilesOpened(), std::vector<std::string>{});
  EXPECT_EQ(NamesResolved(), std::vector<std::string>{});
}

// How a probe leaves: directly, or through either kind of proxy.
enum class Route { kDirect, kHttpConnect, kSocks5 };

const char* RouteName(Route route) {
  switch (route) {
    case Route::kDirect:
      return "Direct";
    case Route::kHttpConnect:
      return "HttpConnect";
    case Route::kSocks5:
      return "Socks5";
  }
  return "";
}

void PrintTo(Route route, std::ostream* os) { *os << RouteName(route); }

class ProbeRouteTest : public ::testing::TestWithParam<Route> {};

TEST_P(ProbeRouteTest, LibcurlIsHandedTheAddressNeverTheName) {
  auto dns = DnsTestServer::Start("127.53.7.2");
  ASSERT_NE(dns, nullptr);
  dns->Answer("www.example.test", DnsTestServer::kA,
              {DnsTestServer::A("www.example.test", "127.10.7.2", 60)});
  auto http = HttpTestServer::Start(
      "127.10.7.2", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(http, nullptr);
  std::unique_ptr<ProxyTestServer> proxy;
  if (GetParam() != Route::kDirect) {
    proxy = ProxyTestServer::Start("127.66.7.2",
                                   GetParam() == Route::kHttpConnect
                                       ? ProxyTestServer::Kind::kHttpConnect
                                       : ProxyTestServer::Kind::kSocks5);
    ASSERT_NE(proxy, nullptr);
  }
  testing::TestGeo geo({{"127.10.0.0/16", "DE", 64510, "Sandbox DE"}});
  ASSERT_TRUE(geo.status().ok()) << geo.status().ToString();
  Config config = DefaultConfig();
  config.resolver.servers = {dns->address()};
  config.safety.allow_cidrs = {net::Cidr::Parse("127.10.0.0/16").value()};
  if (proxy) {
    config.http.proxy = proxy->url();
    config.http.require_proxy = true;
  }
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  Forget();

  auto prober = Prober::Create(
      config, geo.locator(), std::make_shared<const ProviderTable>(),
      {.worker_name = "system-resolver-test"}, [] { return int64_t{0}; },
      loop->get());
  ASSERT_TRUE(prober.ok()) << prober.status().ToString();
  std::optional<pb::Observation> obs;
  (*prober)->Probe(
      "http://www.example.test:" + std::to_string(http->port()) + "/",
      pb::RequestContext(), [&obs](pb::Observation done) { obs = done; });
  ASSERT_TRUE((*loop)->RunUntil([&obs] { return obs.has_value(); }).ok());

  EXPECT_EQ(obs->http().status(), 200) << obs->ShortDebugString();
  EXPECT_EQ(obs->http().connected_ip(), "127.10.7.2");
  if (proxy) {
    EXPECT_EQ(
        proxy->targets(),
        std::vector<std::string>{"127.10.7.2:" + std::to_string(http->port())});
  }
  EXPECT_EQ(SystemFilesOpened(), std::vector<std::string>{});
  EXPECT_EQ(NamesResolved(), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(Routes, ProbeRouteTest,
                         ::testing::Values(Route::kDirect, Route::kHttpConnect,
                                           Route::kSocks5),
                         [](const ::testing::TestParamInfo<Route>& info) {
                           return std::string(RouteName(info.param));
                         });

}  // namespace
}  // namespace hl::worker
