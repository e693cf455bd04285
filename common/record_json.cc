#include "common/record_json.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/plain_ascii.h"
#include "common/utf8.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;

// Appends `s`, repaired by the ToValidUtf8 rules, as the inside of a JSON
// string, escaped as nlohmann's dump() does: \" \\ \b \t \n \f \r, the
// other C0 controls as \u00xx (lower-case hex); everything else, DEL and
// U+2028 included, as is.
void AppendEscaped(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < s.size()) {
    const size_t run = i;
    while (true) {
      i += PlainAsciiPrefix<'"', '\\'>(s.substr(i));
      // DEL, which ends a plain run, is copied as it is too.
      if (i == s.size() || s[i] != '\x7f') break;
      ++i;
    }
    out->append(s.data() + run, i - run);
    if (i == s.size()) return;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(s.substr(i));
      if (len == 0) {
        out->append("\xef\xbf\xbd");
        ++i;
      } else {
        out->append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:  // the other C0 controls
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
  }
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// Compact JSON appended to a string. The writer places the commas: every
// key or value after the first of its container is preceded by one, so
// callers write keys and values in order and nothing else. Keys are ASCII
// names that need no escaping.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(*out) {}
  // Continues a container that `out` has open and that holds a key or
  // value already (the next one is preceded by a comma).
  JsonWriter(std::string* out, bool continued)
      : out_(*out), first_(!continued) {}

  void BeginObject() {
    Separate();
    out_ += '{';
    first_ = true;
  }
  void EndObject() {
    out_ += '}';
    first_ = false;
  }
  void BeginArray() {
    Separate();
    out_ += '[';
    first_ = true;
  }
  void EndArray() {
    out_ += ']';
    first_ = false;
  }
  // The next call writes this key's value. Keys are short names: the
  // separator, the quoted key and the colon go in one append.
  JsonWriter& Key(std::string_view key) {
    char buf[64];
    size_t n = 0;
    if (!first_) buf[n++] = ',';
    buf[n++] = '"';
    if (key.size() > sizeof buf - 4) {
      out_.append(buf, n);
      out_ += key;
      n = 0;
    } else {
      std::memcpy(buf + n, key.data(), key.size());
      n += key.size();
    }
    buf[n++] = '"';
    buf[n++] = ':';
    out_.append(buf, n);
    first_ = true;
    return *this;
  }

  void Null() {
    Separate();
    out_ += "null";
  }
  void Bool(bool b) {
    Separate();
    out_ += b ? "true" : "false";
  }
  void Uint(uint64_t v) {
    Separate();
    AppendUint(v, &out_);
  }
  void Int(int64_t v) {
    Separate();
    if (v < 0) out_ += '-';
    // Negated in unsigned arithmetic: exact for INT64_MIN too.
    AppendUint(v < 0 ? 0 - static_cast<uint64_t>(v) : v, &out_);
  }
  // `us` / 1000 as nlohmann's dump() prints the double `us / 1000.0`: the
  // shortest digits that round-trip, with ".0" when the value is whole.
  // For a decimal of at most 10 significant digits that is the decimal
  // itself without trailing zeros (RecordJsonTest.MillisecondsMatchNlohmann;
  // checked for every uint32 value once).
  void Millis(uint32_t us) {
    Separate();
    AppendUint(us / 1000, &out_);
    out_ += '.';
    uint32_t frac = us % 1000;
    if (frac == 0) {
      out_ += '0';
      return;
    }
    char digits[3] = {static_cast<char>('0' + frac / 100),
                      static_cast<char>('0' + frac / 10 % 10),
                      static_cast<char>('0' + frac % 10)};
    size_t n = 3;
    while (digits[n - 1] == '0') --n;
    out_.append(digits, n);
  }
  // Text repaired by the ToValidUtf8 rules.
  void String(std::string_view s) {
    Separate();
    out_ += '"';
    AppendEscaped(s, &out_);
    out_ += '"';
  }
  // A string value; "" (no value) is null.
  void StringOrNull(std::string_view s) {
    if (s.empty()) return Null();
    String(s);
  }
  // A value already rendered as JSON text (by a JsonWriter).
  void Raw(std::string_view json) {
    Separate();
    out_ += json;
  }
  // Lower-case hex of `bytes`, always a string.
  void Hex(std::string_view bytes) {
    Separate();
    out_ += '"';
    AppendHexLower(bytes, &out_);
    out_ += '"';
  }
  // Lower-case hex of `bytes`; no bytes is null.
  void HexOrNull(std::string_view bytes) {
    if (bytes.empty()) return Null();
    Hex(bytes);
  }
  // Base64 of `bytes`; no bytes is null.
  void Base64OrNull(std::string_view bytes) {
    if (bytes.empty()) return Null();
    Separate();
    out_ += '"';
    AppendBase64(bytes, &out_);
    out_ += '"';
  }
  // RFC 3339 of `unix_ms`, always a string.
  void Time(int64_t unix_ms) {
    Separate();
    out_ += '"';
    AppendRfc3339Ms(unix_ms, &out_);
    out_ += '"';
  }
  // RFC 3339 of `unix_ms`; 0 (no time) is null.
  void TimeOrNull(int64_t unix_ms) {
    if (unix_ms == 0) return Null();
    Time(unix_ms);
  }
  // `v`; 0 (no value) is null.
  void UintOrNull(uint64_t v) {
    if (v == 0) return Null();
    Uint(v);
  }
  // Microseconds as milliseconds with a fraction; 0 (stage not reached) is
  // null.
  void StageMs(uint32_t us) {
    if (us == 0) return Null();
    Millis(us);
  }
  void StringArray(const google::protobuf::RepeatedPtrField<std::string>& v) {
    BeginArray();
    for (const std::string& s : v) String(s);
    EndArray();
  }

 private:
  void Separate() {
    if (!first_) out_ += ',';
    first_ = false;
  }

  std::string& out_;
  bool first_ = true;  // no key or value yet in the current container
};

