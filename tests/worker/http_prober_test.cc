#include "worker/http_prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "tests/worker/proxy_servers.h"
#include "tests/worker/tls_test_server.h"

namespace hl::worker {
namespace {

using testing::BindLoopback;
using testing::CertSpec;
using testing::ConcurrentHttpServer;
using testing::HttpTestServer;
using testing::MakeCert;
using testing::ProxyTestServer;
using testing::TestCert;
using testing::TlsTestServer;

constexpr char kMarker[] = "HOSTLOCATOR-BODY-MARKER-7f3a9c";

net::Cidr ParseCidr(const char* text) {
  auto cidr = net::Cidr::Parse(text);
  EXPECT_TRUE(cidr.ok()) << text;
  return cidr.value();
}

net::IpAddress ParseIp(const std::string& text) {
  auto ip = net::IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return *ip;
}

// The sandbox allowlist of these tests; 127.66.0.0/16 stays outside.
net::TargetPolicy SandboxPolicy() {
  return net::TargetPolicy({ParseCidr("127.0.0.0/16"), ParseCidr("::1")});
}

HttpConfig TestConfig() {
  HttpConfig config;
  config.connect_timeout_ms = 1000;
  config.timeout_ms = 2000;
  config.user_agent = "hostlocator-test";
  config.max_header_bytes = 4096;
  return config;
}

// A URL on a name that no resolver knows: only the pinned address can
// answer it.
net::NormalizedUrl UrlFor(uint16_t port, const std::string& scheme = "http",
                          const std::string& path_query = "/reported?id=1") {
  net::NormalizedUrl url;
  url.scheme = scheme;
  url.host = "www.example.test";
  url.port = port;
  url.path_query = path_query;
  url.url = scheme + "://www.example.test:" + std::to_string(port) + path_query;
  url.registrable_domain = "example.test";
  return url;
}

// An HttpProber on its own EventLoop.
class TestProber {
 public:
  static constexpr int64_t kLimitMs = 10000;

  TestProber(const HttpConfig& config, net::TargetPolicy policy)
      : loop_(EventLoop::Create().value()) {
    auto prober = HttpProber::Create(config, std::move(policy), loop_.get());
    EXPECT_TRUE(prober.ok()) << prober.status().ToString();
    if (prober.ok()) prober_ = std::move(prober).value();
  }

  HttpProber& prober() { return *prober_; }
  EventLoop& loop() { return *loop_; }
  void Destroy() { prober_.reset(); }

  // Runs the loop until `done` holds or `limit_ms` passed; false then.
  bool RunUntil(const std::function<bool()>& done,
                int64_t limit_ms = kLimitMs) {
    bool expired = false;
    const EventLoop::TimerId limit =
        loop_->After(limit_ms, [&expired] { expired = true; });
    EXPECT_TRUE(loop_->RunUntil([&] { return expired || done(); }).ok());
    loop_->Cancel(limit);
    return !expired;
  }

  // One HEAD, run to its end.
  pb::HttpObservation Head(const net::NormalizedUrl& url,
                           const net::IpAddress& pinned,
                           const pb::RequestContext& context = {}) {
    if (prober_ == nullptr) return {};
    std::optional<pb::HttpObservation> result;
    prober_->Head(url, pinned, context, [&result](pb::HttpObservation obs) {
      EXPECT_FALSE(result.has_value()) << "done ran twice";
      result = std::move(obs);
    });
    EXPECT_FALSE(result.has_value()) << "done ran inside Head";
    EXPECT_TRUE(RunUntil([&result] { return result.has_value(); }))
        << "no observation within " << kLimitMs << " ms";
    return result.value_or(pb::HttpObservation());
  }

