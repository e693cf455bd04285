#include "common/record_json.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "common/plain_ascii.h"
#include "common/utf8.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using Json = nlohmann::ordered_json;
using ::testing::ElementsAreArray;

pb::Observation FromText(const std::string& text) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &obs));
  return obs;
}

// The results-file text of one line.
std::string RecordText(const pb::LineRecord& line, const pb::Observation* obs) {
  std::string text;
  AppendResultRecordJson(line, obs, &text);
  return text;
}

// The record parsed back: a parse error fails the test with an exception.
Json Record(const pb::LineRecord& line, const pb::Observation* obs) {
  return Json::parse(RecordText(line, obs));
}

std::vector<std::string> Keys(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  return keys;
}

// A complete observation: every field set.
pb::Observation FullObservation() {
  pb::Observation obs = FromText(R"(
    url: "https://www.example.com/a?b"
    host: "www.example.com"
    status: "located"
    dns {
      cname_chain: "www.example.com"
      cname_chain: "edge.example.net"
      addresses { ip: "203.0.113.7" ttl: 300 }
      queries { name: "www.example.com" type: "A" resolver: "192.0.2.53:53"
                rcode: "NOERROR" sent_unix_ms: 1795917692123
                elapsed_us: 1500 raw_answer: "\001\002\003" }
      per_resolver { resolver: "192.0.2.53:53" addresses: "203.0.113.7" }
      per_resolver { resolver: "198.51.100.53:53" error_class: "nxdomain" }
      resolvers_disagree: true
    }
    addresses { ip: "203.0.113.7" country: "DE" city: "Berlin" asn: 64500
                as_org: "Example GmbH" network: "203.0.113.0/24" }
    pinned_ip: "203.0.113.7"
    http {
      method: "HEAD" request_url: "https://www.example.com/a?b" status: 200
      http_version: "1.1"
      headers { name: "Server" value: "nginx" }
      headers { name: "Via" value: "1.1 a" }
      headers { name: "Via" value: "1.1 b" }
      header_block_sha256: "\x00\x01\xab\xff"
      connected_ip: "203.0.113.7" connected_port: 443 elapsed_ms: 42
      tls {
        protocol: "TLSv1.3" cipher: "TLS_AES_128_GCM_SHA256"
        subject: "CN=www.example.com" issuer: "CN=Example CA,O=Example"
        san_dns: "www.example.com" san_dns: "*.example.com"
        san_ip: "203.0.113.7" san_ip: "2001:db8::7"
        not_before_unix: 1764374400 not_after_unix: 1795910400
        serial: "0a1b" sha256: "\x00\x01\xab\xff"
        key_type: "EC" key_bits: 256
        chain { subject: "CN=www.example.com" issuer: "CN=Example CA,O=Example"
                sha256: "\x00\x01\xab\xff" }
        verified: false name_matched: true
        verify_error: "certificate has expired"
        trust_store: "/etc/ssl/certs/ca-certificates.crt"
      }
      timings { connect_us: 1500 tls_us: 4250 first_byte_us: 9000
                total_us: 9001 }
      proxy: "socks5://192.0.2.8:1080"
      politeness_wait_us: 2500
    }
    providers {
      name: "Cloudflare" category: "cdn" country: "US"
      abuse: "https://abuse.cloudflare.com/"
      evidence { kind: "header" rule: "cf-ray" value: "CF-RAY: 8a1b-FRA" }
      evidence { kind: "ip_range" rule: "104.16.0.0/13" value: "104.16.1.1" }
    }
    verdict { hosting_countries: "DE" reasons: "HTTP HEAD answered" }
    checked_at_unix_ms: 1795917692123
    finished_at_unix_ms: 1795917692456
    data_sources { role: "country" database_type: "DBIP-Country-Lite"
                   build_epoch: 1767225600 path: "data/geo/c.mmdb"
                   attribution: "IP Geolocation by DB-IP" }
    tool_version: "0.1.0"
    config_digest: "abc"
    worker: "w1"
  )");
  return obs;
}

