#include "common/rdap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
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

// A registry file in IANA's format with the given services (a JSON array).
std::string RegistryFile(const std::string& services) {
  return R"({"description": "test", "publication": "2026-11-29T00:00:00Z",
             "version": "1.0", "services": )" +
         services + "}";
}

// A bootstrap with the given ipv4, dns, ipv6 and asn services.
Result<Bootstrap> MakeBootstrap(const std::string& ipv4, const std::string& dns,
                                const std::string& ipv6 = "[]",
                                const std::string& asn = "[]") {
  Bootstrap b;
  for (const auto& [registry, services] :
       std::vector<std::pair<rdap::Registry, std::string>>{
           {rdap::Registry::kIpv4, ipv4},
           {rdap::Registry::kIpv6, ipv6},
           {rdap::Registry::kAsn, asn},
           {rdap::Registry::kDns, dns}}) {
    Result<std::string> added = b.Add(registry, RegistryFile(services), "test");
    if (!added.ok()) return added.status();
  }
  return b;
}

TEST(RdapBootstrapTest, LongestMatchAndHttpsFirst) {
  Result<Bootstrap> b = MakeBootstrap(
      R"([[["10.0.0.0/8"], ["http://a.example/", "https://a.example/"]],
          [["10.1.0.0/16"], ["https://b.example/rdap"]]])",
      R"([[["uk"], ["https://uk.example/"]],
          [["co.uk", "org.uk"], ["https://co-uk.example/"]],
          [["com"], ["http://com.example/"]]])",
      R"([[["2001:db8::/32"], ["https://v6.example/"]]])",
      R"([[["1-1876", "64500"], ["https://asn.example/"]]])");
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
  EXPECT_EQ(b->ForAsn(1), "https://asn.example/");
  EXPECT_EQ(b->ForAsn(1876), "https://asn.example/");
  EXPECT_EQ(b->ForAsn(1877), std::nullopt);
  EXPECT_EQ(b->ForAsn(64500), "https://asn.example/");
  EXPECT_EQ(b->publication(rdap::Registry::kDns), "2026-11-29T00:00:00Z");
}

