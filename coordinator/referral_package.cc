#include "coordinator/referral_package.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/jurisdiction.h"
#include "common/record_json.h"
#include "common/utf8.h"
#include "common/verdict.h"
#include "coordinator/api_request.h"
#include "coordinator/html_text.h"
#include "coordinator/queries.h"
#include "coordinator/reports.h"
#include "coordinator/store.h"

namespace hl::coordinator {
namespace {

namespace fs = std::filesystem;

// The one style sheet of every report; the Content-Security-Policy allows
// exactly this text (by its SHA-256), nothing else.
constexpr std::string_view kStyle = R"css(
:root{--ink:#1d2330;--muted:#5b6475;--line:#d5dae3;--head:#eef1f6;--accent:#1f4e8c;--warn:#8a4b00;--warnbg:#fff4e0}
*{box-sizing:border-box}
body{font:14px/1.45 "DejaVu Sans","Liberation Sans",Arial,sans-serif;color:var(--ink);margin:0 auto;max-width:1180px;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px;color:var(--accent)}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--accent)}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:var(--muted);margin:0 0 14px}
.warning{border:1px solid #e0b36a;border-left:6px solid var(--warn);background:var(--warnbg);padding:10px 14px;margin:14px 0;color:#4a2c00}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border:1px solid var(--line);padding:4px 7px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.url,.mono{font-family:"DejaVu Sans Mono","Liberation Mono",monospace;font-size:12.5px;overflow-wrap:anywhere}
.url{word-break:break-all}
.nowrap{white-space:nowrap}
table.headers td:first-child,table.tls th{width:150px}
.cols{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.cols>*{flex:1 1 380px}
.tag{display:inline-block;padding:0 6px;border-radius:3px;background:var(--head);border:1px solid var(--line);font-size:12px}
.tag.located{background:#e4f2e7;border-color:#9fcca9}
.tag.unresolved,.tag.error,.tag.rejected{background:#fbe6e6;border-color:#e3a5a5}
.hidden-origin{color:var(--warn);font-weight:600}
article.evidence{border:1px solid var(--line);border-radius:4px;padding:8px 14px 4px;margin:0 0 14px;break-inside:avoid}
article.evidence h3{margin:2px 0 8px}
dl{display:grid;grid-template-columns:170px 1fr;gap:3px 12px;margin:0 0 8px}
dt{color:var(--muted);font-weight:600}
dd{margin:0;min-width:0}
dd table{margin:0 0 4px}
ul,ol{margin:0;padding-left:20px}
figure{margin:0}
figcaption{color:var(--muted);font-size:12px}
footer{margin-top:32px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
@media print{body{max-width:none;padding:0;font-size:11px}h2{break-after:avoid}thead{display:table-header-group}tr{break-inside:avoid}.warning{break-inside:avoid}}
@page{size:A4;margin:14mm}
)css";

std::string Sha256Raw(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

const std::string& ContentSecurityPolicy() {
  static const std::string policy = "default-src 'none'; style-src 'sha256-" +
                                    Base64(Sha256Raw(kStyle)) +
                                    "'; base-uri 'none'; form-action 'none'";
  return policy;
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

std::string UtcTime(int64_t unix_ms) {
  std::string t = FormatRfc3339Ms(unix_ms);
  // "2026-11-29T02:01:32.123Z" -> "2026-11-29 02:01:32 UTC"
  if (t.size() == 24) t = t.substr(0, 10) + " " + t.substr(11, 8) + " UTC";
  return t;
}

// Appends `s` as HTML text.
void H(std::string_view s, std::string* out) { AppendHtmlText(s, out); }

// Appends <tag>text</tag> with `s` escaped.
void Elem(std::string_view tag, std::string_view s, std::string* out,
          std::string_view cls = "") {
  *out += '<';
  *out += tag;
  if (!cls.empty()) {
    *out += " class=\"";
    *out += cls;
    *out += '"';
  }
  *out += '>';
  H(s, out);
  *out += "</";
  *out += tag;
  *out += '>';
}

void NumCell(uint64_t n, std::string* out) {
  *out += "<td class=\"n\">";
  AppendUint(n, out);
  *out += "</td>";
}

// "AS64500 Org" of `a`, "" when neither is known.
std::string NetworkLabel(const pb::AddressInfo& a) {
  std::string label;
  if (a.asn() != 0) {
    label = "AS";
    AppendUint(a.asn(), &label);
  }
  if (!a.as_org().empty()) {
    if (!label.empty()) label += ' ';
    label += ToValidUtf8(a.as_org());
  }
  return label;
}

bool IsFrontProvider(const pb::ProviderMatch& p) {
  return p.category() == "cdn" || p.category() == "waf";
}

std::string ProviderLabel(const pb::ProviderMatch& p) {
  std::string label = ToValidUtf8(p.name()) + " (" + p.category();
  if (!p.country().empty()) label += ", " + p.country();
  return label + ")";
}

// Targets are counted as one when route, kind, country and name are equal.
bool SameTarget(const pb::ReferralTarget& a, const pb::ReferralTarget& b) {
  return a.name() == b.name() && a.country() == b.country() &&
         a.kind() == b.kind() && a.route() == b.route();
}

void CountTarget(const pb::ReferralTarget& t,
                 std::vector<std::pair<pb::ReferralTarget, uint64_t>>* v) {
  for (auto& [known, n] : *v) {
    if (SameTarget(known, t)) {
      ++n;
      return;
    }
  }
  v->emplace_back(t, 1);
}

// The abuse channels an observation names: providers recognised, provider
// referral targets, the registrar's RDAP contact; each contact once (the
// first who names it), sorted.
std::vector<std::string> AbuseContacts(const pb::Observation& obs) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  const auto add = [&](const std::string& who, const std::string& contact,
                       std::string_view note) {
    if (contact.empty() || !seen.insert(contact).second) return;
    out.push_back(who + ": " + ToValidUtf8(contact) + std::string(note));
  };
  for (const auto& p : obs.providers()) {
    add("provider " + ProviderLabel(p), p.abuse(), "");
  }
  for (const auto& t : obs.verdict().jurisdiction().referrals()) {
    if (t.kind() != "provider") continue;
    for (const std::string* c : {&t.email(), &t.phone(), &t.website()}) {
      add("provider " + ToValidUtf8(t.name()), *c, "");
    }
  }
  for (const pb::RdapNetwork& n : obs.rdap().networks()) {
    const std::string network =
        "network " + ToValidUtf8(n.name().empty() ? n.handle() : n.name());
    add(network, n.abuse_email(), " (RDAP)");
    add(network, n.abuse_phone(), " (RDAP)");
  }
  const pb::DomainRegistration& r = obs.registration();
  const std::string registrar =
      "registrar " +
      ToValidUtf8(r.registrar().empty() ? r.domain() : r.registrar());
  add(registrar, r.abuse_email(), " (RDAP)");
  add(registrar, r.abuse_phone(), " (RDAP)");
  std::sort(out.begin(), out.end());
  return out;
}

// What the files' forms of one line share, worked out once per line.
struct LineFacts {
  LineFacts(const pb::LineRecord& l, const pb::Observation* o,
            const std::optional<HistorySettings>& history)
      : line(l),
        obs(o),
        status(LineStatus(l, o)),
        last(FinalHopOf(o != nullptr ? *o
                                     : pb::Observation::default_instance())),
        answering(o != nullptr ? AnsweringAddress(last) : nullptr) {
    if (o == nullptr) return;
    abuse = AbuseContacts(*o);
    if (history) stale = StaleData(*o, *history);
  }

  const pb::LineRecord& line;
  const pb::Observation* obs;  // null for rejected lines and lines without a
                               // result
  const std::string status;    // LineStatus
  const FinalHop last;         // of *obs
  const pb::AddressInfo* answering;  // AnsweringAddress(last), with obs
  std::vector<std::string> abuse;    // AbuseContacts(*obs)
  std::vector<StaleSource> stale;    // StaleData(*obs), when judged
};

// The package's own targets: its country's primary route and the
// providers; everything else (redirectors, other countries) is secondary.
bool IsOwnTarget(const pb::ReferralTarget& t, const std::string& key) {
  return t.route() != "redirector" &&
         (t.country() == key || t.route() == "provider");
}

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& v,
                   std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += ToValidUtf8(s);
  }
  return out;
}

// ------------------------------------------------------------------ sinks

// A file written in blocks: std::ofstream passes every write of 1 KiB or
// more (a JSON record, an evidence block) straight to the kernel, one
// system call each, and 6 KB writes take twice the kernel time of 64 KB
// ones. 32 KiB (90% of that gain) bounds the memory of a set with many
// packages: five such files per package.
class BlockFile {
 public:
  bool Open(const fs::path& path) {
    out_.open(path, std::ios::out | std::ios::trunc | std::ios::binary);
    return static_cast<bool>(out_);
  }
  // False when a write failed.
  bool Write(std::string_view bytes) {
    buffer_.append(bytes);
    return buffer_.size() < kBlock || Flush();
  }
  bool Close() {
    Flush();
    out_.close();
    return static_cast<bool>(out_);
  }

 private:
  static constexpr size_t kBlock = 1 << 15;

  bool Flush() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
    return static_cast<bool>(out_);
  }

  std::ofstream out_;
  std::string buffer_;
};

// SHA-256 and size of what passes through; the file or memory sinks below
// add where the bytes go.
class DigestingSink : public PackageFileSink {
 public:
  explicit DigestingSink(std::string relative)
      : relative_(std::move(relative)), md_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(md_, EVP_sha256(), nullptr);
  }
  ~DigestingSink() override { EVP_MD_CTX_free(md_); }

  Status Write(std::string_view bytes, bool) override {
    EVP_DigestUpdate(md_, bytes.data(), bytes.size());
    bytes_ += bytes.size();
    return Put(bytes) ? Status::Ok()
                      : Unavailable("writing " + relative_ + " failed");
  }

  Result<PackageFile> Finish() override {
    if (!Close()) return Unavailable("writing " + relative_ + " failed");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md_, md, &len);
    return PackageFile{
        relative_, bytes_,
        HexLower(std::string_view(reinterpret_cast<const char*>(md), len))};
  }

 protected:
  // Where the bytes go; false on failure.
  virtual bool Put(std::string_view bytes) = 0;
  virtual bool Close() = 0;

 private:
  std::string relative_;
  EVP_MD_CTX* md_;
  uint64_t bytes_ = 0;
};

