#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "tests/worker/tls_test_server.h"
#include "worker/prober.h"

namespace hl::worker {
namespace {

using testing::BindLoopback;
using testing::CertSpec;
using testing::HttpTestServer;
using testing::MakeCert;
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
  HttpProber prober(TestConfig(), SandboxPolicy());

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
  HttpProber prober(TestConfig(), SandboxPolicy());

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
  HttpProber prober(TestConfig(), SandboxPolicy());
  pb::RequestContext context;
  context.set_referer("http://forum.example/t/1");
  context.set_user_agent("Mozilla/5.0 (Android 14; Mobile)");

  const pb::HttpObservation with_context =
      prober.Head(UrlFor(server->port()), ParseIp("127.0.80.2"), context);
  EXPECT_EQ(with_context.status(), 200) << with_context.error().message();
  const std::string request = server->first_request();
  EXPECT_NE(request.find("\r\nReferer: http://forum.example/t/1\r\n"),
            std::string::npos)
      << request;
  EXPECT_NE(
      request.find("\r\nUser-Agent: Mozilla/5.0 (Android 14; Mobile)\r\n"),
      std::string::npos)
      << request;
  server->Stop();

  // The next probe on the same prober is back to the defaults.
  auto second = HttpTestServer::Start(
      "127.0.80.2", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_NE(second, nullptr);
  prober.Head(UrlFor(second->port()), ParseIp("127.0.80.2"));
  const std::string plain = second->first_request();
  EXPECT_EQ(plain.find("Referer:"), std::string::npos) << plain;
  EXPECT_NE(plain.find("\r\nUser-Agent: hostlocator-test\r\n"),
            std::string::npos)
      << plain;
}

TEST(HttpProberTest, KeepsHeadersOfTheFinalResponseAndHashesAll) {
  const std::string header_block =
      "HTTP/1.1 103 Early Hints\r\nServer: interim\r\n"
      "Link: </style.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nServer: final\r\nContent-Length: 0\r\n\r\n";
  auto server = HttpTestServer::Start("127.0.80.10", header_block);
  ASSERT_NE(server, nullptr);
  HttpProber prober(TestConfig(), SandboxPolicy());

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
  HttpProber prober(TestConfig(), SandboxPolicy());

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
    HttpProber prober(TestConfig(), policy);
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
  HttpProber prober(TestConfig(),
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
  HttpProber prober(TestConfig(), SandboxPolicy());

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
  HttpProber prober(config, SandboxPolicy());

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
  HttpProber prober(TestConfig(), SandboxPolicy());

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
  HttpProber prober(TestConfig(), SandboxPolicy());

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
    HttpProber prober(Config(), SandboxPolicy());
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
  HttpProber prober(Config(), SandboxPolicy());

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
      HttpProber prober(Config(), SandboxPolicy());
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
  HttpProber prober(TestConfig(), SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port(), "https"), ParseIp("127.0.81.6"));

  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_FALSE(obs.tls().verified());
  EXPECT_TRUE(obs.tls().name_matched());
  EXPECT_EQ(obs.tls().verify_error(), "unable to get local issuer certificate");
  EXPECT_EQ(obs.tls().trust_store(), kSystemCaFile);
}

TEST_F(TlsProbeTest, UnreadableCaFileLeavesProbesUnverified) {
  const TestCert leaf = Leaf();
  auto server = TlsTestServer::Start("127.0.81.7", {&leaf, &ca_}, kOk);
  ASSERT_NE(server, nullptr);
  HttpConfig config = Config();
  config.ca_file = ca_file_ + ".missing";
  HttpProber prober(config, SandboxPolicy());

  const pb::HttpObservation obs =
      prober.Head(UrlFor(server->port(), "https"), ParseIp("127.0.81.7"));

  EXPECT_EQ(obs.status(), 200);
  ASSERT_TRUE(obs.has_tls());
  EXPECT_FALSE(obs.tls().verified());
  EXPECT_TRUE(obs.tls().name_matched());
  EXPECT_NE(obs.tls().verify_error().find("cannot load the trust store " +
                                          config.ca_file),
            std::string::npos)
      << obs.tls().verify_error();
  EXPECT_EQ(obs.tls().sha256(), Sha256(leaf.Der()));
}

TEST(HttpProberTest, TlsHandshakeFailureIsTlsError) {
  auto server = HttpTestServer::Start(
      "127.0.80.8", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
      HttpTestServer::Reply::kOnFirstBytes);
  ASSERT_NE(server, nullptr);
  HttpProber prober(TestConfig(), SandboxPolicy());

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
  HttpProber prober(TestConfig(), SandboxPolicy());

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

}  // namespace
}  // namespace hl::worker
