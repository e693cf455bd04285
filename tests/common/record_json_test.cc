#include "common/record_json.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

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
    }
    providers {
      name: "Cloudflare" category: "cdn" country: "US"
      abuse: "https://abuse.cloudflare.com/"
      evidence { kind: "header" rule: "cf-ray" value: "CF-RAY: 8a1b-FRA" }
      evidence { kind: "ip_range" rule: "104.16.0.0/13" value: "104.16.1.1" }
    }
    verdict { hosting_countries: "DE" reasons: "HTTP HEAD answered" }
    checked_at_unix_ms: 1795917692123
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
  EXPECT_THAT(Keys(j),
              ElementsAreArray({"url", "host", "context", "status", "error",
                                "dns", "addresses", "pinned_ip", "http",
                                "redirects", "redirect_error", "providers",
                                "verdict", "checked_at", "data_sources",
                                "tool_version", "config_digest", "worker"}));
  EXPECT_EQ(j["providers"], Json::parse(R"([{
    "name": "Cloudflare", "category": "cdn", "country": "US",
    "abuse": "https://abuse.cloudflare.com/",
    "evidence": [
      {"kind": "header", "rule": "cf-ray", "value": "CF-RAY: 8a1b-FRA"},
      {"kind": "ip_range", "rule": "104.16.0.0/13", "value": "104.16.1.1"}
    ]}])"));
  EXPECT_THAT(Keys(j["dns"]),
              ElementsAreArray({"cname_chain", "addresses", "queries", "error",
                                "ns_domain", "ns", "ptr"}));
  EXPECT_THAT(Keys(j["dns"]["addresses"][0]), ElementsAreArray({"ip", "ttl"}));
  EXPECT_THAT(Keys(j["dns"]["queries"][0]),
              ElementsAreArray({"name", "type", "resolver", "rcode", "sent_at",
                                "elapsed_ms", "raw_answer_b64"}));
  EXPECT_THAT(
      Keys(j["addresses"][0]),
      ElementsAreArray({"ip", "country", "city", "asn", "as_org", "network"}));
  EXPECT_THAT(Keys(j["http"]),
              ElementsAreArray(
                  {"method", "request_url", "status", "http_version", "headers",
                   "header_block_sha256", "connected_ip", "connected_port",
                   "body_bytes", "elapsed_ms", "error", "tls", "timings"}));
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
  EXPECT_THAT(Keys(j["verdict"]),
              ElementsAreArray({"hosting_countries", "reasons"}));
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
                            "asn":null,"as_org":null,"network":null})"));
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
  Json j = ResultRecordJson(line, &obs);
  EXPECT_THAT(Keys(j), ElementsAreArray(
                           {"input",        "line",           "url",
                            "host",         "context",        "status",
                            "reason",       "error",          "dns",
                            "addresses",    "pinned_ip",      "http",
                            "redirects",    "redirect_error", "providers",
                            "verdict",      "checked_at",     "data_sources",
                            "tool_version", "config_digest",  "worker"}));
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
  Json j = ResultRecordJson(line, nullptr);
  EXPECT_EQ(
      j.dump(),
      R"({"input":"ftp://files.example/x","line":12,"url":null,)"
      R"("host":null,"context":null,"status":"rejected",)"
      R"("reason":"unsupported scheme",)"
      R"("error":{"class":"rejected","message":"unsupported scheme: ftp"},)"
      R"("dns":null,"addresses":null,"pinned_ip":null,"http":null,)"
      R"("redirects":null,"redirect_error":null,)"
      R"("providers":null,"verdict":null,"checked_at":null,"data_sources":null,)"
      R"("tool_version":null,"config_digest":null,"worker":null})");
}

TEST(RecordJsonTest, RejectedLineWithoutDetail) {
  pb::LineRecord line;
  line.set_line(1);
  line.set_rejection("empty");
  Json j = ResultRecordJson(line, nullptr);
  EXPECT_EQ(j["input"], "");
  EXPECT_EQ(j["error"]["message"], "empty");
  EXPECT_EQ(j["reason"], "empty");
}

TEST(RecordJsonTest, LineWithoutObservationHasNullFields) {
  pb::LineRecord line;
  line.set_line(2);
  line.set_input("http://a.example/");
  Json j = ResultRecordJson(line, nullptr);
  EXPECT_EQ(j["status"], nullptr);
  EXPECT_EQ(j["url"], nullptr);
  EXPECT_EQ(Keys(j).size(), 21u);
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
  Json j = ResultRecordJson(line, &obs);
  std::string dumped;
  ASSERT_NO_THROW(dumped = j.dump());
  // U+FFFD for a Latin-1 byte, a surrogate (3 bytes) and an overlong '/'.
  EXPECT_EQ(j["http"]["headers"][0][1],
            "caf\xef\xbf\xbd \xf0\x9f\x98\x80 "
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
            "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["input"], "http://x.example/\xef\xbf\xbd");
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

TEST(RecordJsonTest, HexTable) {
  EXPECT_EQ(HexLower(""), "");
  EXPECT_EQ(HexLower(std::string("\x00\x01\x7f\x80\xab\xff", 6)),
            "00017f80abff");
}

}  // namespace
}  // namespace hl