class FileSink : public DigestingSink {
 public:
  FileSink(std::string relative, std::unique_ptr<BlockFile> out)
      : DigestingSink(std::move(relative)), out_(std::move(out)) {}

 protected:
  bool Put(std::string_view bytes) override { return out_->Write(bytes); }
  bool Close() override { return out_->Close(); }

 private:
  std::unique_ptr<BlockFile> out_;
};

// Keeps the bytes in *keep, or only digests them when `keep` is null.
class MemorySink : public DigestingSink {
 public:
  MemorySink(std::string relative, std::string* keep)
      : DigestingSink(std::move(relative)), keep_(keep) {}

 protected:
  bool Put(std::string_view bytes) override {
    if (keep_ != nullptr) keep_->append(bytes);
    return true;
  }
  bool Close() override { return true; }

 private:
  std::string* keep_;
};

// ---------------------------------------------------------------- rendering

std::string PackageTitle(const std::string& key) {
  return key == kUnattributed
             ? std::string("Lines without a hosting jurisdiction")
             : "Referral package " + key;
}

void RenderHead(std::string_view title, std::string* out) {
  *out +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"";
  *out += ContentSecurityPolicy();
  *out +=
      "\">\n<meta name=\"referrer\" content=\"no-referrer\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n<title>";
  H(title, out);
  *out += " - hostlocator</title>\n<style>";
  *out += kStyle;
  *out += "</style></head>\n<body>\n";
}

void RenderMeta(const PackageOptions& options, std::string* out) {
  *out += "<p class=\"meta\">";
  for (const pb::RunRecord& run : options.runs) {
    *out += "Batch ";
    AppendUint(run.run_id(), out);
    if (!run.case_reference().empty()) {
      *out += " (case ";
      H(run.case_reference(), out);
      *out += ")";
    }
    *out += ", submitted ";
    H(UtcTime(run.started_unix_ms()), out);
    if (!run.submitter().empty()) {
      *out += " by ";
      H(run.submitter(), out);
    }
    *out += ". ";
  }
  *out += "Generated ";
  H(UtcTime(options.generated_at_ms), out);
  *out += " by hostlocator ";
  H(options.tool_version, out);
  *out += ".";
  const PackageFilter& f = options.filter;
  if (f.has_date_range() || !f.countries.empty() || !f.statuses.empty()) {
    *out += " Filtered:";
    if (f.checked_from_ms != std::numeric_limits<int64_t>::min()) {
      *out += " checked from ";
      H(UtcTime(f.checked_from_ms), out);
    }
    if (f.checked_to_ms != std::numeric_limits<int64_t>::max()) {
      *out += " checked before ";
      H(UtcTime(f.checked_to_ms), out);
    }
    for (const auto* set : {&f.countries, &f.statuses}) {
      if (set->empty()) continue;
      *out += set == &f.countries ? " packages " : " status ";
      std::string list;
      for (const auto& s : *set) list += (list.empty() ? "" : ", ") + s;
      H(list, out);
    }
    *out += ".";
  }
  *out += "</p>\n";
}

void RenderWarning(const std::string& warning, std::string* out) {
  *out +=
      "<div class=\"warning\" role=\"alert\"><strong>Referral directory not "
      "verified.</strong> Check every target below against its own "
      "published channel before sending a referral: ";
  H(warning, out);
  *out += "</div>\n";
}

void RenderTargets(
    const std::vector<std::pair<pb::ReferralTarget, uint64_t>>& targets,
    std::string* out) {
  *out +=
      "<table class=\"targets\"><thead><tr><th>Target</th><th>Kind</th>"
      "<th>Country</th><th>Route</th><th>Website</th><th>E-mail / "
      "phone</th><th>Source, verified</th><th class=\"n\">Lines</th></tr>"
      "</thead><tbody>\n";
  for (const auto& [t, n] : targets) {
    *out += "<tr class=\"target\">";
    Elem("td", t.name(), out, "target-name");
    Elem("td", t.kind(), out);
    Elem("td", t.country(), out);
    Elem("td", t.route(), out);
    Elem("td", t.website(), out, "mono");
    std::string contact = ToValidUtf8(t.email());
    if (!t.phone().empty()) {
      contact += (contact.empty() ? "" : ", ") + ToValidUtf8(t.phone());
    }
    Elem("td", contact, out, "mono");
    Elem("td",
         ToValidUtf8(t.source()) + "; " +
             (t.verified_on().empty() ? std::string("not verified")
                                      : "verified " + t.verified_on()),
         out);
    NumCell(n, out);
    *out += "</tr>\n";
  }
  *out += "</tbody></table>\n";
}

