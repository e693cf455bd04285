#include "common/record_json.h"

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <string_view>

#include "common/utf8.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using Json = nlohmann::ordered_json;

// A string value; "" (no value) is null.
Json Str(std::string_view s) {
  if (s.empty()) return nullptr;
  return ToValidUtf8(s);
}

Json Time(int64_t unix_ms) {
  if (unix_ms == 0) return nullptr;
  return FormatRfc3339Ms(unix_ms);
}

Json Error(const pb::ErrorInfo& e) {
  if (e.error_class().empty()) return nullptr;
  Json j;
  j["class"] = ToValidUtf8(e.error_class());
  j["message"] = Str(e.message());
  return j;
}

Json Dns(const pb::DnsObservation& dns) {
  Json j;
  j["cname_chain"] = Json::array();
  for (const std::string& name : dns.cname_chain()) {
    j["cname_chain"].push_back(ToValidUtf8(name));
  }
  j["addresses"] = Json::array();
  for (const pb::DnsAddress& a : dns.addresses()) {
    Json addr;
    addr["ip"] = ToValidUtf8(a.ip());
    addr["ttl"] = a.ttl();
    j["addresses"].push_back(std::move(addr));
  }
  j["queries"] = Json::array();
  for (const pb::DnsQuery& q : dns.queries()) {
    Json query;
    query["name"] = ToValidUtf8(q.name());
    query["type"] = Str(q.type());
    query["resolver"] = Str(q.resolver());
    query["rcode"] = Str(q.rcode());
    query["sent_at"] = Time(q.sent_unix_ms());
    query["elapsed_ms"] = q.elapsed_us() / 1000.0;
    query["raw_answer_b64"] =
        q.raw_answer().empty() ? Json(nullptr) : Json(Base64(q.raw_answer()));
    j["queries"].push_back(std::move(query));
  }
  j["error"] = Error(dns.error());
  j["ns_domain"] = Str(dns.ns_domain());
  j["ns"] = Json::array();
  for (const std::string& name : dns.ns()) j["ns"].push_back(ToValidUtf8(name));
  j["ptr"] = Json::array();
  for (const pb::PtrRecord& ptr : dns.ptr()) {
    Json names = Json::array();
    for (const std::string& name : ptr.names()) {
      names.push_back(ToValidUtf8(name));
    }
    j["ptr"].push_back({{"ip", ToValidUtf8(ptr.ip())}, {"names", names}});
  }
  return j;
}

Json Address(const pb::AddressInfo& a) {
  Json j;
  j["ip"] = ToValidUtf8(a.ip());
  j["country"] = Str(a.country());
  j["city"] = Str(a.city());
  j["asn"] = a.asn() == 0 ? Json(nullptr) : Json(a.asn());
  j["as_org"] = Str(a.as_org());
  j["network"] = Str(a.network());
  return j;
}

// Microseconds as milliseconds with a fraction; 0 (stage not reached) is
// null.
Json StageMs(uint32_t us) {
  if (us == 0) return nullptr;
  return us / 1000.0;
}

Json Tls(const pb::TlsObservation& tls) {
  Json j;
  j["protocol"] = Str(tls.protocol());
  j["cipher"] = Str(tls.cipher());
  j["subject"] = Str(tls.subject());
  j["issuer"] = Str(tls.issuer());
  j["san_dns"] = Json::array();
  for (const std::string& name : tls.san_dns()) {
    j["san_dns"].push_back(ToValidUtf8(name));
  }
  j["san_ip"] = Json::array();
  for (const std::string& ip : tls.san_ip()) {
    j["san_ip"].push_back(ToValidUtf8(ip));
  }
  j["not_before"] = FormatRfc3339Ms(tls.not_before_unix() * 1000);
  j["not_after"] = FormatRfc3339Ms(tls.not_after_unix() * 1000);
  j["serial"] = Str(tls.serial());
  j["sha256"] =
      tls.sha256().empty() ? Json(nullptr) : Json(HexLower(tls.sha256()));
  j["key_type"] = Str(tls.key_type());
  j["key_bits"] = tls.key_bits() == 0 ? Json(nullptr) : Json(tls.key_bits());
  j["chain"] = Json::array();
  for (const pb::TlsCertificate& cert : tls.chain()) {
    Json c;
    c["subject"] = Str(cert.subject());
    c["issuer"] = Str(cert.issuer());
    c["sha256"] = HexLower(cert.sha256());
    j["chain"].push_back(std::move(c));
  }
  j["verified"] = tls.verified();
  j["name_matched"] = tls.name_matched();
  j["verify_error"] = Str(tls.verify_error());
  j["trust_store"] = Str(tls.trust_store());
  return j;
}