void Error(const pb::ErrorInfo& e, JsonWriter* w) {
  if (e.error_class().empty()) return w->Null();
  w->BeginObject();
  w->Key("class").String(e.error_class());
  w->Key("message").StringOrNull(e.message());
  w->EndObject();
}

void Dns(const pb::DnsObservation& dns, JsonWriter* w) {
  w->BeginObject();
  w->Key("cname_chain").StringArray(dns.cname_chain());
  w->Key("addresses").BeginArray();
  for (const pb::DnsAddress& a : dns.addresses()) {
    w->BeginObject();
    w->Key("ip").String(a.ip());
    w->Key("ttl").Uint(a.ttl());
    w->EndObject();
  }
  w->EndArray();
  w->Key("queries").BeginArray();
  for (const pb::DnsQuery& q : dns.queries()) {
    w->BeginObject();
    w->Key("name").String(q.name());
    w->Key("type").StringOrNull(q.type());
    w->Key("resolver").StringOrNull(q.resolver());
    w->Key("rcode").StringOrNull(q.rcode());
    w->Key("sent_at").TimeOrNull(q.sent_unix_ms());
    w->Key("elapsed_ms").Millis(q.elapsed_us());
    w->Key("raw_answer_b64").Base64OrNull(q.raw_answer());
    w->EndObject();
  }
  w->EndArray();
  Error(dns.error(), &w->Key("error"));
  w->Key("ns_domain").StringOrNull(dns.ns_domain());
  w->Key("ns").StringArray(dns.ns());
  w->Key("ptr").BeginArray();
  for (const pb::PtrRecord& ptr : dns.ptr()) {
    w->BeginObject();
    w->Key("ip").String(ptr.ip());
    w->Key("names").StringArray(ptr.names());
    w->EndObject();
  }
  w->EndArray();
  w->Key("per_resolver").BeginArray();
  for (const pb::ResolverAnswer& answer : dns.per_resolver()) {
    w->BeginObject();
    w->Key("resolver").String(answer.resolver());
    w->Key("addresses").StringArray(answer.addresses());
    w->Key("error_class").StringOrNull(answer.error_class());
    w->EndObject();
  }
  w->EndArray();
  w->Key("resolvers_disagree").Bool(dns.resolvers_disagree());
  w->EndObject();
}

