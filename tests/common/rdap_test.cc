#include "common/rdap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/rdap_client.h"
#include "tests/worker/loopback_servers.h"

namespace hl::rdap {
namespace {

using ::hl::worker::testing::HttpTestServer;
using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(HL_SOURCE_DIR) + "/tests/common/rdap_fixtures/" +
                   name);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << name;
  return text.str();
}

net::IpAddress Ip(const std::string& text) {
  return *net::IpAddress::Parse(text);
}

// A bootstrap document with the given ipv4 and dns services (JSON arrays).
std::string BootstrapJson(const std::string& ipv4, const std::string& dns,
                          const std::string& ipv6 = "[]") {
  auto registry = [](const std::string& services) {
    return R"({"description": "test", "publication": "2026-11-29T00:00:00Z",
               "version": "1.0", "services": )" +
           services + "}";
  };
  return R"({"source": "test", "retrieved": "2026-11-29", "ipv4": )" +
         registry(ipv4) + R"(, "ipv6": )" + registry(ipv6) + R"(, "dns": )" +
         registry(dns) + "}";
}

TEST(RdapBootstrapTest, LongestMatchAndHttpsFirst) {
  Result<Bootstrap> b = Bootstrap::Parse(
      BootstrapJson(
          R"([[["10.0.0.0/8"], ["http://a.example/", "https://a.example/"]],
              [["10.1.0.0/16"], ["https://b.example/rdap"]]])",
          R"([[["uk"], ["https://uk.example/"]],
              [["co.uk", "org.uk"], ["https://co-uk.example/"]],
              [["com"], ["http://com.example/"]]])",
          R"([[["2001:db8::/32"], ["https://v6.example/"]]])"),
      "test.json");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->ForIp(Ip("10.2.3.4")), "https://a.example/");
  EXPECT_EQ(b->ForIp(Ip("10.1.3.4")), "https://b.example/rdap/");
  EXPECT_EQ(b->ForIp(Ip("11.0.0.1")), std::nullopt);
  EXPECT_EQ(b->ForIp(Ip("2001:db8::1")), "https://v6.example/");
  EXPECT_EQ(b->ForIp(Ip("2001:db9::1")), std::nullopt);
  EXPECT_EQ(b->ForDomain("example.co.uk"), "https://co-uk.example/");
  EXPECT_EQ(b->ForDomain("EXAMPLE.UK."), "https://uk.example/");
  EXPECT_EQ(b->ForDomain("example.com"), "http://com.example/");
  EXPECT_EQ(b->ForDomain("example.notcom"), std::nullopt);
  EXPECT_EQ(b->ForDomain("example.de"), std::nullopt);
  EXPECT_EQ(b->source(), "test");
  EXPECT_EQ(b->retrieved(), "2026-11-29");
}

TEST(RdapBootstrapTest, ErrorsNameTheFileAndThePlace) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "b.json: not a JSON object"},
      {R"({"ipv4": {}})", "\"source\" and \"retrieved\""},
      {BootstrapJson(R"([[["10.0.0.0/33"], ["https://a/"]]])", "[]"),
       "b.json: ipv4.services[0]: "},
      {BootstrapJson(R"([["10.0.0.0/8"]])", "[]"),
       "ipv4.services[0]: not a pair"},
      {BootstrapJson("[]", R"([[["com"], []]])"), "dns.services[0]: no URL"},
  };
  for (const auto& [json, part] : cases) {
    Result<Bootstrap> b = Bootstrap::Parse(json, "b.json");
    ASSERT_FALSE(b.ok()) << json;
    EXPECT_THAT(b.status().message(), HasSubstr(part));
  }
}