TEST(RdapBootstrapTest, ForIpIsTheLongestPrefixTheFirstAddedAmongEqualOnes) {
  Result<Bootstrap> b = MakeBootstrap(
      R"([[["0.0.0.0/1"], ["https://low.example/"]],
          [["10.0.0.0/8"], ["https://a.example/"]],
          [["10.1.0.0/16", "10.1.2.0/24"], ["https://b.example/"]],
          [["10.1.2.0/24"], ["https://c.example/"]],
          [["10.1.2.128/25"], ["https://d.example/"]],
          [["10.255.255.255/32"], ["https://e.example/"]],
          [["255.255.255.255/32"], ["https://top.example/"]]])",
      "[]",
      R"([[["2001:db8::/32"], ["https://v6a.example/"]],
          [["2001:db8:1::/48"], ["https://v6b.example/"]],
          [["2001:db8:1:0:8000::/65"], ["https://v6c.example/"]],
          [["2001:db8:1::/48"], ["https://v6d.example/"]],
          [["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"],
           ["https://v6top.example/"]]])");
  ASSERT_TRUE(b.ok()) << b.status().message();
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases =
      {
          {"0.0.0.0", "https://low.example/"},
          {"9.255.255.255", "https://low.example/"},
          {"10.0.0.0", "https://a.example/"},
          {"10.0.255.255", "https://a.example/"},
          {"10.1.0.0", "https://b.example/"},
          {"10.1.1.255", "https://b.example/"},
          {"10.1.2.0", "https://b.example/"},
          {"10.1.2.127", "https://b.example/"},
          {"10.1.2.128", "https://d.example/"},
          {"10.1.2.255", "https://d.example/"},
          {"10.1.3.0", "https://b.example/"},
          {"10.1.255.255", "https://b.example/"},
          {"10.2.0.0", "https://a.example/"},
          {"10.255.255.254", "https://a.example/"},
          {"10.255.255.255", "https://e.example/"},
          {"11.0.0.0", "https://low.example/"},
          {"127.255.255.255", "https://low.example/"},
          {"128.0.0.0", std::nullopt},
          {"255.255.255.254", std::nullopt},
          {"255.255.255.255", "https://top.example/"},
          {"2001:db8::", "https://v6a.example/"},
          {"2001:db8:0:ffff:ffff:ffff:ffff:ffff", "https://v6a.example/"},
          {"2001:db8:1::", "https://v6b.example/"},
          {"2001:db8:1:0:7fff:ffff:ffff:ffff", "https://v6b.example/"},
          {"2001:db8:1:0:8000::", "https://v6c.example/"},
          {"2001:db8:1:0:ffff:ffff:ffff:ffff", "https://v6c.example/"},
          {"2001:db8:1:1::", "https://v6b.example/"},
          {"2001:db8:2::", "https://v6a.example/"},
          {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "https://v6a.example/"},
          {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", std::nullopt},
          {"2001:db9::", std::nullopt},
          {"::", std::nullopt},
          {"::ffff:10.1.2.3", std::nullopt},  // families never mix
          {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", std::nullopt},
          {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "https://v6top.example/"},
      };
  for (const auto& [ip, url] : cases) {
    EXPECT_EQ(b->ForIp(Ip(ip)), url) << ip;
  }
}

TEST(RdapBootstrapTest, ForDomainIsTheLongestLabelSuffixTheFirstAddedOne) {
  Result<Bootstrap> b =
      MakeBootstrap("[]",
                    R"([[["uk", "Example.Org."], ["https://uk.example/"]],
          [["co.uk", "uk"], ["https://co-uk.example/"]],
          [["b"], ["https://b.example/"]],
          [["ample.com"], ["https://ample.example/"]]])");
  ASSERT_TRUE(b.ok()) << b.status().message();
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases =
      {
          {"uk", "https://uk.example/"},
          {"example.uk", "https://uk.example/"},
          {"co.uk", "https://co-uk.example/"},
          {"a.b.co.uk", "https://co-uk.example/"},
          {"A.B.CO.UK.", "https://co-uk.example/"},
          {"..co.uk..", "https://co-uk.example/"},
          {"xco.uk", "https://uk.example/"},
          {"example.org", "https://uk.example/"},
          {"www.example.org", "https://uk.example/"},
          {"org", std::nullopt},
          {"a..b", "https://b.example/"},
          {"example.com", std::nullopt},  // "ample.com" is not a label suffix
          {"ample.com", "https://ample.example/"},
          {"", std::nullopt},
          {".", std::nullopt},
      };
  for (const auto& [name, url] : cases) {
    EXPECT_EQ(b->ForDomain(name), url) << name;
  }
}