void Addresses(const google::protobuf::RepeatedPtrField<pb::AddressInfo>& v,
               JsonWriter* w) {
  w->BeginArray();
  for (const pb::AddressInfo& a : v) {
    w->BeginObject();
    w->Key("ip").String(a.ip());
    w->Key("country").StringOrNull(a.country());
    w->Key("city").StringOrNull(a.city());
    w->Key("asn").UintOrNull(a.asn());
    w->Key("as_org").StringOrNull(a.as_org());
    w->Key("network").StringOrNull(a.network());
    w->Key("rdap_country").StringOrNull(a.rdap_country());
    w->Key("registry_country").StringOrNull(a.registry_country());
    w->EndObject();
  }
  w->EndArray();
}

void Tls(const pb::TlsObservation& tls, JsonWriter* w) {
  w->BeginObject();
  w->Key("protocol").StringOrNull(tls.protocol());
  w->Key("cipher").StringOrNull(tls.cipher());
  w->Key("subject").StringOrNull(tls.subject());
  w->Key("issuer").StringOrNull(tls.issuer());
  w->Key("san_dns").StringArray(tls.san_dns());
  w->Key("san_ip").StringArray(tls.san_ip());
  w->Key("not_before").Time(tls.not_before_unix() * 1000);
  w->Key("not_after").Time(tls.not_after_unix() * 1000);
  w->Key("serial").StringOrNull(tls.serial());
  w->Key("sha256").HexOrNull(tls.sha256());
  w->Key("key_type").StringOrNull(tls.key_type());
  w->Key("key_bits").UintOrNull(tls.key_bits());
  w->Key("chain").BeginArray();
  for (const pb::TlsCertificate& cert : tls.chain()) {
    w->BeginObject();
    w->Key("subject").StringOrNull(cert.subject());
    w->Key("issuer").StringOrNull(cert.issuer());
    w->Key("sha256").Hex(cert.sha256());
    w->EndObject();
  }
  w->EndArray();
  w->Key("verified").Bool(tls.verified());
  w->Key("name_matched").Bool(tls.name_matched());
  w->Key("verify_error").StringOrNull(tls.verify_error());
  w->Key("trust_store").StringOrNull(tls.trust_store());
  w->EndObject();
}

void Http(const pb::HttpObservation& http, JsonWriter* w) {
  w->BeginObject();
  w->Key("method").StringOrNull(http.method());
  w->Key("request_url").StringOrNull(http.request_url());
  if (http.status() == 0) {
    w->Key("status").Null();
  } else {
    w->Key("status").Int(http.status());
  }
  w->Key("http_version").StringOrNull(http.http_version());
  w->Key("headers").BeginArray();
  for (const pb::HttpHeader& h : http.headers()) {
    w->BeginArray();
    w->String(h.name());
    w->String(h.value());
    w->EndArray();
  }
  w->EndArray();
  w->Key("header_block_sha256").HexOrNull(http.header_block_sha256());
  w->Key("connected_ip").StringOrNull(http.connected_ip());
  w->Key("connected_port").UintOrNull(http.connected_port());
  w->Key("body_bytes").Uint(http.body_bytes());
  w->Key("elapsed_ms").Uint(http.elapsed_ms());
  Error(http.error(), &w->Key("error"));
  if (http.has_tls()) {
    Tls(http.tls(), &w->Key("tls"));
  } else {
    w->Key("tls").Null();
  }
  const pb::HttpTimings& t = http.timings();
  w->Key("timings").BeginObject();
  w->Key("connect_ms").StageMs(t.connect_us());
  w->Key("tls_ms").StageMs(t.tls_us());
  w->Key("first_byte_ms").StageMs(t.first_byte_us());
  w->Key("total_ms").StageMs(t.total_us());
  w->EndObject();
  w->Key("proxy").StringOrNull(http.proxy());
  w->Key("politeness_wait_ms").Millis(http.politeness_wait_us());
  w->EndObject();
}