TEST(RdapBootstrapTest, ShippedBootstrapCoversTheFiveRirsAndCommonTlds) {
  Result<Bootstrap> b = Bootstrap::Load(std::string(HL_SOURCE_DIR) +
                                        "/config/rdap-bootstrap.json");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_THAT(b->source(), HasSubstr("IANA"));
  EXPECT_EQ(b->retrieved().size(), 10u);
  EXPECT_EQ(b->ForIp(Ip("193.0.6.139")), "https://rdap.db.ripe.net/");
  EXPECT_EQ(b->ForIp(Ip("8.8.8.8")), std::nullopt);  // legacy, not listed
  EXPECT_EQ(b->ForIp(Ip("24.1.1.1")), "https://rdap.arin.net/registry/");
  EXPECT_EQ(b->ForIp(Ip("1.1.1.1")), "https://rdap.apnic.net/");
  EXPECT_EQ(b->ForIp(Ip("200.1.1.1")), "https://rdap.lacnic.net/rdap/");
  EXPECT_EQ(b->ForIp(Ip("41.1.1.1")), "https://rdap.afrinic.net/rdap/");
  EXPECT_EQ(b->ForIp(Ip("2a00:1450::1")), "https://rdap.db.ripe.net/");
  EXPECT_EQ(b->ForDomain("example.com"), "https://rdap.verisign.com/com/v1/");
  EXPECT_EQ(b->ForDomain("example.org"),
            "https://rdap.publicinterestregistry.org/rdap/");
}

TEST(RdapParseTest, Network) {
  Result<Network> n = ParseNetwork(Fixture("ip_network.json"), "u");
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->server, "u");
  EXPECT_EQ(n->name, "EXAMPLE-HOSTING-NET");
  EXPECT_EQ(n->handle, "203.0.113.0 - 203.0.113.255");
  EXPECT_EQ(n->organisation, "Example Hosting B.V.");
  EXPECT_EQ(n->country, "NL");
  EXPECT_EQ(n->abuse_email, "abuse@hosting.example");
  EXPECT_EQ(n->abuse_phone, "+31-20-0000000");
  EXPECT_EQ(n->start_address, "203.0.113.0");
  EXPECT_EQ(n->end_address, "203.0.113.255");
}

TEST(RdapParseTest, Domain) {
  Result<Domain> d = ParseDomain(Fixture("domain.json"), "u");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->name, "example.com");
  EXPECT_EQ(d->registrar, "Example Registrar, Inc.");
  EXPECT_EQ(d->registrar_country, "US");
  EXPECT_EQ(d->abuse_email, "abuse@registrar.example");
  EXPECT_EQ(d->abuse_phone, "+1.5555550100");
}

TEST(RdapParseTest, MalformedAndUnexpectedAnswers) {
  for (const std::string& body :
       {std::string("{\"objectClassName\": "), std::string("[1, 2]"),
        std::string("{\"objectClassName\": \"domain\"}"), std::string("")}) {
    Result<Network> n = ParseNetwork(body, "https://r.example/ip/1");
    ASSERT_FALSE(n.ok()) << body;
    EXPECT_EQ(n.status().code(), StatusCode::kDataLoss);
    EXPECT_THAT(n.status().message(), HasSubstr("https://r.example/ip/1"));
  }
  // Members of the wrong type are left empty, not fatal.
  Result<Network> n = ParseNetwork(
      R"({"objectClassName": "ip network", "name": 7, "entities": "x"})", "u");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->name, "");
}

std::string HttpResponse(const std::string& status, const std::string& body,
                         const std::string& extra = "") {
  return "HTTP/1.1 " + status +
         "\r\nContent-Type: application/rdap+json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra +
         "\r\n" + body;
}

// Loopback RDAP servers, one per behaviour, and a bootstrap that sends
// 203.0.113.0/25 to `ok`, 203.0.113.128/25 to `missing`, 198.51.100.0/24
// to `busy`, 192.0.2.0/24 to `garbage`, .com to `domain`.
class RdapClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ok_ = HttpTestServer::Start(
        "127.0.0.1", HttpResponse("200 OK", Fixture("ip_network.json")));
    missing_ = HttpTestServer::Start(
        "127.0.0.1", HttpResponse("404 Not Found", R"({"errorCode": 404})"));
    busy_ = HttpTestServer::Start(
        "127.0.0.1",
        HttpResponse("429 Too Many Requests", "{}", "Retry-After: 30\r\n"));
    garbage_ = HttpTestServer::Start(
        "127.0.0.1", HttpResponse("200 OK", "<html>not rdap</html>"));
    domain_ = HttpTestServer::Start(
        "127.0.0.1", HttpResponse("200 OK", Fixture("domain.json")));
    ASSERT_TRUE(ok_ && missing_ && busy_ && garbage_ && domain_);
    auto url = [](const std::unique_ptr<HttpTestServer>& s) {
      return "\"http://127.0.0.1:" + std::to_string(s->port()) + "/\"";
    };
    Result<Bootstrap> b = Bootstrap::Parse(
        BootstrapJson("[[[\"203.0.113.0/25\"], [" + url(ok_) +
                          "]], [[\"203.0.113.128/25\"], [" + url(missing_) +
                          "]], [[\"198.51.100.0/24\"], [" + url(busy_) +
                          "]], [[\"192.0.2.0/24\"], [" + url(garbage_) + "]]]",
                      "[[[\"com\"], [" + url(domain_) + "]]]"),
        "loopback");
    ASSERT_TRUE(b.ok()) << b.status().message();
    ClientOptions options;
    options.ttl_ms = 60000;
    options.min_interval_ms = 1000;
    options.backoff_ms = 5000;
    client_ = std::make_unique<Client>(
        std::move(b).value(), &cache_, [this] { return now_ms_; }, options);
  }

  int64_t now_ms_ = 1'800'000'000'000;
  MemoryRdapCache cache_;
  std::unique_ptr<HttpTestServer> ok_, missing_, busy_, garbage_, domain_;
  std::unique_ptr<Client> client_;
};