TEST(RecordJsonTest, ObservationFieldsInDocumentedOrder) {
  Json j = ObservationToJson(FullObservation());
  EXPECT_THAT(Keys(j), ElementsAreArray(
                           {"url",          "host",           "context",
                            "status",       "error",          "dns",
                            "addresses",    "pinned_ip",      "http",
                            "redirects",    "redirect_error", "providers",
                            "verdict",      "checked_at",     "finished_at",
                            "data_sources", "tool_version",   "config_digest",
                            "worker",       "registration",   "rdap"}));
  EXPECT_EQ(j["providers"], Json::parse(R"([{
    "name": "Cloudflare", "category": "cdn", "country": "US",
    "abuse": "https://abuse.cloudflare.com/",
    "evidence": [
      {"kind": "header", "rule": "cf-ray", "value": "CF-RAY: 8a1b-FRA"},
      {"kind": "ip_range", "rule": "104.16.0.0/13", "value": "104.16.1.1"}
    ]}])"));
  EXPECT_THAT(Keys(j["dns"]),
              ElementsAreArray({"cname_chain", "addresses", "queries", "error",
                                "ns_domain", "ns", "ptr", "per_resolver",
                                "resolvers_disagree"}));
  EXPECT_THAT(Keys(j["dns"]["addresses"][0]), ElementsAreArray({"ip", "ttl"}));
  EXPECT_EQ(j["dns"]["per_resolver"], Json::parse(R"([
    {"resolver": "192.0.2.53:53", "addresses": ["203.0.113.7"],
     "error_class": null},
    {"resolver": "198.51.100.53:53", "addresses": [],
     "error_class": "nxdomain"}])"));
  EXPECT_EQ(j["dns"]["resolvers_disagree"], true);
  EXPECT_EQ(j["http"]["proxy"], "socks5://192.0.2.8:1080");
  EXPECT_EQ(j["http"]["politeness_wait_ms"], 2.5);
  EXPECT_THAT(Keys(j["dns"]["queries"][0]),
              ElementsAreArray({"name", "type", "resolver", "rcode", "sent_at",
                                "elapsed_ms", "raw_answer_b64"}));
  EXPECT_THAT(
      Keys(j["addresses"][0]),
      ElementsAreArray({"ip", "country", "city", "asn", "as_org", "network",
                        "rdap_country", "registry_country"}));
  EXPECT_THAT(
      Keys(j["http"]),
      ElementsAreArray({"method", "request_url", "status", "http_version",
                        "headers", "header_block_sha256", "connected_ip",
                        "connected_port", "body_bytes", "elapsed_ms", "error",
                        "tls", "timings", "proxy", "politeness_wait_ms"}));
  EXPECT_THAT(
      Keys(j["http"]["tls"]),
      ElementsAreArray({"protocol", "cipher", "subject", "issuer", "san_dns",
                        "san_ip", "not_before", "not_after", "serial", "sha256",
                        "key_type", "key_bits", "chain", "verified",
                        "name_matched", "verify_error", "trust_store"}));
  EXPECT_THAT(Keys(j["http"]["tls"]["chain"][0]),
              ElementsAreArray({"subject", "issuer", "sha256"}));
  EXPECT_THAT(
      Keys(j["http"]["timings"]),
      ElementsAreArray({"connect_ms", "tls_ms", "first_byte_ms", "total_ms"}));
  EXPECT_THAT(
      Keys(j["verdict"]),
      ElementsAreArray({"hosting_countries", "reasons", "jurisdiction"}));
  EXPECT_THAT(Keys(j["data_sources"][0]),
              ElementsAreArray({"role", "database_type", "build_date", "path",
                                "attribution", "sha256"}));
}