void Provider(const pb::ProviderMatch& p, JsonWriter* w) {
  w->BeginObject();
  w->Key("name").String(p.name());
  w->Key("category").String(p.category());
  w->Key("country").StringOrNull(p.country());
  w->Key("abuse").StringOrNull(p.abuse());
  w->Key("evidence").BeginArray();
  for (const pb::Evidence& e : p.evidence()) {
    w->BeginObject();
    w->Key("kind").String(e.kind());
    w->Key("rule").String(e.rule());
    w->Key("value").String(e.value());
    w->EndObject();
  }
  w->EndArray();
  w->EndObject();
}

// A repeated field rendered as a JSON array, its text kept for the next
// call on the same thread: consecutive results mostly cite the same shared
// sets (data sources, referral targets), whose text is then copied instead
// of rendered again. `same` must compare every field `render` writes.
template <typename T>
class ArrayText {
 public:
  using Same = bool (*)(const T&, const T&);
  using Render = void (*)(const T&, JsonWriter*);
  ArrayText(Same same, Render render) : same_(same), render_(render) {}

  void Write(const google::protobuf::RepeatedPtrField<T>& items,
             JsonWriter* w) {
    if (!std::equal(items.begin(), items.end(), last_.begin(), last_.end(),
                    same_)) {
      // Forgotten first: a render cut short (an exception) leaves no text
      // that a later call could take for these items.
      last_.clear();
      text_.clear();
      JsonWriter array(&text_);
      array.BeginArray();
      for (const T& item : items) render_(item, &array);
      array.EndArray();
      last_.assign(items.begin(), items.end());
    }
    w->Raw(text_);
  }

 private:
  const Same same_;
  const Render render_;
  std::vector<T> last_;  // the items text_ renders
  std::string text_ = "[]";
};

bool SameReferral(const pb::ReferralTarget& a, const pb::ReferralTarget& b) {
  return a.country() == b.country() && a.kind() == b.kind() &&
         a.route() == b.route() && a.name() == b.name() &&
         a.website() == b.website() && a.email() == b.email() &&
         a.phone() == b.phone() && a.source() == b.source() &&
         a.verified_on() == b.verified_on();
}

void Referral(const pb::ReferralTarget& t, JsonWriter* w) {
  w->BeginObject();
  w->Key("country").StringOrNull(t.country());
  w->Key("kind").String(t.kind());
  w->Key("route").String(t.route());
  w->Key("name").String(t.name());
  w->Key("website").StringOrNull(t.website());
  w->Key("email").StringOrNull(t.email());
  w->Key("phone").StringOrNull(t.phone());
  w->Key("source").StringOrNull(t.source());
  w->Key("verified_on").StringOrNull(t.verified_on());
  w->EndObject();
}

void Jurisdiction(const pb::Jurisdiction& j, JsonWriter* w) {
  w->BeginObject();
  w->Key("attribution").StringOrNull(j.attribution());
  w->Key("primary_countries").StringArray(j.primary_countries());
  w->Key("secondary").BeginArray();
  for (const pb::SecondaryJurisdiction& s : j.secondary()) {
    w->BeginObject();
    w->Key("country").StringOrNull(s.country());
    w->Key("role").String(s.role());
    w->Key("detail").StringOrNull(s.detail());
    w->EndObject();
  }
  w->EndArray();
  w->Key("confidence").StringOrNull(j.confidence());
  w->Key("disagreements").StringArray(j.disagreements());
  w->Key("registrable_domain").StringOrNull(j.registrable_domain());
  w->Key("cctld_country").StringOrNull(j.cctld_country());
  w->Key("registrar").StringOrNull(j.registrar());
  w->Key("home_country").StringOrNull(j.home_country());
  thread_local ArrayText<pb::ReferralTarget> referrals(SameReferral, Referral);
  referrals.Write(j.referrals(), &w->Key("referrals"));
  w->Key("directory_unverified").Bool(j.directory_unverified());
  w->Key("referral_warning").StringOrNull(j.referral_warning());
  w->EndObject();
}