void RenderCountTable(std::string_view heading,
                      const std::map<std::string, uint64_t>& counts,
                      std::string* out) {
  *out += "<table class=\"counts\"><thead><tr><th>";
  H(heading, out);
  *out += "</th><th class=\"n\">Lines</th></tr></thead><tbody>";
  for (const auto& [name, n] : counts) {
    *out += "<tr>";
    Elem("td", name.empty() ? "(none)" : name, out);
    NumCell(n, out);
    *out += "</tr>";
  }
  *out += "</tbody></table>\n";
}

// A horizontal bar chart (inline SVG) of lines per package; `highlight`
// is drawn in the accent colour.
void RenderChart(const std::vector<std::pair<std::string, uint64_t>>& bars,
                 const std::string& highlight, std::string* out) {
  constexpr size_t kMaxBars = 24;
  std::vector<std::pair<std::string, uint64_t>> shown = bars;
  std::stable_sort(
      shown.begin(), shown.end(),
      [](const auto& a, const auto& b) { return a.second > b.second; });
  if (shown.size() > kMaxBars) {
    uint64_t rest = 0;
    for (size_t i = kMaxBars - 1; i < shown.size(); ++i) {
      rest += shown[i].second;
    }
    shown.resize(kMaxBars - 1);
    shown.emplace_back("others", rest);
  }
  uint64_t max = 1;
  for (const auto& [k, n] : shown) max = std::max(max, n);
  constexpr int kRow = 22, kLabel = 104, kBar = 380, kWidth = 560;
  const int height = static_cast<int>(shown.size()) * kRow + 8;
  std::string h = std::to_string(height);
  *out +=
      "<figure><svg class=\"chart\" role=\"img\" "
      "aria-label=\"Lines per hosting jurisdiction\" width=\"" +
      std::to_string(kWidth) + "\" height=\"" + h + "\" viewBox=\"0 0 " +
      std::to_string(kWidth) + " " + h + "\">";
  int y = 4;
  for (const auto& [key, n] : shown) {
    const int w =
        std::max<int>(2, static_cast<int>(static_cast<double>(n) / max * kBar));
    const char* fill = key == highlight                          ? "#1f4e8c"
                       : key == kUnattributed || key == "others" ? "#a9b1bf"
                                                                 : "#7fa2cf";
    *out += "<text x=\"" + std::to_string(kLabel - 8) + "\" y=\"" +
            std::to_string(y + 15) +
            "\" text-anchor=\"end\" font-size=\"12\" fill=\"#1d2330\">";
    H(key, out);
    *out += "</text><rect x=\"" + std::to_string(kLabel) + "\" y=\"" +
            std::to_string(y + 3) + "\" width=\"" + std::to_string(w) +
            "\" height=\"15\" fill=\"" + fill + "\"/><text x=\"" +
            std::to_string(kLabel + w + 6) + "\" y=\"" +
            std::to_string(y + 15) + "\" font-size=\"12\" fill=\"#1d2330\">";
    AppendUint(n, out);
    *out += "</text>";
    y += kRow;
  }
  *out +=
      "</svg><figcaption>Lines per hosting jurisdiction in this "
      "export</figcaption></figure>\n";
}

constexpr std::string_view kUrlTableHead =
    "<table class=\"urls\"><thead><tr><th class=\"n\">Line</th>"
    "<th>URL (defanged)</th><th>Status</th><th>Jurisdiction</th>"
    "<th>Answering address</th><th>Provider</th><th>Confidence</th>"
    "<th>Checked (UTC)</th></tr></thead><tbody>\n";

void StatusTag(const std::string& status, std::string* out) {
  *out += "<span class=\"tag ";
  H(status, out);
  *out += "\">";
  H(status, out);
  *out += "</span>";
}

void RenderUrlRow(const LineFacts& facts, std::string* out) {
  const pb::LineRecord& line = facts.line;
  const pb::Observation* obs = facts.obs;
  *out += "<tr class=\"url-row\" id=\"line-";
  AppendUint(line.line(), out);
  *out += "\">";
  NumCell(line.line(), out);
  Elem("td", DefangUrl(obs ? obs->url() : line.input()), out, "url");
  *out += "<td>";
  StatusTag(facts.status, out);
  *out += "</td>";
  if (obs == nullptr) {
    Elem("td", line.rejection().empty() ? "not probed" : line.rejection(), out);
    *out += "<td></td><td></td><td></td><td></td></tr>\n";
    return;
  }
  const pb::Jurisdiction& j = obs->verdict().jurisdiction();
  std::string juris = j.attribution();
  const std::string countries = Joined(j.primary_countries(), ", ");
  if (!countries.empty()) juris += ": " + countries;
  Elem("td", juris, out);
  if (const pb::AddressInfo* a = facts.answering; a) {
    Elem("td", a->ip() + " " + a->country() + " " + NetworkLabel(*a), out,
         "mono");
  } else {
    *out += "<td></td>";
  }
  *out += "<td>";
  for (const auto& p : obs->providers()) {
    H(ProviderLabel(p), out);
    if (IsFrontProvider(p)) {
      *out += " <span class=\"hidden-origin\">origin hidden</span>";
    }
    *out += "<br>";
  }
  *out += "</td>";
  Elem("td", j.confidence(), out);
  Elem("td", UtcTime(obs->checked_at_unix_ms()), out, "mono nowrap");
  *out += "</tr>\n";
}

void RenderAddresses(const FinalHop& hop, std::string* out) {
  if (hop.addresses.empty()) {
    *out += "none";
    return;
  }
  const std::string& answering = AnsweringIp(hop.http, hop.pinned_ip);
  *out +=
      "<table><thead><tr><th>Address</th><th>Country</th><th>City</th>"
      "<th>AS / network</th><th>RDAP, registry</th><th>Reverse name</th>"
      "</tr></thead><tbody>";
  for (const auto& a : hop.addresses) {
    *out += "<tr><td class=\"mono\">";
    H(a.ip(), out);
    if (a.ip() == answering) *out += " (answered)";
    *out += "</td>";
    Elem("td", a.country(), out);
    Elem("td", a.city(), out);
    Elem("td",
         NetworkLabel(a) + (a.network().empty() ? "" : ", ") + a.network(), out,
         "mono");
    Elem("td",
         (a.rdap_country().empty() ? std::string("-") : a.rdap_country()) +
             ", " +
             (a.registry_country().empty() ? std::string("-")
                                           : a.registry_country()),
         out);
    std::string names;
    for (const auto& ptr : hop.dns.ptr()) {
      if (ptr.ip() != a.ip()) continue;
      for (const auto& n : ptr.names()) {
        names += (names.empty() ? "" : ", ") + DefangName(n);
      }
    }
    Elem("td", names, out, "url");
    *out += "</tr>";
  }
  *out += "</tbody></table>";
}

void Dt(std::string_view term, std::string* out) {
  *out += "<dt>";
  *out += term;
  *out += "</dt><dd>";
}