TEST(RdapBootstrapTest, ErrorsNameTheFileAndThePlace) {
  struct Case {
    rdap::Registry registry;
    std::string json;
    std::string part;
  };
  const std::vector<Case> cases = {
      {rdap::Registry::kIpv4, "[]", "b.json: not a JSON object"},
      {rdap::Registry::kIpv4, "{", "b.json: not JSON"},
      {rdap::Registry::kIpv4, R"({"services": []})", "publication"},
      {rdap::Registry::kIpv4,
       RegistryFile(R"([[["10.0.0.0/33"], ["https://a/"]]])"),
       "b.json: services[0]: "},
      {rdap::Registry::kIpv4,
       RegistryFile(R"([[["2001:db8::/32"], ["https://a/"]]])"),
       "not an IPv4 prefix"},
      {rdap::Registry::kIpv6,
       RegistryFile(R"([[["10.0.0.0/8"], ["https://a/"]]])"),
       "not an IPv6 prefix"},
      {rdap::Registry::kIpv4, RegistryFile(R"([["10.0.0.0/8"]])"),
       "services[0]: not a pair"},
      {rdap::Registry::kAsn, RegistryFile(R"([[["9-1"], ["https://a/"]]])"),
       "\"9-1\" is not N or N-M"},
      {rdap::Registry::kDns, RegistryFile(R"([[["com"], []]])"),
       "services[0]: no URL"},
  };
  for (const Case& c : cases) {
    Bootstrap b;
    Result<std::string> added = b.Add(c.registry, c.json, "b.json");
    ASSERT_FALSE(added.ok()) << c.json;
    EXPECT_THAT(added.status().message(), HasSubstr(c.part)) << c.json;
  }
}

TEST(RdapBootstrapTest, ShippedBootstrapCoversTheFiveRirsAndCommonTlds) {
  Result<Bootstrap> b =
      Bootstrap::Load(std::string(HL_SOURCE_DIR) + "/config/rdap");
  ASSERT_TRUE(b.ok()) << b.status().message();
  for (rdap::Registry r : rdap::kRegistries) {
    EXPECT_EQ(b->publication(r).size(), 20u) << RegistryName(r);
  }
  EXPECT_EQ(b->ForIp(Ip("193.0.6.139")), "https://rdap.db.ripe.net/");
  EXPECT_EQ(b->ForIp(Ip("8.8.8.8")), "https://rdap.arin.net/registry/");
  EXPECT_EQ(b->ForIp(Ip("24.1.1.1")), "https://rdap.arin.net/registry/");
  EXPECT_EQ(b->ForIp(Ip("1.1.1.1")), "https://rdap.apnic.net/");
  EXPECT_EQ(b->ForIp(Ip("200.1.1.1")), "https://rdap.lacnic.net/rdap/");
  EXPECT_EQ(b->ForIp(Ip("41.1.1.1")), "https://rdap.afrinic.net/rdap/");
  EXPECT_EQ(b->ForIp(Ip("2a00:1450::1")), "https://rdap.db.ripe.net/");
  EXPECT_EQ(b->ForIp(Ip("2600::1")), "https://rdap.arin.net/registry/");
  EXPECT_EQ(b->ForAsn(9808), "https://rdap.apnic.net/");
  EXPECT_EQ(b->ForAsn(15169), "https://rdap.arin.net/registry/");
  EXPECT_EQ(b->ForAsn(3320), "https://rdap.db.ripe.net/");
  EXPECT_EQ(b->ForAsn(28000), "https://rdap.lacnic.net/rdap/");
  EXPECT_EQ(b->ForAsn(37100), "https://rdap.afrinic.net/rdap/");
  EXPECT_EQ(b->ForDomain("example.com"), "https://rdap.verisign.com/com/v1/");
  EXPECT_EQ(b->ForDomain("example.net"), "https://rdap.verisign.com/net/v1/");
  EXPECT_EQ(b->ForDomain("example.org"),
            "https://rdap.publicinterestregistry.org/rdap/");
  EXPECT_EQ(b->ForDomain("example.co.uk"), "https://rdap.nominet.uk/uk/");
  EXPECT_EQ(b->ForDomain("example.nl"), "https://rdap.sidn.nl/");
  EXPECT_EQ(b->ForDomain("example.fr"), "https://rdap.nic.fr/");
  EXPECT_EQ(b->ForDomain("example.com.br"), "https://rdap.registro.br/");
  EXPECT_EQ(b->ForDomain("example.cz"), "https://rdap.nic.cz/");
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
    autnum_ = HttpTestServer::Start(
        "127.0.0.1", HttpResponse("200 OK", Fixture("autnum.json")));
    ASSERT_TRUE(ok_ && missing_ && busy_ && garbage_ && domain_ && autnum_);
    auto url = [](const std::unique_ptr<HttpTestServer>& s) {
      return "\"http://127.0.0.1:" + std::to_string(s->port()) + "/\"";
    };
    Result<Bootstrap> b =
        MakeBootstrap("[[[\"203.0.113.0/25\"], [" + url(ok_) +
                          "]], [[\"203.0.113.128/25\"], [" + url(missing_) +
                          "]], [[\"198.51.100.0/24\"], [" + url(busy_) +
                          "]], [[\"192.0.2.0/24\"], [" + url(garbage_) + "]]]",
                      "[[[\"com\"], [" + url(domain_) + "]]]", "[]",
                      "[[[\"64500\"], [" + url(autnum_) + "]]]");
    ASSERT_TRUE(b.ok()) << b.status().message();
    ClientOptions options;
    options.ttl_ms = 60000;
    options.negative_ttl_ms = 10000;
    options.min_interval_ms = 1000;
    options.backoff_ms = 5000;
    client_ = std::make_unique<Client>(
        std::move(b).value(), &cache_, [this] { return now_ms_; }, options);
  }

  int64_t now_ms_ = 1'800'000'000'000;
  MemoryRdapCache cache_;
  std::unique_ptr<HttpTestServer> ok_, missing_, busy_, garbage_, domain_,
      autnum_;
  std::unique_ptr<Client> client_;
};

TEST_F(RdapClientTest, NetworkAnswerServesItsRangeForItsTtl) {
  Result<Network> n = client_->LookupIp(Ip("203.0.113.7"));
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->country, "NL");
  EXPECT_EQ(n->abuse_email, "abuse@hosting.example");
  EXPECT_THAT(ok_->first_request(), HasSubstr("GET /ip/203.0.113.7 HTTP/1.1"));
  EXPECT_THAT(ok_->first_request(), HasSubstr("Accept: application/rdap+json"));

  // Every address of the answer's range 203.0.113.0-255 comes from the
  // cache: no request, even inside the rate-limit interval.
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.7")).ok());
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.99")).ok());
  // After the TTL the server is asked again.
  now_ms_ += 59999;
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.8")).ok());
  now_ms_ += 1;
  ASSERT_TRUE(client_->LookupIp(Ip("203.0.113.8")).ok());
  ok_->Stop();
  EXPECT_EQ(ok_->accepted(), 2);
}

TEST_F(RdapClientTest, LocalIntervalIsResourceExhausted) {
  ASSERT_TRUE(client_->LookupDomain("example.com").ok());
  Result<Domain> limited = client_->LookupDomain("other.com");
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(limited.status().message(), HasSubstr("rate limit"));
  now_ms_ += 1000;
  EXPECT_TRUE(client_->LookupDomain("other.com").ok());
}

TEST_F(RdapClientTest, NotFoundIsFinalAndCachedForTheNegativeTtl) {
  Result<Network> n = client_->LookupIp(Ip("203.0.113.200"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(n.status().message(), HasSubstr("/ip/203.0.113.200"));
  now_ms_ += 9999;
  EXPECT_EQ(client_->LookupIp(Ip("203.0.113.200")).status().code(),
            StatusCode::kNotFound);
  now_ms_ += 1;
  EXPECT_EQ(client_->LookupIp(Ip("203.0.113.200")).status().code(),
            StatusCode::kNotFound);
  missing_->Stop();
  EXPECT_EQ(missing_->accepted(), 2);
}

TEST_F(RdapClientTest, AutnumAnswer) {
  Result<Autnum> a = client_->LookupAsn(64500);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->handle, "AS64500");
  EXPECT_EQ(a->country, "NL");
  EXPECT_THAT(autnum_->first_request(), HasSubstr("GET /autnum/64500 "));
  EXPECT_EQ(client_->LookupAsn(64501).status().code(),
            StatusCode::kFailedPrecondition);
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
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(again.status().message(), HasSubstr("asked to wait 1000 ms"));
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