 private:
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<HttpProber> prober_;
};

std::string Sha256(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::vector<std::pair<std::string, std::string>> Headers(
    const pb::HttpObservation& obs) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const pb::HttpHeader& header : obs.headers()) {
    headers.emplace_back(header.name(), header.value());
  }
  return headers;
}

// Servers that answer HEAD with a body, framed in each way HTTP/1.1 allows.
struct BodyCase {
  const char* name;
  std::string header_block;
};

void PrintTo(const BodyCase& body_case, std::ostream* os) {
  *os << body_case.name;
}

class BodyToHeadTest : public ::testing::TestWithParam<BodyCase> {};

TEST_P(BodyToHeadTest, NoBodyByteIsAccepted) {
  const std::string body = std::string(kMarker) + " <html>" +
                           std::string(2000, 'x') + "</html>" + kMarker;
  std::string response = GetParam().header_block;
  if (response.find("Transfer-Encoding: chunked") != std::string::npos) {
    char size[16];
    snprintf(size, sizeof(size), "%zx\r\n", body.size());
    response += size + body + "\r\n0\r\n\r\n";
  } else {
    response += body;
  }
  auto server = HttpTestServer::Start("127.0.80.1", response);
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.1"));
  server->Stop();

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.body_bytes(), 0u);
  EXPECT_EQ(obs.SerializeAsString().find(kMarker), std::string::npos);
  EXPECT_EQ(obs.DebugString().find(kMarker), std::string::npos);
  EXPECT_EQ(obs.status(), 200);
  EXPECT_EQ(obs.header_block_sha256(), Sha256(GetParam().header_block));
  EXPECT_EQ(server->accepted(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Framings, BodyToHeadTest,
    ::testing::Values(BodyCase{"ContentLength",
                               "HTTP/1.1 200 OK\r\nServer: sandbox\r\n"
                               "Content-Length: 2047\r\n\r\n"},
                      BodyCase{"Chunked",
                               "HTTP/1.1 200 OK\r\nServer: sandbox\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"},
                      BodyCase{"CloseDelimited",
                               "HTTP/1.1 200 OK\r\nServer: sandbox\r\n"
                               "Connection: close\r\n\r\n"},
                      BodyCase{"Http10",
                               "HTTP/1.0 200 OK\r\nServer: sandbox\r\n\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HttpProberTest, RecordsResponseOfThePinnedAddress) {
  const std::string header_block =
      "HTTP/1.1 200 OK\r\n"
      "server: nginx/1.22.1\r\n"
      "Date: Sat, 29 Nov 2025 02:01:32 GMT\r\n"
      "Content-Type: text/html; charset=utf-8\r\n"
      "Content-Length: 12345\r\n"
      "VIA: 1.1 edge-7 (sandbox)\r\n"
      "Set-Cookie: session=secret\r\n"
      "X-Cache: HIT\r\n"
      "\r\n";
  auto server = HttpTestServer::Start(
      "127.0.80.2", header_block + kMarker + std::string(100, 'b'));
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.2"));
  server->Stop();

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.method(), "HEAD");
  EXPECT_EQ(obs.request_url(), UrlFor(server->port()).url);
  EXPECT_EQ(obs.status(), 200);
  EXPECT_EQ(obs.http_version(), "1.1");
  // Every header, in order, names as sent.
  EXPECT_EQ(Headers(obs), (std::vector<std::pair<std::string, std::string>>{
                              {"server", "nginx/1.22.1"},
                              {"Date", "Sat, 29 Nov 2025 02:01:32 GMT"},
                              {"Content-Type", "text/html; charset=utf-8"},
                              {"Content-Length", "12345"},
                              {"VIA", "1.1 edge-7 (sandbox)"},
                              {"Set-Cookie", "session=secret"},
                              {"X-Cache", "HIT"}}));
  EXPECT_EQ(obs.header_block_sha256(), Sha256(header_block));
  EXPECT_EQ(obs.connected_ip(), "127.0.80.2");
  EXPECT_EQ(obs.connected_port(), server->port());
  EXPECT_EQ(obs.body_bytes(), 0u);
  EXPECT_EQ(obs.SerializeAsString().find(kMarker), std::string::npos);
  EXPECT_FALSE(obs.has_tls());
  EXPECT_GT(obs.timings().connect_us(), 0u);
  EXPECT_EQ(obs.timings().tls_us(), 0u);
  EXPECT_GE(obs.timings().first_byte_us(), obs.timings().connect_us());
  EXPECT_GE(obs.timings().total_us(), obs.timings().first_byte_us());

  // One HEAD, for the URL's host and path, with the configured agent.
  const std::string request = server->first_request();
  EXPECT_EQ(request.rfind("HEAD /reported?id=1 HTTP/1.1\r\n", 0), 0u)
      << request;
  EXPECT_NE(request.find("\r\nHost: www.example.test:" +
                         std::to_string(server->port()) + "\r\n"),
            std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nUser-Agent: hostlocator-test\r\n"),
            std::string::npos)
      << request;
  EXPECT_EQ(request.find("Referer:"), std::string::npos) << request;
  EXPECT_EQ(server->accepted(), 1);
}

TEST(HttpProberTest, SendsTheRequestContextThenTheDefaultsAgain) {
  auto server = HttpTestServer::Start(
      "127.0.80.2", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());
  pb::RequestContext context;
  context.set_referer("http://forum.example/t/1");
  context.set_user_agent("Mozilla/5.0 (Android 14; Mobile)");

  const pb::HttpObservation with_context =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.2"), context);
  EXPECT_EQ(with_context.status(), 200) << with_context.error().message();
  // Byte for byte, in the order libcurl puts its own User-Agent, Accept
  // and Referer lines.
  EXPECT_EQ(server->first_request(),
            "HEAD /reported?id=1 HTTP/1.1\r\n"
            "Host: www.example.test:" +
                std::to_string(server->port()) +
                "\r\n"
                "User-Agent: Mozilla/5.0 (Android 14; Mobile)\r\n"
                "Accept: */*\r\n"
                "Referer: http://forum.example/t/1\r\n\r\n");
  server->Stop();

  // The next probe on the same prober is back to the defaults.
  auto second = HttpTestServer::Start(
      "127.0.80.2", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(second, nullptr);
  prober.Head(UrlFor(second->port()), ParseIp("127.0.80.2"));
  EXPECT_EQ(second->first_request(),
            "HEAD /reported?id=1 HTTP/1.1\r\n"
            "Host: www.example.test:" +
                std::to_string(second->port()) +
                "\r\n"
                "User-Agent: hostlocator-test\r\n"
                "Accept: */*\r\n\r\n");
}

// libcurl drops a header line with a blank value; a blank agent is still
// sent, as CURLOPT_USERAGENT always sent it.
TEST(HttpProberTest, SendsABlankUserAgent) {
  auto server = HttpTestServer::Start(
      "127.0.80.2", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());
  pb::RequestContext context;
  context.set_user_agent(" ");

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.2"), context);
  EXPECT_EQ(obs.status(), 200) << obs.error().message();
  EXPECT_EQ(server->first_request(),
            "HEAD /reported?id=1 HTTP/1.1\r\n"
            "Host: www.example.test:" +
                std::to_string(server->port()) +
                "\r\n"
                "User-Agent:  \r\n"
                "Accept: */*\r\n\r\n");
}

TEST(HttpProberTest, KeepsHeadersOfTheFinalResponseAndHashesAll) {
  const std::string header_block =
      "HTTP/1.1 103 Early Hints\r\nServer: interim\r\n"
      "Link: </style.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nServer: final\r\nContent-Length: 0\r\n\r\n";
  auto server = HttpTestServer::Start("127.0.80.10", header_block);
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.10"));

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 200);
  EXPECT_EQ(Headers(obs), (std::vector<std::pair<std::string, std::string>>{
                              {"Server", "final"}, {"Content-Length", "0"}}));
  EXPECT_EQ(obs.header_block_sha256(), Sha256(header_block));
}

TEST(HttpProberTest, PinsIpv6AddressInBrackets) {
  auto server = HttpTestServer::Start(
      "::1", "HTTP/1.1 204 No Content\r\nServer: v6\r\n\r\n");
  if (server == nullptr) GTEST_SKIP() << "no IPv6 loopback";
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("::1"));

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 204);
  EXPECT_EQ(obs.connected_ip(), "::1");
}

TEST(HttpProberTest, NeverConnectsOutsideTheAllowlist) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  auto server = HttpTestServer::Start("127.66.0.1", response);
  ASSERT_NE(server, nullptr);
  const net::NormalizedUrl url = UrlFor(server->port());

  for (const net::TargetPolicy& policy :
       {SandboxPolicy(), net::TargetPolicy()}) {
    TestProber prober(TestConfig(), policy);
    const pb::HttpObservation obs = prober.Head(url, ParseIp("127.66.0.1"));
    EXPECT_EQ(obs.error().error_class(), "refused_private_target");
    EXPECT_EQ(obs.status(), 0);
    EXPECT_TRUE(obs.connected_ip().empty());
  }
  server->Stop();
  EXPECT_EQ(server->accepted(), 0);