void RenderHttp(const pb::HttpObservation& http, std::string* out) {
  if (http.status() > 0) {
    *out += "HTTP ";
    AppendUint(http.status(), out);
    if (!http.http_version().empty()) {
      *out += " (HTTP/";
      H(http.http_version(), out);
      *out += ")";
    }
  } else if (!http.error().error_class().empty()) {
    *out += "no answer: ";
    H(http.error().error_class(), out);
  } else {
    *out += "not sent";
  }
  if (!http.header_block_sha256().empty()) {
    *out += "; header block SHA-256 <span class=\"mono\">";
    H(HexLower(http.header_block_sha256()), out);
    *out += "</span>";
  }
  if (!http.headers().empty()) {
    *out += "<table class=\"headers\"><tbody>";
    for (const auto& h : http.headers()) {
      *out += "<tr>";
      Elem("td", h.name(), out, "mono");
      const bool location = EqualsIgnoreCaseAscii(h.name(), "location");
      Elem("td", location ? DefangUrl(h.value()) : h.value(), out, "url");
      *out += "</tr>";
    }
    *out += "</tbody></table>";
  }
}

void RenderTls(const pb::TlsObservation& tls, std::string* out) {
  if (tls.sha256().empty()) {
    *out += "none";
    return;
  }
  *out += "<table class=\"tls\"><tbody><tr><th>SHA-256</th>";
  Elem("td", HexLower(tls.sha256()), out, "mono");
  *out += "</tr><tr><th>Subject</th>";
  Elem("td", tls.subject(), out, "mono");
  *out += "</tr><tr><th>Issuer</th>";
  Elem("td", tls.issuer(), out, "mono");
  std::string sans;
  for (const auto& s : tls.san_dns()) {
    sans += (sans.empty() ? "" : ", ") + DefangName(s);
  }
  for (const auto& s : tls.san_ip()) sans += (sans.empty() ? "" : ", ") + s;
  *out += "</tr><tr><th>Names</th>";
  Elem("td", sans, out, "url");
  if (tls.not_after_unix() != 0) {
    *out += "</tr><tr><th>Valid</th>";
    Elem("td",
         UtcTime(tls.not_before_unix() * 1000) + " to " +
             UtcTime(tls.not_after_unix() * 1000),
         out);
  }
  *out += "</tr><tr><th>Verified</th>";
  Elem("td",
       tls.verified() ? std::string("yes")
                      : "no: " + ToValidUtf8(tls.verify_error()),
       out);
  *out += "</tr></tbody></table>";
}

void RenderEvidence(const LineFacts& facts, std::string* out) {
  const pb::LineRecord& line = facts.line;
  const pb::Observation* obs = facts.obs;
  *out += "<article class=\"evidence\" id=\"evidence-";
  AppendUint(line.line(), out);
  *out += "\"><h3>Line ";
  AppendUint(line.line(), out);
  *out += ": <span class=\"url\">";
  H(DefangUrl(obs ? obs->url() : line.input()), out);
  *out += "</span></h3><dl>";
  Dt("Input line", out);
  *out += "<span class=\"url\">";
  H(DefangUrl(line.input()), out);
  *out += "</span></dd>";
  Dt("Status", out);
  StatusTag(facts.status, out);
  if (obs == nullptr) {
    *out += ' ';
    H(line.rejection().empty()
          ? std::string("no result: the URL was not probed successfully")
          : line.rejection() + (line.rejection_detail().empty() ? "" : ": ") +
                ToValidUtf8(line.rejection_detail()),
      out);
    *out += "</dd></dl></article>\n";
    return;
  }
  if (!obs->error().error_class().empty()) {
    *out += ' ';
    H(obs->error().error_class(), out);
  }
  *out += "</dd>";
  Dt("Checked at", out);
  H(UtcTime(obs->checked_at_unix_ms()), out);
  *out += "</dd>";
  const pb::Jurisdiction& j = obs->verdict().jurisdiction();
  Dt("Jurisdiction", out);
  H(DescribeJurisdiction(j), out);
  *out += "</dd>";
  Dt("Reasons", out);
  *out += "<ul>";
  for (const auto& r : obs->verdict().reasons()) Elem("li", r, out);
  for (const auto& d : j.disagreements()) Elem("li", "disagreement: " + d, out);
  *out += "</ul></dd>";
  const FinalHop& last = facts.last;
  Dt("Addresses", out);
  RenderAddresses(last, out);
  *out += "</dd>";
  if (last.dns.cname_chain_size() > 1) {
    Dt("CNAME chain", out);
    std::string chain;
    for (const auto& n : last.dns.cname_chain()) {
      chain += (chain.empty() ? "" : " \u2192 ") + DefangName(n);
    }
    Elem("span", chain, out, "url");
    *out += "</dd>";
  }
  if (!obs->providers().empty()) {
    Dt("Provider", out);
    *out += "<ul>";
    for (const auto& p : obs->providers()) {
      *out += "<li>";
      H(ProviderLabel(p), out);
      if (IsFrontProvider(p)) {
        *out +=
            " <span class=\"hidden-origin\">origin hidden: ask the "
            "provider</span>";
      }
      if (!p.abuse().empty()) {
        *out += "; abuse: <span class=\"mono\">";
        H(p.abuse(), out);
        *out += "</span>";
      }
      if (!p.evidence().empty()) {
        *out += "; evidence: <span class=\"mono\">";
        H(p.evidence(0).kind() + " " + ToValidUtf8(p.evidence(0).value()), out);
        *out += "</span>";
      }
      *out += "</li>";
    }
    *out += "</ul></dd>";
  }
  if (!obs->redirects().empty()) {
    Dt("Redirect chain", out);
    *out += "<ol>";
    const auto hop_item =
        [&](const std::string& url, const pb::HttpObservation& http,
            const std::string& pinned,
            const google::protobuf::RepeatedPtrField<pb::AddressInfo>&
                addresses) {
          *out += "<li><span class=\"url\">";
          H(DefangUrl(url), out);
          *out += "</span> ";
          const std::string& ip = AnsweringIp(http, pinned);
          const pb::AddressInfo* a = FindAddress(addresses, ip);
          std::string where = ip;
          if (a != nullptr)
            where += " " + a->country() + " " + NetworkLabel(*a);
          if (http.status() > 0)
            where += ", HTTP " + std::to_string(http.status());
          H(where, out);
          *out += "</li>";
        };
    hop_item(obs->url(), obs->http(), obs->pinned_ip(), obs->addresses());
    for (const auto& hop : obs->redirects()) {
      hop_item(hop.url(), hop.http(), hop.pinned_ip(), hop.addresses());
    }
    *out += "</ol>";
    if (!obs->redirect_error().error_class().empty()) {
      *out += "stopped: ";
      H(obs->redirect_error().error_class(), out);
    }
    *out += "</dd>";
  }
  Dt("HTTP (final request)", out);
  RenderHttp(last.http, out);
  *out += "</dd>";
  Dt("TLS certificate", out);
  RenderTls(last.http.tls(), out);
  *out += "</dd>";
  if (!j.secondary().empty()) {
    Dt("Secondary jurisdictions", out);
    *out += "<ul>";
    for (const auto& s : j.secondary()) {
      const bool url_detail = s.role() == "redirector";
      Elem("li",
           s.role() + " " + (s.country().empty() ? "?" : s.country()) + ": " +
               (url_detail ? DefangUrl(s.detail()) : DefangName(s.detail())),
           out);
    }
    *out += "</ul></dd>";
  }
  Dt("Refer to", out);
  if (j.referrals().empty()) *out += "no target (nothing to attribute)";
  *out += "<ul>";
  for (const auto& t : j.referrals()) {
    Elem("li",
         ToValidUtf8(t.name()) + " (" + t.kind() + ", " + t.country() +
             ", route " + t.route() + ")" +
             (t.website().empty() ? "" : " " + ToValidUtf8(t.website())),
         out);
  }
  *out += "</ul></dd>";
  const std::vector<std::string>& abuse = facts.abuse;
  if (!abuse.empty()) {
    Dt("Abuse contacts", out);
    *out += "<ul>";
    for (const auto& a : abuse) Elem("li", a, out);
    *out += "</ul></dd>";
  }
  if (!j.registrable_domain().empty() || obs->has_registration()) {
    Dt("Domain", out);
    std::string domain = DefangName(j.registrable_domain());
    if (!j.cctld_country().empty()) domain += ", ccTLD " + j.cctld_country();
    if (!j.registrar().empty()) {
      domain += ", registrar " + ToValidUtf8(j.registrar());
    }
    H(domain, out);
    *out += "</dd>";
  }
  Dt("Record", out);
  std::string record = "hostlocator " + obs->tool_version();
  if (!obs->worker().empty()) {
    record += ", worker " + ToValidUtf8(obs->worker());
  }
  if (!obs->config_digest().empty()) {
    record += ", configuration " + obs->config_digest().substr(0, 16);
  }
  H(record, out);
  *out += "</dd>";
  if (!facts.stale.empty()) {
    Dt("Stale data", out);
    for (const StaleSource& source : facts.stale) {
      *out += "<div class=\"stale\">";
      H(StaleWarning(source), out);
      *out += "</div>";
    }
    *out += "</dd>";
  }
  *out += "</dl></article>\n";
}