TEST(RecordJsonTest, ObservationValues) {
  Json j = ObservationToJson(FullObservation());
  EXPECT_EQ(j["error"], nullptr);
  EXPECT_EQ(j["dns"]["cname_chain"],
            Json::parse(R"(["www.example.com","edge.example.net"])"));
  const Json& q = j["dns"]["queries"][0];
  EXPECT_EQ(q["sent_at"], "2026-11-29T02:01:32.123Z");
  EXPECT_DOUBLE_EQ(q["elapsed_ms"].get<double>(), 1.5);
  EXPECT_EQ(q["raw_answer_b64"], "AQID");
  EXPECT_EQ(j["addresses"][0]["asn"], 64500);
  EXPECT_EQ(j["http"]["status"], 200);
  EXPECT_EQ(j["http"]["headers"],
            Json::parse(R"([["Server","nginx"],["Via","1.1 a"],
                            ["Via","1.1 b"]])"));
  EXPECT_EQ(j["http"]["header_block_sha256"], "0001abff");
  EXPECT_EQ(j["http"]["connected_port"], 443);
  EXPECT_EQ(j["http"]["body_bytes"], 0);
  EXPECT_EQ(j["http"]["elapsed_ms"], 42);
  EXPECT_EQ(j["http"]["error"], nullptr);
  EXPECT_EQ(j["http"]["tls"], Json::parse(R"({
    "protocol": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256",
    "subject": "CN=www.example.com", "issuer": "CN=Example CA,O=Example",
    "san_dns": ["www.example.com", "*.example.com"],
    "san_ip": ["203.0.113.7", "2001:db8::7"],
    "not_before": "2025-11-29T00:00:00.000Z",
    "not_after": "2026-11-29T00:00:00.000Z",
    "serial": "0a1b", "sha256": "0001abff", "key_type": "EC", "key_bits": 256,
    "chain": [{"subject": "CN=www.example.com",
               "issuer": "CN=Example CA,O=Example", "sha256": "0001abff"}],
    "verified": false, "name_matched": true,
    "verify_error": "certificate has expired",
    "trust_store": "/etc/ssl/certs/ca-certificates.crt"})"));
  EXPECT_EQ(j["http"]["timings"], Json::parse(R"({"connect_ms": 1.5,
    "tls_ms": 4.25, "first_byte_ms": 9.0, "total_ms": 9.001})"));
  EXPECT_EQ(j["checked_at"], "2026-11-29T02:01:32.123Z");
  EXPECT_EQ(j["finished_at"], "2026-11-29T02:01:32.456Z");
  EXPECT_EQ(j["data_sources"][0]["build_date"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(j["worker"], "w1");
}

TEST(RecordJsonTest, MissingValuesAreNull) {
  pb::Observation obs = FromText(R"(
    url: "http://x.example/" host: "x.example" status: "error"
    error { error_class: "http_timeout" }
    dns { addresses { ip: "203.0.113.7" ttl: 1 }
          queries { name: "x.example" type: "A" rcode: "TIMEOUT" } }
    addresses { ip: "203.0.113.7" }
    http { method: "HEAD" error { error_class: "http_timeout"
                                  message: "no answer in 10000 ms" } }
    verdict {}
  )");
  Json j = ObservationToJson(obs);
  EXPECT_EQ(j["error"], Json::parse(R"({"class":"http_timeout",
                                        "message":null})"));
  const Json& q = j["dns"]["queries"][0];
  EXPECT_EQ(q["resolver"], nullptr);
  EXPECT_EQ(q["sent_at"], nullptr);
  EXPECT_EQ(q["raw_answer_b64"], nullptr);
  EXPECT_EQ(j["dns"]["error"], nullptr);
  EXPECT_EQ(j["addresses"][0],
            Json::parse(R"({"ip":"203.0.113.7","country":null,"city":null,
                            "asn":null,"as_org":null,"network":null,
                            "rdap_country":null,"registry_country":null})"));
  EXPECT_EQ(j["pinned_ip"], nullptr);
  EXPECT_EQ(j["http"]["status"], nullptr);
  EXPECT_EQ(j["http"]["http_version"], nullptr);
  EXPECT_EQ(j["http"]["headers"], Json::array());
  EXPECT_EQ(j["http"]["header_block_sha256"], nullptr);
  EXPECT_EQ(j["http"]["connected_ip"], nullptr);
  EXPECT_EQ(j["http"]["connected_port"], nullptr);
  EXPECT_EQ(j["http"]["error"]["message"], "no answer in 10000 ms");
  EXPECT_EQ(j["http"]["tls"], nullptr);
  EXPECT_EQ(j["http"]["timings"],
            Json::parse(R"({"connect_ms": null, "tls_ms": null,
                            "first_byte_ms": null, "total_ms": null})"));
  EXPECT_EQ(j["providers"], Json::array());
  EXPECT_EQ(j["verdict"]["hosting_countries"], Json::array());
  EXPECT_EQ(j["checked_at"], nullptr);
  EXPECT_EQ(j["data_sources"], Json::array());
  EXPECT_EQ(j["tool_version"], nullptr);
}

TEST(RecordJsonTest, StagesNotRunAreNull) {
  Json j =
      ObservationToJson(FromText(R"(host: "a.onion" status: "unresolved")"));
  EXPECT_EQ(j["dns"], nullptr);
  EXPECT_EQ(j["http"], nullptr);
  EXPECT_EQ(j["verdict"], nullptr);
  EXPECT_EQ(j["addresses"], Json::array());
}

TEST(RecordJsonTest, ResultRecordStartsWithTheLine) {
  pb::LineRecord line;
  line.set_line(7);
  line.set_input("https://www.example.com/a?b");
  line.set_job_id(3);
  pb::Observation obs = FullObservation();
  Json j = Record(line, &obs);
  EXPECT_THAT(
      Keys(j),
      ElementsAreArray(
          {"input",         "line",           "url",          "host",
           "context",       "status",         "reason",       "error",
           "dns",           "addresses",      "pinned_ip",    "http",
           "redirects",     "redirect_error", "providers",    "verdict",
           "checked_at",    "finished_at",    "data_sources", "tool_version",
           "config_digest", "worker",         "registration", "rdap",
           "history",       "stale_data",     "warnings"}));
  EXPECT_EQ(j["line"], 7);
  EXPECT_EQ(j["status"], "located");
  EXPECT_EQ(j["reason"], nullptr);
  // The observation part is the observation's own form.
  Json own = ObservationToJson(obs);
  for (const auto& [key, value] : own.items()) EXPECT_EQ(j[key], value) << key;
}

TEST(RecordJsonTest, RejectedLine) {
  pb::LineRecord line;
  line.set_line(12);
  line.set_input("ftp://files.example/x");
  line.set_rejection("unsupported scheme");
  line.set_rejection_detail("ftp");
  EXPECT_EQ(
      RecordText(line, nullptr),
      R"({"input":"ftp://files.example/x","line":12,"url":null,)"
      R"("host":null,"context":null,"status":"rejected",)"
      R"("reason":"unsupported scheme",)"
      R"("error":{"class":"rejected","message":"unsupported scheme: ftp"},)"
      R"("dns":null,"addresses":null,"pinned_ip":null,"http":null,)"
      R"("redirects":null,"redirect_error":null,)"
      R"("providers":null,"verdict":null,"checked_at":null,)"
      R"("finished_at":null,"data_sources":null,)"
      R"("tool_version":null,"config_digest":null,"worker":null,)"
      R"("registration":null,"rdap":null,"history":null,)"
      R"("stale_data":null,"warnings":null})");
}

TEST(RecordJsonTest, RdapFacts) {
  pb::Observation obs;
  google::protobuf::TextFormat::ParseFromString(R"(
    rdap {
      state: "partial"
      networks { ip: "192.0.2.7" handle: "NET-1" country: "DE" asn: 64500
                 registry_country: "DE" abuse_email: "abuse@hoster.example"
                 start_address: "192.0.2.0" end_address: "192.0.2.255"
                 source: "https://rdap.example/ip/192.0.2.7" }
      notes: "rdap: registration of example.de unavailable: timeout"
      enriched_unix_ms: 1800000000000
      bootstrap: "ipv4 2019-06-07T19:00:02Z"
    })",
                                                &obs);
  Json j = ObservationToJson(obs);
  EXPECT_EQ(j["rdap"], Json::parse(R"({
    "state": "partial",
    "networks": [{"ip": "192.0.2.7", "handle": "NET-1", "name": null,
                  "organisation": null, "country": "DE",
                  "abuse_email": "abuse@hoster.example", "abuse_phone": null,
                  "start_address": "192.0.2.0", "end_address": "192.0.2.255",
                  "source": "https://rdap.example/ip/192.0.2.7", "asn": 64500,
                  "as_name": null, "registry_country": "DE",
                  "as_source": null}],
    "notes": ["rdap: registration of example.de unavailable: timeout"],
    "enriched_at": "2027-01-15T08:00:00.000Z",
    "bootstrap": "ipv4 2019-06-07T19:00:02Z"})"));
  EXPECT_EQ(ObservationToJson(pb::Observation())["rdap"], nullptr);
}

TEST(RecordJsonTest, RejectedLineWithoutDetail) {
  pb::LineRecord line;
  line.set_line(1);
  line.set_rejection("empty");
  Json j = Record(line, nullptr);
  EXPECT_EQ(j["input"], "");
  EXPECT_EQ(j["error"]["message"], "empty");
  EXPECT_EQ(j["reason"], "empty");
}

TEST(RecordJsonTest, LineWithoutObservationHasNullFields) {
  pb::LineRecord line;
  line.set_line(2);
  line.set_input("http://a.example/");
  Json j = Record(line, nullptr);
  EXPECT_EQ(j["status"], nullptr);
  EXPECT_EQ(j["url"], nullptr);
  EXPECT_EQ(Keys(j).size(), 27u);
}

TEST(RecordJsonTest, HistorySummaryAndStaleDataWarnings) {
  pb::LineRecord line;
  line.set_line(3);
  line.set_input("http://www.example.com/");
  pb::Observation first = FullObservation();
  pb::Observation gone = FullObservation();
  gone.set_checked_at_unix_ms(first.checked_at_unix_ms() + 7'200'000);
  gone.mutable_http()->set_status(410);
  // FullObservation's country data was built on 2026-01-01, 330 days
  // before its check.
  const std::vector<pb::Observation> checks = {first, gone};
  const HistorySummary h = AnalyseHistory(checks, HistorySettings{});
  std::string text;
  AppendResultRecordJson(line, &gone, &text, &h);
  const Json j = Json::parse(text);
  EXPECT_EQ(j["history"], Json::parse(R"({
    "checks": 2, "state": "down", "moved": 0, "down": 1, "back_up": 0,
    "first_seen_online": "2026-11-29T02:01:32.123Z",
    "last_seen_online": "2026-11-29T02:01:32.123Z",
    "online_since": null, "down_since": "2026-11-29T04:01:32.123Z",
    "online_ms": 7200000, "time_to_takedown_ms": 7200000,
    "provider": "Cloudflare", "fast_flux": false})"));
  EXPECT_EQ(j["stale_data"], Json::parse(R"([{"role": "country",
    "build_date": "2026-01-01T00:00:00.000Z", "age_days": 332,
    "max_age_days": 30}])"));
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_THAT(j["warnings"][0].get<std::string>(),
              ::testing::StartsWith("warning: geolocation data (country) was "
                                    "332 days old at the check"));
}