  // The same probe connects once the block is allowlisted.
  auto allowed = HttpTestServer::Start("127.66.0.1", response);
  ASSERT_NE(allowed, nullptr);
  TestProber prober(TestConfig(),
                    net::TargetPolicy({ParseCidr("127.66.0.0/16")}));
  const pb::HttpObservation obs =
      prober.Head(UrlFor(allowed->port()), ParseIp("127.66.0.1"));
  allowed->Stop();
  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 200);
  EXPECT_EQ(allowed->accepted(), 1);
}

TEST(HttpProberTest, ClosedPortIsConnectionRefused) {
  uint16_t port = 0;
  const int fd = BindLoopback("127.0.80.3", SOCK_STREAM, &port);
  ASSERT_GE(fd, 0);
  close(fd);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(port), ParseIp("127.0.80.3"));

  EXPECT_EQ(obs.error().error_class(), "connection_refused");
  EXPECT_EQ(obs.status(), 0);
  EXPECT_TRUE(obs.connected_ip().empty());
}

TEST(HttpProberTest, SilentServerTimesOut) {
  auto server =
      HttpTestServer::Start("127.0.80.4", "", HttpTestServer::Reply::kNever);
  ASSERT_NE(server, nullptr);
  HttpConfig config = TestConfig();
  config.timeout_ms = 500;
  TestProber prober(config, SandboxPolicy());

  const auto start = std::chrono::steady_clock::now();
  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.4"));
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(obs.error().error_class(), "http_timeout");
  EXPECT_EQ(obs.status(), 0);
  EXPECT_EQ(obs.connected_ip(), "127.0.80.4");
  EXPECT_LT(elapsed, std::chrono::milliseconds(config.timeout_ms + 1000));
}

TEST(HttpProberTest, OversizedHeaderBlockIsAborted) {
  std::string response = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 100; ++i) {
    response += "X-Padding-" + std::to_string(i) + ": " +
                std::string(100, 'p') + "\r\n";
  }
  response += "\r\n";
  auto server = HttpTestServer::Start("127.0.80.5", response);
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.5"));

  EXPECT_EQ(obs.error().error_class(), "header_too_large");
  EXPECT_EQ(obs.body_bytes(), 0u);
}

TEST(HttpProberTest, RecordsRedirectWithoutFollowingIt) {
  auto target = HttpTestServer::Start(
      "127.0.80.7", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(target, nullptr);
  const std::string location =
      "http://127.0.80.7:" + std::to_string(target->port()) + "/moved";
  auto server = HttpTestServer::Start(
      "127.0.80.6", "HTTP/1.1 301 Moved Permanently\r\nLocation: " + location +
                        "\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.6"));
  server->Stop();
  target->Stop();

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 301);
  EXPECT_EQ(Headers(obs),
            (std::vector<std::pair<std::string, std::string>>{
                {"Location", location}, {"Content-Length", "0"}}));
  EXPECT_EQ(server->accepted(), 1);
  EXPECT_EQ(target->accepted(), 0);
}

// A test CA and its PEM file, removed at the end of the test.
class TlsProbeTest : public ::testing::Test {
 protected:
  static constexpr char kOk[] =
      "HTTP/1.1 200 OK\r\nServer: tls-test\r\nContent-Length: 0\r\n\r\n";

  void SetUp() override {
    ca_ = MakeCert({.common_name = "hostlocator test CA", .ca = true}, nullptr);
    char path[] = "/tmp/hostlocator-test-ca-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    ca_file_ = path;
    std::ofstream(ca_file_) << ca_.Pem();
  }
  void TearDown() override {
    if (!ca_file_.empty()) unlink(ca_file_.c_str());
  }

  HttpConfig Config() const {
    HttpConfig config = TestConfig();
    config.ca_file = ca_file_;
    return config;
  }

  // A leaf for the tests' URL host, signed by the test CA.
  TestCert Leaf(CertSpec spec = {}) const {
    if (spec.common_name.empty()) spec.common_name = "www.example.test";
    if (spec.alt_names.empty()) spec.alt_names = "DNS:www.example.test";
    return MakeCert(spec, &ca_);
  }

  // One HEAD to a TLS server on `ip` with `chain` (leaf first).
  pb::HttpObservation Probe(const std::string& ip,
                            const std::vector<const TestCert*>& chain,
                            net::NormalizedUrl* url = nullptr) {
    auto server = TlsTestServer::Start(ip, chain, kOk);
    EXPECT_NE(server, nullptr);
    if (server == nullptr) return {};
    TestProber prober(Config(), SandboxPolicy());
    net::NormalizedUrl target = UrlFor(server->port(), "https");
    if (url != nullptr) {
      url->port = server->port();
      url->url = "https://" + url->host + ":" + std::to_string(url->port) + "/";
      target = *url;
    }
    return prober.Head(target, ParseIp(ip));
  }

  TestCert ca_;
  std::string ca_file_;
};