TEST_F(RdapClientTest, NetworkAnswerIsParsedAndCachedForItsTtl) {
  Result<Network> n = client_->LookupIp(Ip("203.0.113.7"));
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->country, "NL");
  EXPECT_EQ(n->abuse_email, "abuse@hosting.example");
  EXPECT_THAT(ok_->first_request(), HasSubstr("GET /ip/203.0.113.7 HTTP/1.1"));
  EXPECT_THAT(ok_->first_request(), HasSubstr("Accept: application/rdap+json"));

  // From the cache: no request, even inside the rate-limit interval.
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.7")).ok());
  // Another address of that server inside the interval: refused locally.
  Result<Network> limited = client_->LookupIp(Ip("203.0.113.8"));
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(limited.status().message(), HasSubstr("rate limit"));
  now_ms_ += 1000;
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.8")).ok());
  // After the TTL the first answer is asked for again.
  now_ms_ += 60000;
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.7")).ok());
  ok_->Stop();
  EXPECT_EQ(ok_->accepted(), 3);
}

TEST_F(RdapClientTest, NotFoundIsFinal) {
  Result<Network> n = client_->LookupIp(Ip("203.0.113.200"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(n.status().message(), HasSubstr("/ip/203.0.113.200"));
}

TEST_F(RdapClientTest, TooManyRequestsBlocksTheServerForRetryAfter) {
  Result<Network> n = client_->LookupIp(Ip("198.51.100.9"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(n.status().message(), HasSubstr("429"));
  EXPECT_THAT(n.status().message(), HasSubstr("retry in 30000 ms"));
  now_ms_ += 29000;
  Result<Network> again = client_->LookupIp(Ip("198.51.100.10"));
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.status().message(), HasSubstr("rate limit"));
  now_ms_ += 1000;
  EXPECT_THAT(client_->LookupIp(Ip("198.51.100.10")).status().message(),
              HasSubstr("429"));
  busy_->Stop();
  EXPECT_EQ(busy_->accepted(), 2);
}

TEST_F(RdapClientTest, MalformedAnswerIsNotCached) {
  Result<Network> n = client_->LookupIp(Ip("192.0.2.1"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(n.status().message(), HasSubstr("malformed RDAP answer"));
  now_ms_ += 1000;
  EXPECT_FALSE(client_->LookupIp(Ip("192.0.2.1")).ok());
  garbage_->Stop();
  EXPECT_EQ(garbage_->accepted(), 2);
}

TEST_F(RdapClientTest, DomainAnswer) {
  Result<Domain> d = client_->LookupDomain("Example.COM");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->registrar, "Example Registrar, Inc.");
  EXPECT_EQ(d->registrar_country, "US");
  EXPECT_EQ(d->abuse_email, "abuse@registrar.example");
  EXPECT_THAT(domain_->first_request(),
              HasSubstr("GET /domain/example.com HTTP/1.1"));
}

TEST_F(RdapClientTest, NoServerAndNoConnection) {
  Result<Domain> d = client_->LookupDomain("example.de");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kFailedPrecondition);
  ok_->Stop();
  ok_.reset();  // the port is closed: connection refused
  Result<Network> n = client_->LookupIp(Ip("203.0.113.7"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hl::rdap