// One head serves the record with its history and the record without:
// head then tail is AppendResultRecordJson's text for every kind of line.
TEST(RecordJsonTest, HeadAndTailMakeTheRecord) {
  pb::LineRecord line;
  line.set_line(3);
  line.set_input("http://www.example.com/");
  pb::LineRecord rejected = line;
  rejected.set_rejection("invalid_url");
  rejected.set_rejection_detail("no host");
  const pb::Observation obs = FullObservation();
  const std::vector<pb::Observation> checks = {obs};
  const HistorySummary h = AnalyseHistory(checks, HistorySettings{});
  struct Case {
    const pb::LineRecord* line;
    const pb::Observation* obs;
    const HistorySummary* history;
  };
  for (const Case& c :
       {Case{&line, &obs, &h}, Case{&line, &obs, nullptr},
        Case{&line, nullptr, nullptr}, Case{&rejected, nullptr, nullptr}}) {
    std::string whole = "x";
    AppendResultRecordJson(*c.line, c.obs, &whole, c.history);
    std::string parts = "x";
    AppendResultRecordHead(*c.line, c.obs, &parts);
    const std::string head = parts;
    AppendResultRecordTail(c.history, &parts);
    EXPECT_EQ(parts, whole);
    EXPECT_TRUE(whole.starts_with(head));
    EXPECT_NE(head.back(), '}');
  }
}