TEST_F(TlsProbeTest, RecordsAndVerifiesTheCertificate) {
  const TestCert leaf =
      Leaf({.alt_names = "DNS:www.example.test,DNS:*.cdn.example.test,"
                         "IP:127.0.81.1,IP:2001:db8::1",
            .serial = 0x1f2e3d});
  auto server = TlsTestServer::Start("127.0.81.1", {&leaf, &ca_}, kOk);
  ASSERT_NE(server, nullptr);
  TestProber prober(Config(), SandboxPolicy());

  // Each probe of one prober sees a full handshake and the certificate.
  for (int i = 0; i < 2; ++i) {
    const pb::HttpObservation obs =
        prober.Head(UrlFor(server->port(), "https"), ParseIp("127.0.81.1"));
    EXPECT_FALSE(obs.has_error()) << obs.error().message();
    EXPECT_EQ(obs.status(), 200);
    ASSERT_TRUE(obs.has_tls());
    const pb::TlsObservation& tls = obs.tls();
    EXPECT_EQ(tls.protocol(), "TLSv1.3");
    EXPECT_FALSE(tls.cipher().empty());
    EXPECT_EQ(tls.subject(), "CN=www.example.test,O=hostlocator test");
    EXPECT_EQ(tls.issuer(), "CN=hostlocator test CA,O=hostlocator test");
    EXPECT_EQ(
        std::vector<std::string>(tls.san_dns().begin(), tls.san_dns().end()),
        (std::vector<std::string>{"www.example.test", "*.cdn.example.test"}));
    EXPECT_EQ(
        std::vector<std::string>(tls.san_ip().begin(), tls.san_ip().end()),
        (std::vector<std::string>{"127.0.81.1", "2001:db8::1"}));
    const int64_t now = std::time(nullptr);
    EXPECT_NEAR(tls.not_before_unix(), now - 3600, 60);
    EXPECT_NEAR(tls.not_after_unix(), now + 86400, 60);
    EXPECT_EQ(tls.serial(), "1f2e3d");
    EXPECT_EQ(tls.sha256(), Sha256(leaf.Der()));
    EXPECT_EQ(tls.key_type(), "EC");
    EXPECT_EQ(tls.key_bits(), 256u);
    ASSERT_EQ(tls.chain_size(), 2);
    EXPECT_EQ(tls.chain(0).sha256(), Sha256(leaf.Der()));
    EXPECT_EQ(tls.chain(0).subject(), tls.subject());
    EXPECT_EQ(tls.chain(1).sha256(), Sha256(ca_.Der()));
    EXPECT_EQ(tls.chain(1).subject(), tls.issuer());
    EXPECT_TRUE(tls.verified()) << tls.verify_error();
    EXPECT_TRUE(tls.name_matched());
    EXPECT_EQ(tls.verify_error(), "");
    EXPECT_EQ(tls.trust_store(), ca_file_);

    const pb::HttpTimings& t = obs.timings();
    EXPECT_GT(t.connect_us(), 0u);
    EXPECT_GE(t.tls_us(), t.connect_us());
    EXPECT_GE(t.first_byte_us(), t.tls_us());
    EXPECT_GE(t.total_us(), t.first_byte_us());
  }
  EXPECT_EQ(server->handshakes(), 2);
  EXPECT_EQ(server->resumed(), 0);
}

TEST_F(TlsProbeTest, ProbersOnSeveralThreadsShareTheTrustStore) {
  const TestCert leaf = Leaf();
  auto server = TlsTestServer::Start("127.0.81.8", {&leaf, &ca_}, kOk);
  ASSERT_NE(server, nullptr);
  constexpr int kThreads = 4;
  constexpr int kProbes = 3;
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      TestProber prober(Config(), SandboxPolicy());
      for (int i = 0; i < kProbes; ++i) {
        const pb::HttpObservation obs =
            prober.Head(UrlFor(server->port(), "https"), ParseIp("127.0.81.8"));
        if (obs.tls().verified()) ++verified;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(verified, kThreads * kProbes);
}

TEST_F(TlsProbeTest, CertificateForAnotherNameIsRecordedNotFatal) {
  const TestCert leaf = Leaf({.common_name = "other.example.test",
                              .alt_names = "DNS:other.example.test"});
  const pb::HttpObservation obs = Probe("127.0.81.2", {&leaf, &ca_});

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_FALSE(obs.tls().verified());
  EXPECT_FALSE(obs.tls().name_matched());
  EXPECT_EQ(obs.tls().verify_error(), "hostname mismatch");
  EXPECT_EQ(obs.tls().sha256(), Sha256(leaf.Der()));
}

TEST_F(TlsProbeTest, SelfSignedCertificate) {
  const TestCert self = MakeCert(
      {.common_name = "www.example.test", .alt_names = "DNS:www.example.test"},
      nullptr);
  const pb::HttpObservation obs = Probe("127.0.81.3", {&self});

  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_FALSE(obs.tls().verified());
  EXPECT_TRUE(obs.tls().name_matched());
  EXPECT_EQ(obs.tls().verify_error(), "self-signed certificate");
  EXPECT_EQ(obs.tls().subject(), obs.tls().issuer());
  EXPECT_EQ(obs.tls().chain_size(), 1);
}

TEST_F(TlsProbeTest, ExpiredCertificate) {
  const TestCert leaf =
      Leaf({.not_before_offset_s = -2 * 86400, .not_after_offset_s = -86400});
  const pb::HttpObservation obs = Probe("127.0.81.4", {&leaf, &ca_});

  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_FALSE(obs.tls().verified());
  EXPECT_TRUE(obs.tls().name_matched());
  EXPECT_EQ(obs.tls().verify_error(), "certificate has expired");
  EXPECT_LT(obs.tls().not_after_unix(), std::time(nullptr));
}

TEST_F(TlsProbeTest, IpLiteralHostMatchesIpAltName) {
  const TestCert leaf =
      Leaf({.alt_names = "DNS:www.example.test,IP:127.0.81.5"});
  net::NormalizedUrl url;
  url.scheme = "https";
  url.host = "127.0.81.5";
  url.host_kind = net::HostKind::kIpv4;
  url.path_query = "/";
  const pb::HttpObservation obs = Probe("127.0.81.5", {&leaf, &ca_}, &url);

  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_TRUE(obs.tls().verified()) << obs.tls().verify_error();
  EXPECT_TRUE(obs.tls().name_matched());
}

TEST_F(TlsProbeTest, SystemStoreDoesNotKnowTheTestCa) {
  const TestCert leaf = Leaf();
  auto server = TlsTestServer::Start("127.0.81.6", {&leaf}, kOk);
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port(), "https"), ParseIp("127.0.81.6"));

  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_FALSE(obs.tls().verified());
  EXPECT_TRUE(obs.tls().name_matched());
  EXPECT_EQ(obs.tls().verify_error(), "unable to get local issuer certificate");
  EXPECT_EQ(obs.tls().trust_store(), kSystemCaFile);
}

TEST_F(TlsProbeTest, UnreadableCaFileFailsCreate) {
  HttpConfig config = Config();
  config.ca_file = ca_file_ + ".missing";
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());

  auto prober = HttpProber::Create(config, SandboxPolicy(), loop->get());

  ASSERT_FALSE(prober.ok());
  EXPECT_EQ(prober.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(prober.status().message().find("http.ca_file"), std::string::npos)
      << prober.status().message();
  EXPECT_NE(prober.status().message().find("cannot load the trust store " +
                                           config.ca_file),
            std::string::npos)
      << prober.status().message();
}