void Registration(const pb::Observation& obs, JsonWriter* w) {
  if (!obs.has_registration()) return w->Null();
  const pb::DomainRegistration& r = obs.registration();
  w->BeginObject();
  w->Key("domain").StringOrNull(r.domain());
  w->Key("registrar").StringOrNull(r.registrar());
  w->Key("registrar_country").StringOrNull(r.registrar_country());
  w->Key("abuse_email").StringOrNull(r.abuse_email());
  w->Key("abuse_phone").StringOrNull(r.abuse_phone());
  w->Key("source").StringOrNull(r.source());
  w->EndObject();
}

void Rdap(const pb::Observation& obs, JsonWriter* w) {
  if (!obs.has_rdap()) return w->Null();
  const pb::RdapFacts& r = obs.rdap();
  w->BeginObject();
  w->Key("state").StringOrNull(r.state());
  w->Key("networks").BeginArray();
  for (const pb::RdapNetwork& n : r.networks()) {
    w->BeginObject();
    w->Key("ip").StringOrNull(n.ip());
    w->Key("handle").StringOrNull(n.handle());
    w->Key("name").StringOrNull(n.name());
    w->Key("organisation").StringOrNull(n.organisation());
    w->Key("country").StringOrNull(n.country());
    w->Key("abuse_email").StringOrNull(n.abuse_email());
    w->Key("abuse_phone").StringOrNull(n.abuse_phone());
    w->Key("start_address").StringOrNull(n.start_address());
    w->Key("end_address").StringOrNull(n.end_address());
    w->Key("source").StringOrNull(n.source());
    w->Key("asn").UintOrNull(n.asn());
    w->Key("as_name").StringOrNull(n.as_name());
    w->Key("registry_country").StringOrNull(n.registry_country());
    w->Key("as_source").StringOrNull(n.as_source());
    w->EndObject();
  }
  w->EndArray();
  w->Key("notes").StringArray(r.notes());
  w->Key("enriched_at").TimeOrNull(r.enriched_unix_ms());
  w->Key("bootstrap").StringOrNull(r.bootstrap());
  w->EndObject();
}

bool SameDataSource(const pb::DataSource& a, const pb::DataSource& b) {
  return a.role() == b.role() && a.database_type() == b.database_type() &&
         a.build_epoch() == b.build_epoch() && a.path() == b.path() &&
         a.attribution() == b.attribution() && a.sha256() == b.sha256();
}

void DataSource(const pb::DataSource& d, JsonWriter* w) {
  w->BeginObject();
  w->Key("role").StringOrNull(d.role());
  w->Key("database_type").StringOrNull(d.database_type());
  w->Key("build_date").TimeOrNull(d.build_epoch() * 1000);
  w->Key("path").StringOrNull(d.path());
  w->Key("attribution").StringOrNull(d.attribution());
  w->Key("sha256").StringOrNull(d.sha256());
  w->EndObject();
}