Json Http(const pb::HttpObservation& http) {
  Json j;
  j["method"] = Str(http.method());
  j["request_url"] = Str(http.request_url());
  j["status"] = http.status() == 0 ? Json(nullptr) : Json(http.status());
  j["http_version"] = Str(http.http_version());
  j["headers"] = Json::array();
  for (const pb::HttpHeader& h : http.headers()) {
    j["headers"].push_back(
        Json::array({ToValidUtf8(h.name()), ToValidUtf8(h.value())}));
  }
  j["header_block_sha256"] = http.header_block_sha256().empty()
                                 ? Json(nullptr)
                                 : Json(HexLower(http.header_block_sha256()));
  j["connected_ip"] = Str(http.connected_ip());
  j["connected_port"] =
      http.connected_port() == 0 ? Json(nullptr) : Json(http.connected_port());
  j["body_bytes"] = http.body_bytes();
  j["elapsed_ms"] = http.elapsed_ms();
  j["error"] = Error(http.error());
  j["tls"] = http.has_tls() ? Tls(http.tls()) : Json(nullptr);
  const pb::HttpTimings& t = http.timings();
  j["timings"] = {{"connect_ms", StageMs(t.connect_us())},
                  {"tls_ms", StageMs(t.tls_us())},
                  {"first_byte_ms", StageMs(t.first_byte_us())},
                  {"total_ms", StageMs(t.total_us())}};
  return j;
}

Json Provider(const pb::ProviderMatch& p) {
  Json j;
  j["name"] = ToValidUtf8(p.name());
  j["category"] = ToValidUtf8(p.category());
  j["country"] = Str(p.country());
  j["abuse"] = Str(p.abuse());
  j["evidence"] = Json::array();
  for (const pb::Evidence& e : p.evidence()) {
    j["evidence"].push_back({{"kind", ToValidUtf8(e.kind())},
                             {"rule", ToValidUtf8(e.rule())},
                             {"value", ToValidUtf8(e.value())}});
  }
  return j;
}

Json VerdictJson(const pb::Verdict& v) {
  Json j;
  j["hosting_countries"] = Json::array();
  for (const std::string& c : v.hosting_countries()) {
    j["hosting_countries"].push_back(ToValidUtf8(c));
  }
  j["reasons"] = Json::array();
  for (const std::string& r : v.reasons())
    j["reasons"].push_back(ToValidUtf8(r));
  return j;
}

Json DataSourceJson(const pb::DataSource& d) {
  Json j;
  j["role"] = Str(d.role());
  j["database_type"] = Str(d.database_type());
  j["build_date"] = Time(d.build_epoch() * 1000);
  j["path"] = Str(d.path());
  j["attribution"] = Str(d.attribution());
  j["sha256"] = Str(d.sha256());
  return j;
}