TEST(RecordJsonTest, JurisdictionAndRegistration) {
  pb::Observation obs = FromText(R"(
    host: "www.example.de"
    verdict {
      hosting_countries: "FR"
      jurisdiction {
        attribution: "hosted" primary_countries: "FR" confidence: "medium"
        secondary { country: "DE" role: "cctld" detail: ".de" }
        disagreements: "203.0.113.7: geolocation says FR, ..."
        registrable_domain: "example.de" cctld_country: "DE"
        registrar: "Registrar GmbH" home_country: "DE"
        referrals { country: "FR" kind: "hotline" route: "primary"
                    name: "Point de Contact"
                    website: "https://www.pointdecontact.net"
                    source: "INHOPE" }
        directory_unverified: true referral_warning: "not verified"
      }
    }
    registration { domain: "example.de" registrar: "Registrar GmbH"
                   registrar_country: "DE" source: "https://rdap.example/" }
  )");
  Json j = ObservationToJson(obs);
  EXPECT_EQ(j["verdict"]["jurisdiction"], Json::parse(R"({
    "attribution": "hosted", "primary_countries": ["FR"],
    "secondary": [{"country": "DE", "role": "cctld", "detail": ".de"}],
    "confidence": "medium",
    "disagreements": ["203.0.113.7: geolocation says FR, ..."],
    "registrable_domain": "example.de", "cctld_country": "DE",
    "registrar": "Registrar GmbH", "home_country": "DE",
    "referrals": [{"country": "FR", "kind": "hotline", "route": "primary",
                   "name": "Point de Contact",
                   "website": "https://www.pointdecontact.net",
                   "email": null, "phone": null, "source": "INHOPE",
                   "verified_on": null}],
    "directory_unverified": true, "referral_warning": "not verified"})"));
  EXPECT_EQ(j["registration"], Json::parse(R"({
    "domain": "example.de", "registrar": "Registrar GmbH",
    "registrar_country": "DE", "abuse_email": null, "abuse_phone": null,
    "source": "https://rdap.example/"})"));
}