// Writes the observation's fields (inside an open object) in the
// documented order. With `with_reason`, a null "reason" follows "status".
void ObservationFields(const pb::Observation& obs, bool with_reason,
                       JsonWriter* w) {
  w->Key("url").StringOrNull(obs.url());
  w->Key("host").StringOrNull(obs.host());
  if (obs.has_context()) {
    w->Key("context").BeginObject();
    w->Key("referer").StringOrNull(obs.context().referer());
    w->Key("user_agent").StringOrNull(obs.context().user_agent());
    w->EndObject();
  } else {
    w->Key("context").Null();
  }
  w->Key("status").StringOrNull(obs.status());
  if (with_reason) w->Key("reason").Null();
  Error(obs.error(), &w->Key("error"));
  if (obs.has_dns()) {
    Dns(obs.dns(), &w->Key("dns"));
  } else {
    w->Key("dns").Null();
  }
  Addresses(obs.addresses(), &w->Key("addresses"));
  w->Key("pinned_ip").StringOrNull(obs.pinned_ip());
  if (obs.has_http()) {
    Http(obs.http(), &w->Key("http"));
  } else {
    w->Key("http").Null();
  }
  w->Key("redirects").BeginArray();
  for (const pb::Hop& hop : obs.redirects()) {
    w->BeginObject();
    w->Key("url").StringOrNull(hop.url());
    w->Key("host").StringOrNull(hop.host());
    if (hop.has_dns()) {
      Dns(hop.dns(), &w->Key("dns"));
    } else {
      w->Key("dns").Null();
    }
    Addresses(hop.addresses(), &w->Key("addresses"));
    w->Key("pinned_ip").StringOrNull(hop.pinned_ip());
    if (hop.has_http()) {
      Http(hop.http(), &w->Key("http"));
    } else {
      w->Key("http").Null();
    }
    w->EndObject();
  }
  w->EndArray();
  Error(obs.redirect_error(), &w->Key("redirect_error"));
  w->Key("providers").BeginArray();
  for (const pb::ProviderMatch& p : obs.providers()) Provider(p, w);
  w->EndArray();
  if (obs.has_verdict()) {
    w->Key("verdict").BeginObject();
    w->Key("hosting_countries").StringArray(obs.verdict().hosting_countries());
    w->Key("reasons").StringArray(obs.verdict().reasons());
    if (obs.verdict().has_jurisdiction()) {
      Jurisdiction(obs.verdict().jurisdiction(), &w->Key("jurisdiction"));
    } else {
      w->Key("jurisdiction").Null();
    }
    w->EndObject();
  } else {
    w->Key("verdict").Null();
  }
  w->Key("checked_at").TimeOrNull(obs.checked_at_unix_ms());
  w->Key("finished_at").TimeOrNull(obs.finished_at_unix_ms());
  thread_local ArrayText<pb::DataSource> data_sources(SameDataSource,
                                                      DataSource);
  data_sources.Write(obs.data_sources(), &w->Key("data_sources"));
  w->Key("tool_version").StringOrNull(obs.tool_version());
  w->Key("config_digest").StringOrNull(obs.config_digest());
  w->Key("worker").StringOrNull(obs.worker());
  Registration(obs, &w->Key("registration"));
  Rdap(obs, &w->Key("rdap"));
}

// The record's "history", "stale_data" and "warnings"; null without `h`.
void HistoryFields(const HistorySummary* h, JsonWriter* w) {
  if (h == nullptr) {
    for (std::string_view key : {"history", "stale_data", "warnings"}) {
      w->Key(key).Null();
    }
    return;
  }
  w->Key("history").BeginObject();
  w->Key("checks").Uint(h->checks);
  w->Key("state").String(CheckStateName(h->state));
  w->Key("moved").Uint(h->moves);
  w->Key("down").Uint(h->downs);
  w->Key("back_up").Uint(h->back_ups);
  w->Key("first_seen_online").TimeOrNull(h->first_seen_online_ms);
  w->Key("last_seen_online").TimeOrNull(h->last_seen_online_ms);
  w->Key("online_since").TimeOrNull(h->online_since_ms);
  w->Key("down_since").TimeOrNull(h->down_since_ms);
  if (h->provider.empty()) {  // never online
    w->Key("online_ms").Null();
  } else {
    w->Key("online_ms").Int(h->online_ms);
  }
  if (h->time_to_takedown_ms < 0) {
    w->Key("time_to_takedown_ms").Null();
  } else {
    w->Key("time_to_takedown_ms").Int(h->time_to_takedown_ms);
  }
  w->Key("provider").StringOrNull(h->provider);
  w->Key("fast_flux").Bool(h->fast_flux.suspected);
  w->EndObject();
  w->Key("stale_data").BeginArray();
  for (const StaleSource& s : h->stale_data) {
    w->BeginObject();
    w->Key("role").String(s.role);
    w->Key("build_date").Time(s.build_unix_ms);
    w->Key("age_days").Int(s.age_days);
    w->Key("max_age_days").Uint(s.max_age_days);
    w->EndObject();
  }
  w->EndArray();
  w->Key("warnings").BeginArray();
  for (const StaleSource& s : h->stale_data) w->String(StaleWarning(s));
  w->EndArray();
}

}  // namespace