TEST(HttpProberTest, TlsHandshakeFailureIsTlsError) {
  auto server = HttpTestServer::Start(
      "127.0.80.8", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
      HttpTestServer::Reply::kOnFirstBytes);
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port(), "https"), ParseIp("127.0.80.8"));

  EXPECT_EQ(obs.error().error_class(), "tls_error");
  EXPECT_EQ(obs.status(), 0);
  EXPECT_FALSE(obs.has_tls());
  EXPECT_EQ(obs.timings().tls_us(), 0u);
}

TEST(HttpProberTest, InstanceIsReusableAcrossProbes) {
  auto refused = HttpTestServer::Start(
      "127.66.0.2", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  auto allowed = HttpTestServer::Start(
      "127.0.80.9", "HTTP/1.1 404 Not Found\r\nServer: a\r\n\r\n");
  ASSERT_NE(refused, nullptr);
  ASSERT_NE(allowed, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());

  for (int i = 0; i < 3; ++i) {
    const pb::HttpObservation ok =
        prober.Head(UrlFor(allowed->port()), ParseIp("127.0.80.9"));
    EXPECT_EQ(ok.status(), 404);
    EXPECT_FALSE(ok.has_error()) << ok.error().message();
    EXPECT_EQ(
        Headers(ok),
        (std::vector<std::pair<std::string, std::string>>{{"Server", "a"}}));
    const pb::HttpObservation no =
        prober.Head(UrlFor(refused->port()), ParseIp("127.66.0.2"));
    EXPECT_EQ(no.error().error_class(), "refused_private_target");
    EXPECT_EQ(no.headers_size(), 0);
  }
  allowed->Stop();
  refused->Stop();
  EXPECT_EQ(allowed->accepted(), 3);
  EXPECT_EQ(refused->accepted(), 0);
}

TEST(HttpProberTest, BoundsExchangesInFlightAndAnswersAll) {
  constexpr int kProbes = 300;
  constexpr uint32_t kMaxInFlight = 50;
  auto server = ConcurrentHttpServer::Start(
      "127.0.80.20", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      /*hold_ms=*/20);
  ASSERT_NE(server, nullptr);
  HttpConfig config = TestConfig();
  config.max_in_flight = kMaxInFlight;
  TestProber prober(config, SandboxPolicy());

  int answered = 0;
  int ok = 0;
  for (int i = 0; i < kProbes; ++i) {
    prober.prober().Head(
        UrlFor(server->port(), "http", "/" + std::to_string(i)),
        ParseIp("127.0.80.20"), {}, [&](pb::HttpObservation obs) {
          ++answered;
          if (obs.status() == 200) ++ok;
          EXPECT_LE(prober.prober().in_flight(), kMaxInFlight);
        });
  }
  EXPECT_EQ(answered, 0);
  EXPECT_EQ(prober.prober().in_flight(), kMaxInFlight);
  EXPECT_EQ(prober.prober().waiting(), kProbes - kMaxInFlight);
  ASSERT_TRUE(prober.RunUntil([&] { return answered == kProbes; }));

  EXPECT_EQ(ok, kProbes);
  EXPECT_EQ(server->accepted(), kProbes);
  EXPECT_LE(server->max_open(), static_cast<int>(kMaxInFlight));
  // The bound is reached, not merely respected.
  EXPECT_GE(server->max_open(), static_cast<int>(kMaxInFlight) / 2);
  EXPECT_EQ(prober.prober().in_flight(), 0u);
  EXPECT_EQ(prober.prober().waiting(), 0u);
}

TEST(HttpProberTest, WaitingRequestsStartInArrivalOrder) {
  constexpr int kProbes = 8;
  auto server = ConcurrentHttpServer::Start(
      "127.0.80.21", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      /*hold_ms=*/0);
  ASSERT_NE(server, nullptr);
  HttpConfig config = TestConfig();
  config.max_in_flight = 1;
  TestProber prober(config, SandboxPolicy());

  std::vector<int> finished;
  std::vector<std::string> expected;
  for (int i = 0; i < kProbes; ++i) {
    const std::string path = "/" + std::to_string(i);
    expected.push_back("HEAD " + path + " HTTP/1.1");
    prober.prober().Head(
        UrlFor(server->port(), "http", path), ParseIp("127.0.80.21"), {},
        [&finished, i](pb::HttpObservation obs) {
          EXPECT_EQ(obs.status(), 200) << obs.error().message();
          finished.push_back(i);
        });
  }
  ASSERT_TRUE(prober.RunUntil([&] { return finished.size() == kProbes; }));

  EXPECT_EQ(server->request_lines(), expected);
  EXPECT_EQ(finished, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(server->max_open(), 1);
}

TEST(HttpProberTest, RefusedTargetFailsOnTheLoopNotInsideHead) {
  TestProber prober(TestConfig(), SandboxPolicy());
  int calls = 0;
  prober.prober().Head(
      UrlFor(80), ParseIp("10.1.2.3"), {}, [&calls](pb::HttpObservation obs) {
        ++calls;
        EXPECT_EQ(obs.error().error_class(), "refused_private_target");
        EXPECT_EQ(obs.method(), "HEAD");
      });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(prober.prober().in_flight(), 0u);
  ASSERT_TRUE(prober.RunUntil([&calls] { return calls > 0; }));
  ASSERT_TRUE(prober.loop().RunOnce(0).ok());
  EXPECT_EQ(calls, 1);
}

TEST(HttpProberTest, DestroyingWithExchangesInFlightCallsNothing) {
  auto silent =
      HttpTestServer::Start("127.0.80.22", "", HttpTestServer::Reply::kNever);
  ASSERT_NE(silent, nullptr);
  HttpConfig config = TestConfig();
  config.max_in_flight = 2;
  TestProber prober(config, SandboxPolicy());
  int calls = 0;
  for (int i = 0; i < 5; ++i) {
    prober.prober().Head(UrlFor(silent->port()), ParseIp("127.0.80.22"), {},
                         [&calls](pb::HttpObservation) { ++calls; });
  }
  // Connected and waiting for the silent server.
  prober.RunUntil([] { return false; }, 200);
  EXPECT_EQ(prober.prober().in_flight(), 2u);
  EXPECT_EQ(prober.prober().waiting(), 3u);
  // Refused at once, its callback deferred to the loop.
  prober.prober().Head(UrlFor(80), ParseIp("10.1.2.3"), {},
                       [&calls](pb::HttpObservation) { ++calls; });

  prober.Destroy();
  prober.RunUntil([] { return false; }, 100);

  EXPECT_EQ(calls, 0);
  EXPECT_EQ(prober.loop().watched(), 0u);
  EXPECT_EQ(prober.loop().pending_timers(), 0u);
}

// Cancel ends an exchange in any state: under way (its connection is
// closed and its slot goes to the next one waiting), waiting, or ended
// with its callback not yet run (refused). No cancelled callback runs.
TEST(HttpProberTest, CancelAbortsWaitingAndRunningExchanges) {
  auto silent =
      HttpTestServer::Start("127.0.80.24", "", HttpTestServer::Reply::kNever);
  ASSERT_NE(silent, nullptr);
  auto answering = ConcurrentHttpServer::Start(
      "127.0.80.25", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      /*hold_ms=*/0);
  ASSERT_NE(answering, nullptr);
  HttpConfig config = TestConfig();
  config.max_in_flight = 1;
  TestProber prober(config, SandboxPolicy());
  int cancelled_calls = 0;
  auto count = [&cancelled_calls](pb::HttpObservation) { ++cancelled_calls; };
  const HttpProber::ExchangeId running = prober.prober().Head(
      UrlFor(silent->port()), ParseIp("127.0.80.24"), {}, count);
  const HttpProber::ExchangeId waiting = prober.prober().Head(
      UrlFor(silent->port()), ParseIp("127.0.80.24"), {}, count);
  std::optional<pb::HttpObservation> next;
  prober.prober().Head(UrlFor(answering->port()), ParseIp("127.0.80.25"), {},
                       [&next](pb::HttpObservation obs) { next = obs; });
  const HttpProber::ExchangeId refused =
      prober.prober().Head(UrlFor(80), ParseIp("10.1.2.3"), {}, count);
  prober.RunUntil([] { return false; }, 100);  // connected, unanswered
  ASSERT_EQ(prober.prober().in_flight(), 1u);
  ASSERT_EQ(prober.prober().waiting(), 2u);

  EXPECT_TRUE(prober.prober().Cancel(waiting));
  EXPECT_TRUE(prober.prober().Cancel(running));
  EXPECT_FALSE(prober.prober().Cancel(running));

  ASSERT_TRUE(prober.RunUntil([&next] { return next.has_value(); }));
  EXPECT_EQ(next->status(), 200) << next->error().message();
  EXPECT_FALSE(prober.prober().Cancel(refused));  // its callback has run
  EXPECT_EQ(cancelled_calls, 1);
  cancelled_calls = 0;
  const HttpProber::ExchangeId refused_again =
      prober.prober().Head(UrlFor(80), ParseIp("10.1.2.3"), {}, count);
  EXPECT_TRUE(prober.prober().Cancel(refused_again));
  prober.RunUntil([] { return false; }, 100);
  EXPECT_EQ(cancelled_calls, 0);
  EXPECT_EQ(prober.prober().in_flight(), 0u);
  silent->Stop();
  EXPECT_EQ(silent->accepted(), 1);  // the waiting one never connected
}

// The descriptors this process has open.
size_t OpenDescriptors() {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// A listener that accepts nothing and whose queue is full: a further
// connection stays unanswered (SYN dropped) until the client gives up.
class FullListener {
 public:
  explicit FullListener(const std::string& ip) {
    listen_fd_ = BindLoopback(ip, SOCK_STREAM, &port_);
    if (listen_fd_ < 0 || listen(listen_fd_, 0) != 0) return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
    for (int& fd : fillers_) {
      fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    }
  }
  ~FullListener() {
    for (const int fd : fillers_) close(fd);
    close(listen_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  int fillers_[2] = {-1, -1};
};

// How an exchange ends; each leaves no descriptor open or watched.
enum class Ending {
  kAnswered,
  kRefused,
  kConnectTimeout,
  kResponseTimeout,
  kCancelledWhileConnecting
};

class DescriptorTest : public ::testing::TestWithParam<Ending> {};

// libcurl reports a socket's removal before or after closing it depending
// on how its exchange ends (7.88 closes an unfinished connect without the
// close callback); either way the loop forgets it and it is closed.
TEST_P(DescriptorTest, AnExchangeLeavesNothingOpenOrWatched) {
  HttpConfig config = TestConfig();
  config.connect_timeout_ms = 300;
  config.timeout_ms = 600;
  TestProber prober(config, SandboxPolicy());
  uint16_t closed_port = 0;
  close(BindLoopback("127.0.80.26", SOCK_STREAM, &closed_port));
  prober.Head(UrlFor(closed_port), ParseIp("127.0.80.26"));  // warms up
  const size_t before = OpenDescriptors();

  std::optional<pb::HttpObservation> obs;
  auto keep = [&obs](pb::HttpObservation o) { obs = std::move(o); };
  switch (GetParam()) {
    case Ending::kAnswered: {
      auto server = HttpTestServer::Start(
          "127.0.80.27", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      ASSERT_NE(server, nullptr);
      obs = prober.Head(UrlFor(server->port()), ParseIp("127.0.80.27"));
      EXPECT_EQ(obs->status(), 200) << obs->error().message();
      break;
    }
    case Ending::kRefused:
      obs = prober.Head(UrlFor(closed_port), ParseIp("127.0.80.26"));
      EXPECT_EQ(obs->error().error_class(), "connection_refused");
      break;
    case Ending::kConnectTimeout: {
      FullListener listener("127.0.80.28");
      obs = prober.Head(UrlFor(listener.port()), ParseIp("127.0.80.28"));
      EXPECT_EQ(obs->error().error_class(), "http_timeout")
          << obs->error().message();
      EXPECT_TRUE(obs->connected_ip().empty());
      break;
    }
    case Ending::kResponseTimeout: {
      auto server = HttpTestServer::Start("127.0.80.29", "",
                                          HttpTestServer::Reply::kNever);
      ASSERT_NE(server, nullptr);
      obs = prober.Head(UrlFor(server->port()), ParseIp("127.0.80.29"));
      EXPECT_EQ(obs->error().error_class(), "http_timeout");
      break;
    }
    case Ending::kCancelledWhileConnecting: {
      FullListener listener("127.0.80.28");
      const HttpProber::ExchangeId id = prober.prober().Head(
          UrlFor(listener.port()), ParseIp("127.0.80.28"), {}, keep);
      prober.RunUntil([] { return false; }, 100);  // connecting
      ASSERT_EQ(prober.prober().in_flight(), 1u);
      EXPECT_TRUE(prober.prober().Cancel(id));
      prober.RunUntil([] { return false; }, 100);
      EXPECT_FALSE(obs.has_value());
      break;
    }
  }
  EXPECT_EQ(prober.prober().in_flight(), 0u);
  EXPECT_EQ(prober.loop().watched(), 0u);
  EXPECT_EQ(OpenDescriptors(), before);
}

std::string EndingName(const ::testing::TestParamInfo<Ending>& info) {
  constexpr const char* kNames[] = {"Answered", "Refused", "ConnectTimeout",
                                    "ResponseTimeout",
                                    "CancelledWhileConnecting"};
  return kNames[static_cast<int>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Endings, DescriptorTest,
                         ::testing::Values(Ending::kAnswered, Ending::kRefused,
                                           Ending::kConnectTimeout,
                                           Ending::kResponseTimeout,
                                           Ending::kCancelledWhileConnecting),
                         EndingName);

TEST(HttpProberTest, ACallbackMayDestroyTheProber) {
  auto server = ConcurrentHttpServer::Start(
      "127.0.80.23", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      /*hold_ms=*/0);
  ASSERT_NE(server, nullptr);
  TestProber prober(TestConfig(), SandboxPolicy());
  int calls = 0;
  for (int i = 0; i < 4; ++i) {
    prober.prober().Head(UrlFor(server->port()), ParseIp("127.0.80.23"), {},
                         [&](pb::HttpObservation) {
                           ++calls;
                           prober.Destroy();
                         });
  }
  EXPECT_TRUE(prober.RunUntil([&calls] { return calls > 0; }));
  prober.RunUntil([] { return false; }, 100);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(prober.loop().watched(), 0u);
}

// Sets environment variables for the life of the object.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars)
      : vars_(std::move(vars)) {
    for (const auto& [name, value] : vars_) {
      const char* old = std::getenv(name.c_str());
      old_.emplace_back(old != nullptr ? std::optional<std::string>(old)
                                       : std::nullopt);
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (size_t i = 0; i < vars_.size(); ++i) {
      if (old_[i]) {
        setenv(vars_[i].first.c_str(), old_[i]->c_str(), 1);
      } else {
        unsetenv(vars_[i].first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
  std::vector<std::optional<std::string>> old_;
};

constexpr char kOkResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

// Probes through each kind of proxy. The proxies listen on 127.66.0.0/16,
// outside the tests' allowlist: the proxy's own address is exempt.
class ProxyTest : public TlsProbeTest,
                  public ::testing::WithParamInterface<ProxyTestServer::Kind> {
 protected:
  HttpConfig ProxyConfig(const std::string& proxy, bool required) const {
    HttpConfig config = Config();
    config.proxy = proxy;
    config.require_proxy = required;
    return config;
  }
};

TEST_P(ProxyTest, ProxyIsGivenThePinnedAddressForHttp) {
  auto proxy = ProxyTestServer::Start("127.66.0.10", GetParam());
  ASSERT_NE(proxy, nullptr);
  auto target = HttpTestServer::Start("127.0.82.1", kOkResponse);
  ASSERT_NE(target, nullptr);
  TestProber prober(ProxyConfig(proxy->url(), true), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(target->port()), ParseIp("127.0.82.1"));

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 200);
  EXPECT_EQ(obs.proxy(), proxy->url());
  EXPECT_EQ(obs.connected_ip(), "127.0.82.1");
  EXPECT_EQ(obs.connected_port(), target->port());
  EXPECT_EQ(
      proxy->targets(),
      std::vector<std::string>{"127.0.82.1:" + std::to_string(target->port())});
  EXPECT_EQ(proxy->handshakes().find("example"), std::string::npos)
      << proxy->handshakes();
  // The origin still gets the URL's host, and the same request as without
  // a proxy; the proxy's reply is not part of the recorded headers.
  EXPECT_EQ(target->first_request(),
            "HEAD /reported?id=1 HTTP/1.1\r\n"
            "Host: www.example.test:" +
                std::to_string(target->port()) +
                "\r\n"
                "User-Agent: hostlocator-test\r\n"
                "Accept: */*\r\n\r\n");
  // A CONNECT carries the User-Agent, none of the origin's other headers.
  if (GetParam() == ProxyTestServer::Kind::kHttpConnect) {
    EXPECT_NE(proxy->handshakes().find("\r\nUser-Agent: hostlocator-test\r\n"),
              std::string::npos)
        << proxy->handshakes();
    EXPECT_EQ(proxy->handshakes().find("Accept:"), std::string::npos)
        << proxy->handshakes();
  }
  EXPECT_EQ(Headers(obs), (std::vector<std::pair<std::string, std::string>>{
                              {"Content-Length", "0"}}));
  EXPECT_EQ(obs.header_block_sha256(), Sha256(kOkResponse));
  target->Stop();
  EXPECT_EQ(target->accepted(), 1);
  EXPECT_EQ(proxy->accepted(), 1);
}

TEST_P(ProxyTest, ProxyIsGivenThePinnedAddressForHttps) {
  auto proxy = ProxyTestServer::Start("127.66.0.10", GetParam());
  ASSERT_NE(proxy, nullptr);
  const TestCert leaf = Leaf();
  auto target = TlsTestServer::Start("127.0.82.2", {&leaf, &ca_}, kOk);
  ASSERT_NE(target, nullptr);
  TestProber prober(ProxyConfig(proxy->url(), true), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(target->port(), "https"), ParseIp("127.0.82.2"));

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(obs.status(), 200);
  EXPECT_EQ(obs.proxy(), proxy->url());
  EXPECT_EQ(obs.connected_ip(), "127.0.82.2");
  EXPECT_EQ(
      proxy->targets(),
      std::vector<std::string>{"127.0.82.2:" + std::to_string(target->port())});
  EXPECT_EQ(proxy->handshakes().find("example"), std::string::npos)
      << proxy->handshakes();
  // TLS through the tunnel: the certificate is recorded and verified
  // against the URL's host.
  ASSERT_TRUE(obs.has_tls());
  EXPECT_EQ(obs.tls().sha256(), Sha256(leaf.Der()));
  EXPECT_TRUE(obs.tls().verified()) << obs.tls().verify_error();
  EXPECT_TRUE(obs.tls().name_matched());
  EXPECT_EQ(target->handshakes(), 1);
}

// The proxy is stopped between two probes of one prober.
TEST_P(ProxyTest, RequiredProxyDownIsProxyErrorAndNothingGoesDirect) {
  auto running = ProxyTestServer::Start("127.66.0.11", GetParam());
  ASSERT_NE(running, nullptr);
  const std::string proxy = running->url();
  auto target = HttpTestServer::Start("127.0.82.3", kOkResponse);
  ASSERT_NE(target, nullptr);
  TestProber required(ProxyConfig(proxy, true), SandboxPolicy());
  const pb::HttpObservation before =
      required.Head(UrlFor(target->port()), ParseIp("127.0.82.3"));
  EXPECT_EQ(before.status(), 200) << before.error().message();
  EXPECT_EQ(before.proxy(), proxy);
  EXPECT_EQ(running->accepted(), 1);
  running.reset();

  const pb::HttpObservation obs =
      required.Head(UrlFor(target->port()), ParseIp("127.0.82.3"));
  EXPECT_EQ(obs.error().error_class(), "proxy_error") << obs.error().message();
  EXPECT_EQ(obs.proxy(), proxy);
  EXPECT_EQ(obs.status(), 0);
  EXPECT_TRUE(obs.connected_ip().empty());

  // Not required: the probe goes out directly, recorded without a proxy.
  TestProber optional(ProxyConfig(proxy, false), SandboxPolicy());
  const pb::HttpObservation direct =
      optional.Head(UrlFor(target->port()), ParseIp("127.0.82.3"));
  EXPECT_FALSE(direct.has_error()) << direct.error().message();
  EXPECT_EQ(direct.status(), 200);
  EXPECT_EQ(direct.proxy(), "");
  EXPECT_EQ(direct.connected_ip(), "127.0.82.3");
  target->Stop();
  // The tunnelled probe and the direct one.
  EXPECT_EQ(target->accepted(), 2);
}

TEST_P(ProxyTest, RefusedTunnelIsProxyError) {
  auto proxy = ProxyTestServer::Start("127.66.0.12", GetParam(),
                                      /*refuse=*/true);
  ASSERT_NE(proxy, nullptr);
  auto target = HttpTestServer::Start("127.0.82.4", kOkResponse);
  ASSERT_NE(target, nullptr);
  TestProber prober(ProxyConfig(proxy->url(), true), SandboxPolicy());

  for (const char* scheme : {"http", "https"}) {
    const pb::HttpObservation obs =
        prober.Head(UrlFor(target->port(), scheme), ParseIp("127.0.82.4"));
    EXPECT_EQ(obs.error().error_class(), "proxy_error")
        << scheme << ": " << obs.error().message();
    EXPECT_FALSE(obs.has_tls());
    EXPECT_EQ(obs.headers_size(), 0);
  }
  target->Stop();
  EXPECT_EQ(target->accepted(), 0);
  EXPECT_EQ(proxy->accepted(), 2);
}

TEST_P(ProxyTest, PinnedAddressMustStillPassThePolicy) {
  auto proxy = ProxyTestServer::Start("127.66.0.13", GetParam());
  ASSERT_NE(proxy, nullptr);
  auto target = HttpTestServer::Start("127.66.0.14", kOkResponse);
  ASSERT_NE(target, nullptr);
  TestProber prober(ProxyConfig(proxy->url(), true), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(target->port()), ParseIp("127.66.0.14"));

  EXPECT_EQ(obs.error().error_class(), "refused_private_target");
  target->Stop();
  EXPECT_EQ(target->accepted(), 0);
  EXPECT_EQ(proxy->accepted(), 0);
}

TEST_P(ProxyTest, NoProxyEnvironmentDoesNotBypassTheProxy) {
  auto proxy = ProxyTestServer::Start("127.66.0.15", GetParam());
  ASSERT_NE(proxy, nullptr);
  auto target = HttpTestServer::Start("127.0.82.5", kOkResponse);
  ASSERT_NE(target, nullptr);
  ScopedEnv env({{"no_proxy", "*"}, {"NO_PROXY", "*"}});
  TestProber prober(ProxyConfig(proxy->url(), true), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(target->port()), ParseIp("127.0.82.5"));

  EXPECT_EQ(obs.status(), 200) << obs.error().message();
  EXPECT_EQ(obs.proxy(), proxy->url());
  EXPECT_EQ(proxy->accepted(), 1);
}

INSTANTIATE_TEST_SUITE_P(Kinds, ProxyTest,
                         ::testing::Values(ProxyTestServer::Kind::kHttpConnect,
                                           ProxyTestServer::Kind::kSocks5),
                         [](const auto& info) {
                           return info.param == ProxyTestServer::Kind::kSocks5
                                      ? "Socks5"
                                      : "HttpConnect";
                         });

TEST_F(TlsProbeTest, ProxyEnvironmentVariablesNeverTakeEffect) {
  auto decoy = HttpTestServer::Start("127.0.82.9", kOkResponse);
  ASSERT_NE(decoy, nullptr);
  const std::string decoy_url =
      "http://127.0.82.9:" + std::to_string(decoy->port());
  ScopedEnv env({{"http_proxy", decoy_url},
                 {"HTTP_PROXY", decoy_url},
                 {"https_proxy", decoy_url},
                 {"HTTPS_PROXY", decoy_url},
                 {"all_proxy", decoy_url},
                 {"ALL_PROXY", decoy_url}});
  auto plain = HttpTestServer::Start("127.0.82.6", kOkResponse);
  ASSERT_NE(plain, nullptr);
  const TestCert leaf = Leaf();
  auto tls = TlsTestServer::Start("127.0.82.7", {&leaf, &ca_}, kOk);
  ASSERT_NE(tls, nullptr);
  TestProber prober(Config(), SandboxPolicy());

  const pb::HttpObservation http =
      prober.Head(UrlFor(plain->port()), ParseIp("127.0.82.6"));
  const pb::HttpObservation https =
      prober.Head(UrlFor(tls->port(), "https"), ParseIp("127.0.82.7"));

  EXPECT_EQ(http.status(), 200) << http.error().message();
  EXPECT_EQ(http.proxy(), "");
  EXPECT_EQ(https.status(), 200) << https.error().message();
  EXPECT_EQ(https.proxy(), "");
  decoy->Stop();
  plain->Stop();
  EXPECT_EQ(decoy->accepted(), 0);
  EXPECT_EQ(plain->accepted(), 1);
  EXPECT_EQ(tls->handshakes(), 1);
}

}  // namespace
}  // namespace hl::worker