// Appends the observation's fields to *j in the documented order; with
// `obs` null every field is null. `reason`, when given, follows "status".
void AppendObservation(const pb::Observation* obs, const Json* reason,
                       Json* j) {
  Json& out = *j;
  if (obs == nullptr) {
    for (const char* key : {"url", "host", "context", "status"}) {
      out[key] = nullptr;
    }
    if (reason != nullptr) out["reason"] = *reason;
    for (const char* key :
         {"error", "dns", "addresses", "pinned_ip", "http", "redirects",
          "redirect_error", "providers", "verdict", "checked_at",
          "data_sources", "tool_version", "config_digest", "worker"}) {
      out[key] = nullptr;
    }
    return;
  }
  out["url"] = Str(obs->url());
  out["host"] = Str(obs->host());
  out["context"] = obs->has_context()
                       ? Json{{"referer", Str(obs->context().referer())},
                              {"user_agent", Str(obs->context().user_agent())}}
                       : Json(nullptr);
  out["status"] = Str(obs->status());
  if (reason != nullptr) out["reason"] = *reason;
  out["error"] = Error(obs->error());
  out["dns"] = obs->has_dns() ? Dns(obs->dns()) : Json(nullptr);
  out["addresses"] = Json::array();
  for (const pb::AddressInfo& a : obs->addresses()) {
    out["addresses"].push_back(Address(a));
  }
  out["pinned_ip"] = Str(obs->pinned_ip());
  out["http"] = obs->has_http() ? Http(obs->http()) : Json(nullptr);
  out["redirects"] = Json::array();
  for (const pb::Hop& hop : obs->redirects()) {
    Json h;
    h["url"] = Str(hop.url());
    h["host"] = Str(hop.host());
    h["dns"] = hop.has_dns() ? Dns(hop.dns()) : Json(nullptr);
    h["addresses"] = Json::array();
    for (const pb::AddressInfo& a : hop.addresses()) {
      h["addresses"].push_back(Address(a));
    }
    h["pinned_ip"] = Str(hop.pinned_ip());
    h["http"] = hop.has_http() ? Http(hop.http()) : Json(nullptr);
    out["redirects"].push_back(std::move(h));
  }
  out["redirect_error"] = Error(obs->redirect_error());
  out["providers"] = Json::array();
  for (const pb::ProviderMatch& p : obs->providers()) {
    out["providers"].push_back(Provider(p));
  }
  out["verdict"] =
      obs->has_verdict() ? VerdictJson(obs->verdict()) : Json(nullptr);
  out["checked_at"] = Time(obs->checked_at_unix_ms());
  out["data_sources"] = Json::array();
  for (const pb::DataSource& d : obs->data_sources()) {
    out["data_sources"].push_back(DataSourceJson(d));
  }
  out["tool_version"] = Str(obs->tool_version());
  out["config_digest"] = Str(obs->config_digest());
  out["worker"] = Str(obs->worker());
}

}  // namespace

Json ObservationToJson(const pb::Observation& obs) {
  Json j = Json::object();
  AppendObservation(&obs, nullptr, &j);
  return j;
}

Json ResultRecordJson(const pb::LineRecord& line, const pb::Observation* obs) {
  Json j = Json::object();
  j["input"] = ToValidUtf8(line.input());
  j["line"] = line.line();
  if (line.rejection().empty()) {
    Json reason = nullptr;
    AppendObservation(obs, &reason, &j);
    return j;
  }
  Json reason = ToValidUtf8(line.rejection());
  AppendObservation(nullptr, &reason, &j);
  std::string message = line.rejection();
  if (!line.rejection_detail().empty()) {
    message += ": " + line.rejection_detail();
  }
  j["status"] = "rejected";
  j["error"] = {{"class", "rejected"}, {"message", ToValidUtf8(message)}};
  return j;
}

std::string FormatRfc3339Ms(int64_t unix_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> time{milliseconds{unix_ms}};
  sys_days day = floor<days>(time);
  year_month_day date{day};
  hh_mm_ss<milliseconds> clock{time - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()),
                static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()),
                static_cast<int>(clock.subseconds().count()));
  return buf;
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace hl