TEST(RecordJsonTest, InvalidUtf8IsReplacedSoTheRecordSerialises) {
  // Setters, not text format: proto3 parsing would refuse these bytes.
  pb::Observation obs;
  obs.set_host("x.example");
  pb::HttpHeader* header = obs.mutable_http()->add_headers();
  header->set_name("Server");
  header->set_value("caf\xe9 \xf0\x9f\x98\x80 \xed\xa0\x80 \xc0\xaf");
  pb::LineRecord line;
  line.set_input("http://x.example/\xff");
  Json j = Record(line, &obs);
  // U+FFFD for a Latin-1 byte, a surrogate (3 bytes) and an overlong '/'.
  EXPECT_EQ(j["http"]["headers"][0][1],
            "caf\xef\xbf\xbd \xf0\x9f\x98\x80 "
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
            "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["input"], "http://x.example/\xef\xbf\xbd");
}

// Bytes from the outside world: JSON specials, C0 controls (NUL too), DEL,
// U+2028/U+2029, and invalid UTF-8 (Latin-1, overlong, surrogate, above
// U+10FFFF, truncated).
std::string Hostile() {
  return std::string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\0 ", 16) +
         "\xe2\x80\xa8\xe2\x80\xa9 \xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"
         " caf\xc3\xa9 \xe2\x82";
}

// FullObservation with hostile bytes in its text fields, a request context,
// a redirect hop and extreme numbers.
pb::Observation HostileObservation() {
  const std::string h = Hostile();
  pb::Observation obs = FullObservation();
  obs.set_url("https://www.example.com/" + h);
  obs.mutable_context()->set_referer("https://ref.example/" + h);
  obs.mutable_context()->set_user_agent(h);
  obs.mutable_error()->set_error_class("http_error");
  obs.mutable_error()->set_message(h);
  pb::DnsObservation* dns = obs.mutable_dns();
  dns->add_cname_chain(h);
  dns->mutable_addresses(0)->set_ttl(UINT32_MAX);
  dns->mutable_queries(0)->set_elapsed_us(1826);
  dns->set_ns_domain("example.com");
  dns->add_ns(h);
  pb::PtrRecord* ptr = dns->add_ptr();
  ptr->set_ip("203.0.113.7");
  ptr->add_names(h);
  pb::HttpObservation* http = obs.mutable_http();
  http->set_status(-1);
  http->set_body_bytes(UINT64_MAX);
  http->set_elapsed_ms(UINT32_MAX);
  http->add_headers()->set_name(h);
  http->mutable_headers(3)->set_value(h);
  http->mutable_tls()->set_subject(h);
  http->mutable_tls()->set_verify_error(h);
  http->mutable_tls()->set_key_bits(UINT32_MAX);
  http->mutable_timings()->set_connect_us(1);
  http->mutable_timings()->set_total_us(UINT32_MAX);
  pb::Hop* hop = obs.add_redirects();
  hop->set_url("https://b.example/" + h);
  hop->set_host("b.example");
  *hop->mutable_dns() = obs.dns();
  *hop->mutable_addresses() = obs.addresses();
  hop->set_pinned_ip("203.0.113.7");
  *hop->mutable_http() = *http;
  obs.mutable_redirect_error()->set_error_class("redirect_loop");
  obs.mutable_providers(0)->mutable_evidence(0)->set_value(h);
  obs.mutable_verdict()->add_reasons(h);
  obs.mutable_data_sources(0)->set_attribution(h);
  obs.set_worker(h);
  return obs;
}

TEST(RecordJsonTest, StreamedTextIsNlohmannsDumpOfItself) {
  pb::LineRecord line;
  line.set_line(UINT64_MAX);
  line.set_input(Hostile());
  const pb::Observation obs = HostileObservation();
  const std::string text = RecordText(line, &obs);
  EXPECT_TRUE(IsValidUtf8(text));
  for (char c : text) ASSERT_GE(static_cast<unsigned char>(c), 0x20) << text;
  // nlohmann parses the text (valid JSON, valid UTF-8) and prints the same
  // bytes: escapes, number forms and separators are its own.
  const Json j = Json::parse(text);
  EXPECT_EQ(j.dump(), text);
  // Strings decode to the repaired bytes, wherever they are.
  const std::string repaired = ToValidUtf8(Hostile());
  EXPECT_EQ(j["input"], repaired);
  EXPECT_EQ(j["context"]["user_agent"], repaired);
  EXPECT_EQ(j["error"]["message"], repaired);
  EXPECT_EQ(j["dns"]["ns"][0], repaired);
  EXPECT_EQ(j["dns"]["ptr"][0]["names"][0], repaired);
  EXPECT_EQ(j["http"]["headers"][3], Json::array({repaired, repaired}));
  EXPECT_EQ(j["http"]["tls"]["subject"], repaired);
  EXPECT_EQ(j["redirects"][0]["http"]["tls"]["verify_error"], repaired);
  EXPECT_EQ(j["providers"][0]["evidence"][0]["value"], repaired);
  EXPECT_EQ(j["worker"], repaired);
  // Escapes as nlohmann writes them; U+2028 and DEL as they are.
  EXPECT_NE(text.find(R"(q\"b\\s/\b\f\n\r\t\u0001\u001f)"
                      "\x7f"
                      R"(\u0000 )"
                      "\xe2\x80\xa8"),
            std::string::npos);
  EXPECT_NE(text.find(R"("elapsed_ms":1.826,)"), std::string::npos);
  EXPECT_NE(text.find(R"("connect_ms":0.001,)"), std::string::npos);
  EXPECT_NE(text.find(R"("total_ms":4294967.295})"), std::string::npos);
  EXPECT_NE(text.find(R"("status":-1,)"), std::string::npos);
  EXPECT_NE(text.find(R"("line":18446744073709551615,)"), std::string::npos);
  // The observation part is what `lookup` prints.
  Json own = ObservationToJson(obs);
  for (const auto& [key, value] : own.items()) EXPECT_EQ(j[key], value) << key;
}

TEST(RecordJsonTest, RejectedLineWithHostileBytes) {
  pb::LineRecord line;
  line.set_line(3);
  line.set_input(Hostile());
  line.set_rejection("invalid url");
  line.set_rejection_detail(Hostile());
  const std::string text = RecordText(line, nullptr);
  const Json j = Json::parse(text);
  EXPECT_EQ(j.dump(), text);
  EXPECT_EQ(j["error"]["message"], "invalid url: " + ToValidUtf8(Hostile()));
}

// elapsed_ms and the timings are microseconds / 1000.0 printed as nlohmann
// prints that double. (Every uint32 value was compared once; here a dense
// range, a sparse sweep and the end.)
TEST(RecordJsonTest, MillisecondsMatchNlohmann) {
  pb::LineRecord line;
  pb::Observation obs;
  pb::DnsQuery* query = obs.mutable_dns()->add_queries();
  const auto matches = [&](uint32_t us) {
    query->set_elapsed_us(us);
    const std::string want =
        R"("elapsed_ms":)" + Json(us / 1000.0).dump() + R"(,"raw_answer_b64")";
    if (RecordText(line, &obs).find(want) != std::string::npos) return true;
    ADD_FAILURE() << us << " is not printed as " << want;
    return false;
  };
  for (uint32_t us = 0; us <= 200000; ++us) {
    if (!matches(us)) return;
  }
  for (uint64_t us = 200001; us < UINT32_MAX; us += 7919) {
    if (!matches(static_cast<uint32_t>(us))) return;
  }
  EXPECT_TRUE(matches(UINT32_MAX));
}

TEST(RecordJsonTest, Rfc3339Table) {
  const std::vector<std::pair<int64_t, std::string>> cases = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1, "1970-01-01T00:00:00.001Z"},
      {999, "1970-01-01T00:00:00.999Z"},
      {1000, "1970-01-01T00:00:01.000Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {951827696789, "2000-02-29T12:34:56.789Z"},
      {1709164800123, "2024-02-29T00:00:00.123Z"},
      {1795917692123, "2026-11-29T02:01:32.123Z"},
      {-2203891200000, "1900-03-01T00:00:00.000Z"},
      {-62135596800000, "0001-01-01T00:00:00.000Z"},
      {253402300799999, "9999-12-31T23:59:59.999Z"},
  };
  for (const auto& [ms, text] : cases) {
    EXPECT_EQ(FormatRfc3339Ms(ms), text) << ms;
  }
}