void AppendResultRecordJson(const pb::LineRecord& line,
                            const pb::Observation* obs, std::string* out,
                            const HistorySummary* history) {
  AppendResultRecordHead(line, obs, out);
  AppendResultRecordTail(history, out);
}

void AppendResultRecordHead(const pb::LineRecord& line,
                            const pb::Observation* obs, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("input").String(line.input());
  w.Key("line").Uint(line.line());
  if (line.rejection().empty() && obs != nullptr) {
    ObservationFields(*obs, /*with_reason=*/true, &w);
    return;
  }
  // No observation: every observation field is null, except status, reason
  // and error of a rejected line.
  for (std::string_view key : {"url", "host", "context"}) w.Key(key).Null();
  if (line.rejection().empty()) {
    for (std::string_view key : {"status", "reason", "error"}) {
      w.Key(key).Null();
    }
  } else {
    w.Key("status").String("rejected");
    w.Key("reason").String(line.rejection());
    std::string message = line.rejection();
    if (!line.rejection_detail().empty()) {
      message += ": " + line.rejection_detail();
    }
    w.Key("error").BeginObject();
    w.Key("class").String("rejected");
    w.Key("message").String(message);
    w.EndObject();
  }
  for (std::string_view key :
       {"dns", "addresses", "pinned_ip", "http", "redirects", "redirect_error",
        "providers", "verdict", "checked_at", "finished_at", "data_sources",
        "tool_version", "config_digest", "worker", "registration", "rdap"}) {
    w.Key(key).Null();
  }
}

void AppendResultRecordTail(const HistorySummary* history, std::string* out) {
  JsonWriter w(out, /*continued=*/true);
  HistoryFields(history, &w);
  w.EndObject();
}

nlohmann::ordered_json DataSourceToJson(const pb::DataSource& d) {
  std::string text;
  JsonWriter w(&text);
  DataSource(d, &w);
  return nlohmann::ordered_json::parse(text);
}

nlohmann::ordered_json ObservationToJson(const pb::Observation& obs) {
  std::string text;
  JsonWriter w(&text);
  w.BeginObject();
  ObservationFields(obs, /*with_reason=*/false, &w);
  w.EndObject();
  return nlohmann::ordered_json::parse(text);
}

std::string FormatRfc3339Ms(int64_t unix_ms) {
  std::string out;
  AppendRfc3339Ms(unix_ms, &out);
  return out;
}

void AppendRfc3339Ms(int64_t unix_ms, std::string* out) {
  using namespace std::chrono;
  const sys_time<milliseconds> time{milliseconds{unix_ms}};
  const sys_days day = floor<days>(time);
  const year_month_day date{day};
  const int year = static_cast<int>(date.year());
  const auto month = static_cast<unsigned>(date.month());
  const auto mday = static_cast<unsigned>(date.day());
  const hh_mm_ss<milliseconds> clock{time - day};
  const auto hour = static_cast<int>(clock.hours().count());
  const auto minute = static_cast<int>(clock.minutes().count());
  const auto second = static_cast<int>(clock.seconds().count());
  const auto milli = static_cast<int>(clock.subseconds().count());
  if (year < 0 || year > 9999) {  // outside the contract: printf's form
    char buf[48];
    const int n =
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                      year, month, mday, hour, minute, second, milli);
    out->append(buf, static_cast<size_t>(n));
    return;
  }
  char buf[] = "0000-00-00T00:00:00.000Z";
  const auto put = [&buf](size_t at, int width, int value) {
    for (int i = width - 1; i >= 0; --i, value /= 10) {
      buf[at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    }
  };
  put(0, 4, year);
  put(5, 2, static_cast<int>(month));
  put(8, 2, static_cast<int>(mday));
  put(11, 2, hour);
  put(14, 2, minute);
  put(17, 2, second);
  put(20, 3, milli);
  out->append(buf, sizeof buf - 1);
}

}  // namespace hl