// A banner naming each role of stale data, how many of `lines` it concerns
// and the oldest.
void RenderStaleBanner(const std::map<std::string, StaleTally>& stale,
                       uint64_t lines, std::string* out) {
  if (stale.empty()) return;
  *out +=
      "<div class=\"warning stale-data\" role=\"alert\"><strong>Stale "
      "data.</strong> Some results were judged with data older than the "
      "configured age ([history] in the configuration); their countries and "
      "networks may be out of date. Re-check those URLs after updating the "
      "data.<ul>";
  for (const auto& [role, tally] : stale) {
    *out += "<li>";
    H(StaleWarning(tally.oldest) + " (the oldest; " +
          std::to_string(tally.lines) + " of " + std::to_string(lines) +
          " lines)",
      out);
    *out += "</li>";
  }
  *out += "</ul></div>\n";
}

nlohmann::ordered_json StaleJson(const std::map<std::string, StaleTally>& s) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [role, tally] : s) {
    out[role] = {{"lines", tally.lines},
                 {"oldest_age_days", tally.oldest.age_days},
                 {"max_age_days", tally.oldest.max_age_days},
                 {"warning", StaleWarning(tally.oldest)}};
  }
  return out;
}

void RenderFooter(const std::set<std::string>& attributions, std::string* out) {
  *out +=
      "<footer><p>Reported URLs and names are shown as text and defanged "
      "(hxxp, [.]); nothing in this report links to or loads anything from a "
      "reported site. Times are UTC. hostlocator never downloads content: "
      "every fact comes from DNS, geolocation and routing data, TLS "
      "handshakes and HTTP response headers.</p>";
  if (!attributions.empty()) {
    *out += "<p>Data sources: ";
    bool first = true;
    for (const auto& a : attributions) {
      if (!first) *out += "; ";
      first = false;
      H(a, out);
    }
    *out += "</p>";
  }
  *out += "</footer>\n</body></html>\n";
}

nlohmann::ordered_json RunsJson(const std::vector<pb::RunRecord>& runs) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& run : runs) {
    out.push_back({{"batch_id", run.run_id()},
                   {"case_reference", ToValidUtf8(run.case_reference())},
                   {"submitter", ToValidUtf8(run.submitter())},
                   {"submitted_at", FormatRfc3339Ms(run.started_unix_ms())}});
  }
  return out;
}

nlohmann::ordered_json FilterJson(const PackageFilter& f) {
  nlohmann::ordered_json out = {{"checked_from", nullptr},
                                {"checked_before", nullptr},
                                {"packages", f.countries},
                                {"statuses", f.statuses}};
  if (f.checked_from_ms != std::numeric_limits<int64_t>::min()) {
    out["checked_from"] = FormatRfc3339Ms(f.checked_from_ms);
  }
  if (f.checked_to_ms != std::numeric_limits<int64_t>::max()) {
    out["checked_before"] = FormatRfc3339Ms(f.checked_to_ms);
  }
  return out;
}

nlohmann::ordered_json TargetsJson(
    const std::vector<std::pair<pb::ReferralTarget, uint64_t>>& targets) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [t, n] : targets) {
    out.push_back({{"name", ToValidUtf8(t.name())},
                   {"kind", t.kind()},
                   {"country", t.country()},
                   {"route", t.route()},
                   {"website", ToValidUtf8(t.website())},
                   {"email", ToValidUtf8(t.email())},
                   {"phone", ToValidUtf8(t.phone())},
                   {"source", ToValidUtf8(t.source())},
                   {"verified_on", t.verified_on()},
                   {"lines", n}});
  }
  return out;
}

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

constexpr std::string_view kReferralCsvHeader =
    "batch,line,input,url,status,error_class,attribution,primary_countries,"
    "confidence,ip,ip_country,asn,as_org,network,providers,origin_hidden,"
    "http_status,redirect_chain,tls_sha256,referral_targets,"
    "secondary_jurisdictions,abuse_contacts,checked_at,directory_unverified\n";

void AppendReferralCsvRow(const LineFacts& facts, uint64_t run_id,
                          std::string* out) {
  const pb::LineRecord& line = facts.line;
  const pb::Observation* obs = facts.obs;
  AppendUint(run_id, out);
  *out += ',';
  AppendUint(line.line(), out);
  *out += ',';
  AppendCsvField(line.input(), out);
  *out += ',';
  if (obs == nullptr) {
    *out += ',';
    *out += facts.status;
    *out += ',';
    AppendCsvField(line.rejection().empty() ? "not_probed" : "rejected", out);
    *out += ",,,,,,,,,,,,,,,,,,\n";
    return;
  }
  const pb::Jurisdiction& j = obs->verdict().jurisdiction();
  const FinalHop& last = facts.last;
  const pb::AddressInfo* a = facts.answering;
  std::string providers, chain, targets, secondary;
  bool hidden = false;
  for (const auto& p : obs->providers()) {
    providers += (providers.empty() ? "" : "; ") + ProviderLabel(p);
    hidden = hidden || IsFrontProvider(p);
  }
  chain = ToValidUtf8(obs->url());
  for (const auto& hop : obs->redirects()) {
    chain += " -> " + ToValidUtf8(hop.url());
  }
  for (const auto& t : j.referrals()) {
    targets += (targets.empty() ? "" : "; ") + ToValidUtf8(t.name()) + " (" +
               t.route() + ", " + t.country() + ")";
  }
  for (const auto& s : j.secondary()) {
    secondary += (secondary.empty() ? "" : "; ") + s.role() + " " +
                 s.country() + " " + ToValidUtf8(s.detail());
  }
  std::string abuse;
  for (const auto& c : facts.abuse) {
    abuse += (abuse.empty() ? "" : "; ") + c;
  }
  const std::string fields[] = {
      obs->url(),
      obs->status(),
      obs->error().error_class(),
      j.attribution(),
      Joined(j.primary_countries(), ";"),
      j.confidence(),
      a ? a->ip() : "",
      a ? a->country() : "",
      a && a->asn() ? std::to_string(a->asn()) : "",
      a ? a->as_org() : "",
      a ? a->network() : "",
      providers,
      hidden ? "yes" : "no",
      last.http.status() ? std::to_string(last.http.status()) : "",
      chain,
      HexLower(last.http.tls().sha256()),
      targets,
      secondary,
      abuse,
      FormatRfc3339Ms(obs->checked_at_unix_ms()),
      j.directory_unverified() ? "yes" : "no"};
  bool first = true;
  for (const std::string& f : fields) {
    if (!first) *out += ',';
    first = false;
    AppendCsvField(f, out);
  }
  *out += '\n';
}