TEST(RecordJsonTest, Base64Table) {
  // RFC 4648, section 10, and bytes that need all of the alphabet's end.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {std::string("\x00\xfb\xff", 3), "APv/"},
  };
  for (const auto& [bytes, text] : cases) {
    EXPECT_EQ(Base64(bytes), text) << text;
  }
}

// The results-file text of `obs` rendered on a thread of its own, whose
// rendering keeps no text from earlier records.
std::string FreshRecordText(const pb::LineRecord& line,
                            const pb::Observation& obs) {
  return std::async(std::launch::async, [&] { return RecordText(line, &obs); })
      .get();
}

// `message` with field `f` (string, bytes or int64) set to a value of its
// own.
void SetField(google::protobuf::Message* message,
              const google::protobuf::FieldDescriptor* f) {
  const google::protobuf::Reflection* r = message->GetReflection();
  if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_INT64) {
    r->SetInt64(message, f, 1700000000 + f->number());
  } else {
    ASSERT_EQ(f->cpp_type(), google::protobuf::FieldDescriptor::CPPTYPE_STRING)
        << f->name();
    r->SetString(message, f, "changed " + f->name() + " \"\\");
  }
}

// Records whose data sources or referral targets repeat the previous
// record's reuse its text (ArrayText); each change in any field of either
// set is rendered, as a fresh rendering has it.
TEST(RecordJsonTest, SharedSetsRenderAsIfFresh) {
  const pb::Observation base = FromText(R"(
      url: "http://a.example/" status: "located"
      verdict { hosting_countries: "DE" jurisdiction {
        attribution: "hosted" primary_countries: "DE"
        referrals { country: "DE" kind: "hotline" route: "primary"
                    name: "eco" website: "https://eco.example/" }
        referrals { country: "NL" kind: "hotline" route: "redirector"
                    name: "Offlimits" } } }
      data_sources { role: "country" database_type: "GeoLite2-Country"
                     build_epoch: 1700000000 path: "/geo/country.mmdb"
                     attribution: "IP data by X" sha256: "ab" }
      data_sources { role: "asn" sha256: "cd" })");
  std::vector<pb::Observation> sequence = {base, base};
  pb::Observation none = base;
  none.clear_data_sources();
  none.mutable_verdict()->mutable_jurisdiction()->clear_referrals();
  sequence.push_back(none);
  sequence.push_back(none);
  sequence.push_back(base);
  pb::Observation longer = base;
  *longer.add_data_sources() = base.data_sources(0);
  *longer.mutable_verdict()->mutable_jurisdiction()->add_referrals() =
      base.verdict().jurisdiction().referrals(0);
  sequence.push_back(longer);
  sequence.push_back(base);
  const auto* source = pb::DataSource::descriptor();
  for (int i = 0; i < source->field_count(); ++i) {
    pb::Observation changed = base;
    SetField(changed.mutable_data_sources(1), source->field(i));
    sequence.push_back(changed);
    sequence.push_back(base);
  }
  const auto* target = pb::ReferralTarget::descriptor();
  for (int i = 0; i < target->field_count(); ++i) {
    pb::Observation changed = base;
    SetField(
        changed.mutable_verdict()->mutable_jurisdiction()->mutable_referrals(1),
        target->field(i));
    sequence.push_back(changed);
    sequence.push_back(base);
  }
  pb::LineRecord line;
  line.set_input("http://a.example/");
  std::string previous;
  for (size_t i = 0; i < sequence.size(); ++i) {
    line.set_line(i + 1);
    const std::string text = RecordText(line, &sequence[i]);
    EXPECT_EQ(text, FreshRecordText(line, sequence[i])) << "record " << i + 1;
    // Every field is rendered: a change shows in the text.
    if (i > 0 && !google::protobuf::util::MessageDifferencer::Equals(
                     sequence[i], sequence[i - 1])) {
      EXPECT_NE(text.substr(text.find(",\"url\"")),
                previous.substr(previous.find(",\"url\"")))
          << "record " << i + 1;
    }
    previous = text;
  }
}