Status CopyFileTo(const fs::path& path, PackageFileSink* sink) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("cannot read " + path.string());
  std::string block(1 << 16, '\0');
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n > 0) HL_RETURN_IF_ERROR(sink->Write({block.data(), n}, false));
  }
  return Status::Ok();
}

}  // namespace

// ------------------------------------------------------------ pure parts

void TallyStale(const std::vector<StaleSource>& stale,
                std::map<std::string, StaleTally>* tally) {
  std::set<std::string> roles;
  for (const StaleSource& source : stale) {
    StaleTally& t = (*tally)[source.role];
    if (roles.insert(source.role).second) ++t.lines;
    if (t.oldest.role.empty() || source.age_days > t.oldest.age_days) {
      t.oldest = source;
    }
  }
}

std::vector<std::string> PackageKeys(const pb::LineRecord& line,
                                     const pb::Observation* obs) {
  std::vector<std::string> keys;
  if (line.rejection().empty() && obs != nullptr) {
    const auto& primary = obs->verdict().jurisdiction().primary_countries();
    const auto& countries = obs->verdict().jurisdiction().attribution().empty()
                                ? obs->verdict().hosting_countries()
                                : primary;
    for (const auto& c : countries) {
      if (IsCountryCode(c)) keys.push_back(c);
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.empty()) keys.emplace_back(kUnattributed);
  return keys;
}

bool PassesFilter(const PackageFilter& filter, const pb::LineRecord& line,
                  const pb::Observation* obs) {
  if (!filter.statuses.empty() &&
      !filter.statuses.contains(LineStatus(line, obs))) {
    return false;
  }
  if (!filter.has_date_range()) return true;
  if (obs == nullptr || !line.rejection().empty()) return false;
  return obs->checked_at_unix_ms() >= filter.checked_from_ms &&
         obs->checked_at_unix_ms() < filter.checked_to_ms;
}

std::vector<std::string> SelectedKeys(const PackageFilter& filter,
                                      const std::vector<std::string>& keys) {
  if (filter.countries.empty()) return keys;
  std::vector<std::string> out;
  for (const auto& k : keys) {
    if (filter.countries.contains(k)) out.push_back(k);
  }
  return out;
}

Result<PackageFilter> MakePackageFilter(
    std::string_view from, std::string_view to,
    const std::vector<std::string>& countries,
    const std::vector<std::string>& statuses) {
  constexpr int64_t kDayMs = 86'400'000;
  PackageFilter filter;
  if (!from.empty()) {
    auto ms = ParseUtcTime(from);
    if (!ms.ok()) return ms.status();
    filter.checked_from_ms = *ms;
  }
  if (!to.empty()) {
    auto ms = ParseUtcTime(to);
    if (!ms.ok()) return ms.status();
    filter.checked_to_ms = *ms + (to.size() == 10 ? kDayMs : 0);
  }
  for (const std::string& c : countries) {
    if (c != kUnattributed && !IsCountryCode(c)) {
      return InvalidArgument("\"" + ToValidUtf8(c) +
                             "\" is not a package: use an ISO 3166 code such "
                             "as DE, or unattributed");
    }
    filter.countries.insert(c);
  }
  for (const std::string& status : statuses) {
    if (status != "located" && status != "unresolved" && status != "error" &&
        status != "rejected") {
      return InvalidArgument("\"" + ToValidUtf8(status) +
                             "\" is not a status: use located, unresolved, "
                             "error or rejected");
    }
    filter.statuses.insert(status);
  }
  return filter;
}

Result<std::unique_ptr<PackageFileSink>> MakeFilePackageSink(
    const std::string& dir, const std::string& relative_path) {
  const fs::path path = fs::path(dir) / relative_path;
  auto out = std::make_unique<BlockFile>();
  if (!out->Open(path)) {
    return FailedPrecondition("cannot write " + path.string());
  }
  return std::unique_ptr<PackageFileSink>(
      new FileSink(relative_path, std::move(out)));
}

// ---------------------------------------------------------------- writer

struct ReferralPackageWriter::Package {
  PackageSummary summary;
  std::unique_ptr<PackageFileSink> csv, json;
  // The HTML's URL rows and evidence blocks, kept in two work files until
  // Finish knows the summary that precedes them.
  fs::path rows_path, evidence_path;
  BlockFile rows, evidence;
};

ReferralPackageWriter::ReferralPackageWriter(std::string dir,
                                             PackageOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

ReferralPackageWriter::~ReferralPackageWriter() {
  std::error_code ec;
  for (auto& [key, p] : packages_) {
    p->rows.Close();
    p->evidence.Close();
    fs::remove(p->rows_path, ec);
    fs::remove(p->evidence_path, ec);
  }
}

Result<std::unique_ptr<ReferralPackageWriter>> ReferralPackageWriter::Create(
    const std::string& dir, PackageOptions options) {
  std::error_code ec;
  if (options.replace) {
    fs::remove_all(dir, ec);
  } else if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return FailedPrecondition(dir +
                              " is not empty; name a new folder for the "
                              "referral packages");
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return FailedPrecondition("cannot create " + dir + ": " + ec.message());
  }
  return std::unique_ptr<ReferralPackageWriter>(
      new ReferralPackageWriter(dir, std::move(options)));
}

Result<ReferralPackageWriter::Package*> ReferralPackageWriter::GetPackage(
    const std::string& key) {
  auto it = packages_.find(key);
  if (it != packages_.end()) return it->second.get();
  // Keys name folders: only ISO codes and the fixed name.
  if (key != kUnattributed && !IsCountryCode(key)) {
    return Internal("\"" + ToValidUtf8(key) + "\" is not a package name");
  }
  auto p = std::make_unique<Package>();
  p->summary.key = key;
  std::error_code ec;
  const fs::path folder = fs::path(dir_) / key;
  fs::create_directories(folder, ec);
  if (ec) {
    return FailedPrecondition("cannot create " + folder.string() + ": " +
                              ec.message());
  }
  auto csv = options_.sink_factory(dir_, key + "/" + key + ".csv");
  if (!csv.ok()) return csv.status();
  auto json = options_.sink_factory(dir_, key + "/" + key + ".json");
  if (!json.ok()) return json.status();
  p->csv = std::move(csv).value();
  p->json = std::move(json).value();
  HL_RETURN_IF_ERROR(p->csv->Write(kReferralCsvHeader, false));
  nlohmann::ordered_json header = {
      {"key", key},
      {"country", key == kUnattributed ? nlohmann::ordered_json(nullptr)
                                       : nlohmann::ordered_json(key)},
      {"generated_at", FormatRfc3339Ms(options_.generated_at_ms)},
      {"tool_version", options_.tool_version},
      {"batches", RunsJson(options_.runs)},
      {"filters", FilterJson(options_.filter)}};
  HL_RETURN_IF_ERROR(p->json->Write(
      "{\"package\":" + Dump(header) + ",\n\"records\":[\n", false));
  p->rows_path = folder / ("." + key + ".rows.part");
  p->evidence_path = folder / ("." + key + ".evidence.part");
  if (!p->rows.Open(p->rows_path) || !p->evidence.Open(p->evidence_path)) {
    return FailedPrecondition("cannot write in " + folder.string());
  }
  Package* raw = p.get();
  packages_.emplace(key, std::move(p));
  return raw;
}

Status ReferralPackageWriter::Add(const pb::LineRecord& line,
                                  const pb::Observation* obs,
                                  std::string_view record) {
  ++set_.lines_seen;
  if (!PassesFilter(options_.filter, line, obs)) return Status::Ok();
  const std::vector<std::string> keys =
      SelectedKeys(options_.filter, PackageKeys(line, obs));
  if (keys.empty()) return Status::Ok();
  ++set_.lines_selected;
  bool new_job = false;
  if (line.job_id() != 0) {
    const uint64_t job = line.job_id();
    if (job >= job_counted_.size()) {
      job_counted_.resize(std::max<uint64_t>(job + 1, 2 * job_counted_.size()));
    }
    new_job = !job_counted_[job];
    job_counted_[job] = true;
  }
  const uint64_t run_id = options_.runs.empty() ? 0 : options_.runs[0].run_id();
  const LineFacts facts(line, obs, options_.history);
  csv_row_.clear();
  AppendReferralCsvRow(facts, run_id, &csv_row_);
  if (record.empty()) {
    record_.clear();
    AppendResultRecordJson(line, obs, &record_);
    record = record_;
  }
  html_row_.clear();
  RenderUrlRow(facts, &html_row_);
  TallyStale(facts.stale, &set_.stale);
  evidence_.clear();
  RenderEvidence(facts, &evidence_);
  if (obs != nullptr) {
    for (const auto& source : obs->data_sources()) {
      set_.data_sources.try_emplace({source.role(), source.sha256()}, source);
      if (!source.attribution().empty()) {
        attributions_.insert(ToValidUtf8(source.attribution()));
      }
    }
  }
  for (const std::string& key : keys) {
    auto got = GetPackage(key);
    if (!got.ok()) return got.status();
    Package* p = *got;
    PackageSummary& s = p->summary;
    HL_RETURN_IF_ERROR(p->csv->Write(csv_row_, true));
    if (s.lines > 0) HL_RETURN_IF_ERROR(p->json->Write(",\n", false));
    HL_RETURN_IF_ERROR(p->json->Write(record, true));
    if (!p->rows.Write(html_row_) || !p->evidence.Write(evidence_)) {
      return Unavailable("writing the referral package " + key + " failed");
    }
    ++s.lines;
    s.urls += new_job ? 1 : 0;
    ++s.by_status[facts.status];
    if (obs == nullptr) continue;
    const pb::Jurisdiction& j = obs->verdict().jurisdiction();
    ++s.by_attribution[j.attribution()];
    ++s.by_confidence[j.confidence()];
    if (const pb::AddressInfo* a = facts.answering; a) {
      const std::string label = NetworkLabel(*a);
      if (!label.empty()) ++s.networks[label];
    }
    for (const auto& pm : obs->providers()) ++s.providers[ProviderLabel(pm)];
    for (const auto& t : j.referrals()) {
      CountTarget(t, IsOwnTarget(t, key) ? &s.targets : &s.secondary_targets);
    }
    for (const auto& sec : j.secondary()) {
      ++s.secondary[sec.role() + " " +
                    (sec.country().empty() ? "?" : sec.country())];
    }
    s.abuse_contacts.insert(facts.abuse.begin(), facts.abuse.end());
    TallyStale(facts.stale, &s.stale);
    if (j.directory_unverified() && !s.directory_unverified) {
      s.directory_unverified = true;
      s.referral_warning = ToValidUtf8(j.referral_warning());
    }
  }
  return Status::Ok();
}

Result<PackageSetSummary> ReferralPackageWriter::Finish() {
  std::vector<std::pair<std::string, uint64_t>> bars;
  for (const auto& [key, p] : packages_) {
    bars.emplace_back(key, p->summary.lines);
  }
  for (auto& [key, p] : packages_) {
    PackageSummary& s = p->summary;
    const nlohmann::ordered_json summary = {
        {"lines", s.lines},
        {"urls", s.urls},
        {"by_status", s.by_status},
        {"by_attribution", s.by_attribution},
        {"by_confidence", s.by_confidence},
        {"networks", s.networks},
        {"providers", s.providers},
        {"referral_targets", TargetsJson(s.targets)},
        {"secondary_referrals", TargetsJson(s.secondary_targets)},
        {"secondary_jurisdictions", s.secondary},
        {"abuse_contacts", s.abuse_contacts},
        {"directory_unverified", s.directory_unverified},
        {"referral_warning", s.referral_warning},
        {"stale_data", StaleJson(s.stale)}};
    HL_RETURN_IF_ERROR(
        p->json->Write("\n],\n\"summary\":" + Dump(summary) + "}\n", false));
    auto csv = p->csv->Finish();
    if (!csv.ok()) return csv.status();
    auto json = p->json->Finish();
    if (!json.ok()) return json.status();
    s.files = {*csv, *json};

    if (!p->rows.Close() || !p->evidence.Close()) {
      return Unavailable("writing the referral package " + key + " failed");
    }
    auto html = options_.sink_factory(dir_, key + "/" + key + ".html");
    if (!html.ok()) return html.status();
    std::string text;
    RenderHead(PackageTitle(key), &text);
    text += "<header><h1>";
    H(PackageTitle(key), &text);
    text += "</h1>";
    RenderMeta(options_, &text);
    text += "</header>\n";
    if (s.directory_unverified) RenderWarning(s.referral_warning, &text);
    RenderStaleBanner(s.stale, s.lines, &text);
    if (key != kUnattributed) {
      text += "<section><h2>Refer to</h2>\n";
      if (s.targets.empty()) {
        text +=
            "<p>No referral target in these results (no referral directory "
            "was loaded when they were checked).</p>\n";
      } else {
        RenderTargets(s.targets, &text);
      }
      if (!s.secondary_targets.empty()) {
        text += "<h3>Secondary referrals</h3>\n";
        RenderTargets(s.secondary_targets, &text);
      }
      text += "<h3>Abuse contacts known</h3>\n";
      if (s.abuse_contacts.empty()) {
        text += "<p>None recorded.</p>\n";
      } else {
        text += "<ul class=\"abuse\">";
        for (const auto& a : s.abuse_contacts) Elem("li", a, &text, "mono");
        text += "</ul>\n";
      }
      text += "</section>\n";
    }
    text += "<section><h2>Summary</h2><div class=\"cols\"><div>";
    text += "<table class=\"summary\"><tbody><tr><th>URL lines</th>";
    NumCell(s.lines, &text);
    text += "</tr><tr><th>Distinct URLs</th>";
    NumCell(s.urls, &text);
    text += "</tr></tbody></table>";
    RenderCountTable("Status", s.by_status, &text);
    RenderCountTable("Attribution", s.by_attribution, &text);
    RenderCountTable("Confidence", s.by_confidence, &text);
    text += "</div><div>";
    RenderChart(bars, key, &text);
    text += "</div></div>\n";
    if (!s.networks.empty()) {
      text += "<h3>Networks (answering address)</h3>";
      RenderCountTable("Network", s.networks, &text);
    }
    if (!s.providers.empty()) {
      text += "<h3>Providers</h3>";
      RenderCountTable("Provider", s.providers, &text);
    }
    if (!s.secondary.empty()) {
      text += "<h3>Secondary jurisdictions</h3>";
      RenderCountTable("Role and country", s.secondary, &text);
    }
    text += "</section>\n<section><h2>URLs</h2>\n";
    text += kUrlTableHead;
    HL_RETURN_IF_ERROR((*html)->Write(text, false));
    HL_RETURN_IF_ERROR(CopyFileTo(p->rows_path, html->get()));
    HL_RETURN_IF_ERROR(
        (*html)->Write("</tbody></table></section>\n<section><h2>Evidence per "
                       "URL</h2>\n",
                       false));
    HL_RETURN_IF_ERROR(CopyFileTo(p->evidence_path, html->get()));
    text.clear();
    text += "</section>\n";
    RenderFooter(attributions_, &text);
    HL_RETURN_IF_ERROR((*html)->Write(text, false));
    auto html_file = (*html)->Finish();
    if (!html_file.ok()) return html_file.status();
    s.files.push_back(*html_file);
    std::error_code ec;
    fs::remove(p->rows_path, ec);
    fs::remove(p->evidence_path, ec);
  }

  // Packages sorted by key, the unattributed one last.
  for (auto& [key, p] : packages_) {
    if (key != kUnattributed) set_.packages.push_back(p->summary);
  }
  if (auto it = packages_.find(std::string(kUnattributed));
      it != packages_.end()) {
    set_.packages.push_back(it->second->summary);
  }

  nlohmann::ordered_json packages = nlohmann::ordered_json::array();
  for (const PackageSummary& s : set_.packages) {
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const auto& f : s.files) {
      files.push_back(
          {{"path", f.path}, {"bytes", f.bytes}, {"sha256", f.sha256}});
    }
    packages.push_back({{"key", s.key},
                        {"lines", s.lines},
                        {"urls", s.urls},
                        {"by_status", s.by_status},
                        {"referral_targets", TargetsJson(s.targets)},
                        {"directory_unverified", s.directory_unverified},
                        {"files", files}});
  }
  const nlohmann::ordered_json index = {
      {"generated_at", FormatRfc3339Ms(options_.generated_at_ms)},
      {"tool_version", options_.tool_version},
      {"batches", RunsJson(options_.runs)},
      {"filters", FilterJson(options_.filter)},
      {"lines_seen", set_.lines_seen},
      {"lines_selected", set_.lines_selected},
      {"lines_pending", set_.lines_pending},
      {"stale_data", StaleJson(set_.stale)},
      {"packages", packages}};
  auto index_json = options_.sink_factory(dir_, "index.json");
  if (!index_json.ok()) return index_json.status();
  HL_RETURN_IF_ERROR((*index_json)->Write(Dump(index) + "\n", false));
  auto index_json_file = (*index_json)->Finish();
  if (!index_json_file.ok()) return index_json_file.status();

  std::string text;
  RenderHead("Referral packages", &text);
  text += "<header><h1>Referral packages</h1>";
  RenderMeta(options_, &text);
  text += "</header>\n";
  for (const PackageSummary& s : set_.packages) {
    if (s.directory_unverified) {
      RenderWarning(s.referral_warning, &text);
      break;
    }
  }
  RenderStaleBanner(set_.stale, set_.lines_selected, &text);
  text += "<section><h2>Summary</h2><div class=\"cols\"><div>";
  text += "<table class=\"summary\"><tbody><tr><th>Lines in packages</th>";
  NumCell(set_.lines_selected, &text);
  text += "</tr><tr><th>Lines left out by the filters</th>";
  NumCell(set_.lines_seen - set_.lines_selected, &text);
  text += "</tr><tr><th>Lines without a result yet</th>";
  NumCell(set_.lines_pending, &text);
  text += "</tr></tbody></table></div><div>";
  RenderChart(bars, "", &text);
  text += "</div></div></section>\n<section><h2>Packages</h2>";
  text +=
      "<table class=\"packages\"><thead><tr><th>Package</th><th "
      "class=\"n\">Lines</th><th class=\"n\">URLs</th><th>Refer to</th>"
      "<th>Files</th></tr></thead><tbody>\n";
  for (const PackageSummary& s : set_.packages) {
    text += "<tr class=\"package\">";
    Elem("td", s.key, &text);
    NumCell(s.lines, &text);
    NumCell(s.urls, &text);
    text += "<td>";
    for (const auto& [t, n] : s.targets) {
      H(ToValidUtf8(t.name()) + " (" + t.kind() + ")", &text);
      text += "<br>";
    }
    text += "</td><td>";
    for (const auto& f : s.files) {
      // Relative links to the package's own files, never to a reported
      // site; keys are ISO codes or "unattributed".
      text += "<a href=\"";
      H(f.path, &text);
      text += "\">";
      H(f.path, &text);
      text += "</a> ";
    }
    text += "</td></tr>\n";
  }
  text += "</tbody></table></section>\n";
  RenderFooter(attributions_, &text);
  auto index_html = options_.sink_factory(dir_, "index.html");
  if (!index_html.ok()) return index_html.status();
  HL_RETURN_IF_ERROR((*index_html)->Write(text, false));
  auto index_html_file = (*index_html)->Finish();
  if (!index_html_file.ok()) return index_html_file.status();
  set_.index_files = {*index_json_file, *index_html_file};
  return set_;
}

Result<PackageSetSummary> WriteReferralPackages(const Store& store,
                                                const pb::RunRecord& run,
                                                const std::string& dir,
                                                PackageOptions options) {
  auto writer = ReferralPackageWriter::Create(dir, std::move(options));
  if (!writer.ok()) return writer.status();
  LineOutcome outcome;
  OutcomeReader outcomes(store, nullptr);
  HL_RETURN_IF_ERROR(store.ForEachLine(
      run.run_id(), [&](const pb::LineRecord& line) -> Status {
        auto has_outcome = outcomes.Read(line, &outcome);
        if (!has_outcome.ok()) return has_outcome.status();
        if (!*has_outcome) {
          (*writer)->AddPending();
          return Status::Ok();
        }
        return (*writer)->Add(line,
                              outcome.latest ? &*outcome.latest : nullptr);
      }));
  return (*writer)->Finish();
}

Result<std::string> PackageFilePath(std::string_view file) {
  std::string_view name = file;
  const bool chain = name.ends_with(".chain");
  if (chain) name.remove_suffix(std::string_view(".chain").size());
  if (file == "packages.manifest" || name == "index.json" ||
      name == "index.html") {
    return std::string(file);
  }
  const size_t dot = name.find('.');
  const std::string key(
      name.substr(0, dot == std::string_view::npos ? 0 : dot));
  const std::string_view ext =
      dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if ((key != kUnattributed && !IsCountryCode(key)) ||
      (ext != "csv" && ext != "json" && ext != "html")) {
    return InvalidArgument(
        "\"" + ToValidUtf8(file) +
        "\" is not a package file: use index.json, index.html, CC.csv, "
        "CC.json or CC.html (CC an ISO code or unattributed), any of them "
        "with .chain, packages.manifest or packages.tar");
  }
  return key + "/" + std::string(file);
}

PackageSinkFactory MakeMemoryPackageSinks(
    std::map<std::string, std::string>* files,
    std::function<bool(const std::string& path)> keep) {
  return
      [files, keep = std::move(keep)](
          const std::string&,
          const std::string& path) -> Result<std::unique_ptr<PackageFileSink>> {
        return std::unique_ptr<PackageFileSink>(
            new MemorySink(path, keep(path) ? &(*files)[path] : nullptr));
      };
}

}  // namespace hl::coordinator