TEST(RecordJsonTest, HexTable) {
  EXPECT_EQ(HexLower(""), "");
  EXPECT_EQ(HexLower(std::string("\x00\x01\x7f\x80\xab\xff", 6)),
            "00017f80abff");
  // AppendHexLower extends what `out` holds, whatever its capacity.
  const struct {
    std::string before, bytes, after;
  } cases[] = {
      {"", "", ""},
      {"x", "", "x"},
      {"", std::string(1, '\0'), "00"},
      {"sha256:", "\xde\xad\xbe\xef", "sha256:deadbeef"},
      {std::string(40, 'a'), std::string(32, '\xff'),
       std::string(40, 'a') + std::string(64, 'f')},
  };
  for (const auto& c : cases) {
    std::string out = c.before;
    AppendHexLower(c.bytes, &out);
    EXPECT_EQ(out, c.after) << c.before;
  }
}

}  // namespace
}  // namespace hl

namespace hl {
namespace {

// The block-at-a-time scans against the byte-wise rules, for every byte
// value at every position of a 40-byte text (two blocks and a tail) and
// after every prefix length.
TEST(PlainAsciiPrefixTest, StopsAtTheFirstByteThatIsNotPlain) {
  const auto bytewise = [](std::string_view s, std::string_view special) {
    size_t i = 0;
    while (i < s.size() && static_cast<unsigned char>(s[i]) >= 0x20 &&
           static_cast<unsigned char>(s[i]) < 0x7f &&
           special.find(s[i]) == std::string_view::npos) {
      ++i;
    }
    return i;
  };
  const auto ascii = [](std::string_view s) {
    size_t i = 0;
    while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
    return i;
  };
  for (int b = 0; b < 256; ++b) {
    for (size_t at = 0; at < 40; ++at) {
      // Bytes before `at` plain, then b, then bytes that would flag a
      // borrow-based scan (0x00, 0x80) after it.
      std::string text(40, 'x');
      text[at] = static_cast<char>(b);
      for (size_t k = at + 1; k < text.size(); k += 2) text[k] = '\0';
      for (size_t k = at + 2; k < text.size(); k += 2) text[k] = '\x80';
      for (size_t len = 0; len <= text.size(); ++len) {
        const std::string_view s(text.data(), len);
        ASSERT_EQ((PlainAsciiPrefix<'"', '\\'>(s)), bytewise(s, "\"\\"))
            << "byte " << b << " at " << at << " of " << len;
        ASSERT_EQ((PlainAsciiPrefix<'&', '<', '>', '"', '\''>(s)),
                  bytewise(s, "&<>\"'"))
            << "byte " << b << " at " << at << " of " << len;
        ASSERT_EQ(AsciiPrefix(s), ascii(s))
            << "byte " << b << " at " << at << " of " << len;
        ASSERT_EQ((PrefixWithout<',', '"', '\r', '\n'>(s)),
                  std::min(s.size(), s.find_first_of(",\"\r\n")))
            << "byte " << b << " at " << at << " of " << len;
      }
    }
  }
}

// UTF-8 checks and repair against the byte-wise rule (Utf8SequenceLength at
// every byte), for sequences well-formed, cut and ill-formed at every
// position of a 40-byte text, across the scan's block edges.
TEST(Utf8Test, RepairAndCheckMatchTheBytewiseRule) {
  const auto bytewise = [](std::string_view s) {
    std::string out;
    while (!s.empty()) {
      const size_t len = Utf8SequenceLength(s);
      out.append(len == 0 ? std::string_view("\xef\xbf\xbd")
                          : s.substr(0, len));
      s.remove_prefix(len == 0 ? 1 : len);
    }
    return out;
  };
  const std::string_view sequences[] = {"\xc3\xa9",
                                        "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80",
                                        "\xc3",
                                        "\xe2\x82",
                                        "\xf0\x9f\x98",
                                        "\x80",
                                        "\xff",
                                        "\xed\xa0\x80",
                                        "\xc0\xaf",
                                        "\xf4\x90\x80\x80",
                                        "\xe0\x80\xaf",
                                        "\xc3\xa9\xc3\xa9",
                                        "\x7f\xc3\xa9\x01"};
  for (std::string_view seq : sequences) {
    for (size_t at = 0; at + seq.size() <= 40; ++at) {
      std::string text(40, 'a');
      text.replace(at, seq.size(), seq);
      for (size_t len = 0; len <= text.size(); ++len) {
        const std::string_view s(text.data(), len);
        const std::string want = bytewise(s);
        ASSERT_EQ(ToValidUtf8(s), want) << "at " << at << " of " << len;
        ASSERT_EQ(IsValidUtf8(s), want == s) << "at " << at << " of " << len;
      }
    }
  }
}

}  // namespace
}  // namespace hl
