#include "common/referral.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <utility>

#include "common/digest.h"
#include "common/jurisdiction.h"
#include "common/protocol.h"
#include "common/toml_reader.h"
#include "common/verdict.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using toml_reader::Quoted;
using toml_reader::Reader;

constexpr std::array<std::string_view, 3> kKinds = {"hotline", "police",
                                                    "interpol"};

constexpr std::string_view kProviderSource =
    "the provider signatures (providers.file)";

bool NonEmpty(std::string_view s) { return !s.empty(); }

bool IsHttpUrl(std::string_view s) {
  return s.starts_with("https://") || s.starts_with("http://");
}

Status ReadEntry(const Reader& r, const toml::node& node,
                 const std::string& path, bool fallback, ReferralEntry* out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return r.WrongType(
        node, path, fallback ? "a table ([fallback])" : "a table ([[target]])");
  }
  ReferralEntry e;
  if (fallback) e.kind = "interpol";
  auto text = [&r](std::string_view expected, bool (*valid)(std::string_view),
                   std::string* field) {
    return [&r, expected, valid, field](const toml::node& n,
                                        const std::string& p) {
      return r.String(n, p, expected, valid, field);
    };
  };
  std::vector<toml_reader::Field> fields = {
      {"name", text("a non-empty string", NonEmpty, &e.name)},
      {"website", text("an http:// or https:// URL", IsHttpUrl, &e.website)},
      {"email", text("a non-empty string", NonEmpty, &e.email)},
      {"phone", text("a non-empty string", NonEmpty, &e.phone)},
      {"source", text("a non-empty string", NonEmpty, &e.source)},
      {"verified_on", [&](const toml::node& n, const std::string& p) {
         if (n.is_string() && n.value<std::string>() == "unverified") {
           e.verified_on.clear();
           return Status::Ok();
         }
         if (!n.is_date()) {
           return r.WrongType(n, p,
                              "a date such as 2026-11-29, or \"unverified\"");
         }
         return r.Date(n, p, &e.verified_on);
       }}};
  std::vector<std::string_view> required = {"name", "source", "verified_on"};
  if (!fallback) {
    fields.push_back({"country", text("an ISO 3166-1 alpha-2 code in upper "
                                      "case, e.g. \"DE\"",
                                      IsCountryCode, &e.country)});
    fields.push_back({"kind", text(
                                  "one of hotline, police, interpol",
                                  [](std::string_view s) {
                                    return std::find(kKinds.begin(),
                                                     kKinds.end(),
                                                     s) != kKinds.end();
                                  },
                                  &e.kind)});
    required.push_back("country");
    required.push_back("kind");
  }
  HL_RETURN_IF_ERROR(
      r.Fields(*table, path, fallback ? "[fallback]" : "[[target]]", fields));
  for (std::string_view key : required) {
    if (!table->contains(key)) {
      return InvalidArgument(r.Where(table->source()) + "missing key " +
                             Quoted(path + "." + std::string(key)));
    }
  }
  *out = std::move(e);
  return Status::Ok();
}

// Whether `j` already names the target (kind, name, country, route).
bool Has(const pb::Jurisdiction& j, std::string_view kind,
         std::string_view name, std::string_view country,
         std::string_view route) {
  for (const pb::ReferralTarget& have : j.referrals()) {
    if (have.kind() == kind && have.name() == name &&
        have.country() == country && have.route() == route) {
      return true;
    }
  }
  return false;
}

void Add(pb::Jurisdiction* j, pb::ReferralTarget t) {
  if (Has(*j, t.kind(), t.name(), t.country(), t.route())) return;
  *j->add_referrals() = std::move(t);
}

// Adds the directory entry `e` as a target for `country` by `route` (as
// Add, written in place).
void AddEntry(pb::Jurisdiction* j, const ReferralEntry& e,
              std::string_view country, std::string_view route) {
  if (Has(*j, e.kind, e.name, country, route)) return;
  pb::ReferralTarget& t = *j->add_referrals();
  t.set_country(std::string(country));
  t.set_kind(e.kind);
  t.set_route(std::string(route));
  t.set_name(e.name);
  t.set_website(e.website);
  t.set_email(e.email);
  t.set_phone(e.phone);
  t.set_source(e.source);
  t.set_verified_on(e.verified_on);
}

// The directory's targets of `kind` for `country`.
std::vector<const ReferralEntry*> Entries(const ReferralDirectory& d,
                                          std::string_view country,
                                          std::string_view kind) {
  std::vector<const ReferralEntry*> found;
  for (const ReferralEntry& e : d.targets) {
    if (e.country == country && e.kind == kind) found.push_back(&e);
  }
  return found;
}

// A provider as a target; `abuse` (an e-mail address or a URL) as the
// provider signatures give it.
void AddProvider(pb::Jurisdiction* j, std::string name, std::string country,
                 const std::string& abuse, std::string_view source) {
  pb::ReferralTarget t;
  t.set_country(std::move(country));
  t.set_kind("provider");
  t.set_route("provider");
  t.set_name(std::move(name));
  (abuse.find('@') != std::string::npos ? t.mutable_email()
                                        : t.mutable_website())
      ->assign(abuse);
  t.set_source(std::string(source));
  Add(j, std::move(t));
}

// The hosting provider of a domestic case: the providers recognised, else
// the AS organisation of the address that answered.
void AddHostingProviders(const pb::Observation& obs, pb::Jurisdiction* j) {
  bool any = false;
  for (const pb::ProviderMatch& p : obs.providers()) {
    if (p.category() == "cdn" || p.category() == "waf") continue;
    AddProvider(j, p.name(), p.country(), p.abuse(), kProviderSource);
    any = true;
  }
  if (any) return;
  const pb::AddressInfo* a = AnsweringAddress(FinalHopOf(obs));
  if (a != nullptr && a->asn() != 0) {
    AddProvider(j,
                "AS" + std::to_string(a->asn()) +
                    (a->as_org().empty() ? "" : " " + a->as_org()) +
                    " (network of " + a->ip() + ")",
                a->rdap_country(), "",
                "the ASN database (the AS of the address that answered)");
  }
}

void RouteCountry(const ReferralRouting& routing, const std::string& country,
                  std::string_view route, pb::Jurisdiction* j) {
  const ReferralDirectory& d = routing.directory;
  if (country == routing.home_country) {
    std::vector<const ReferralEntry*> police = Entries(d, country, "police");
    for (const ReferralEntry* e : police) AddEntry(j, *e, country, route);
    if (police.empty()) {
      ReferralEntry unknown;
      unknown.kind = "police";
      unknown.name =
          "national police of " + country + " (not in the referral directory)";
      AddEntry(j, unknown, country, route);
    }
    return;
  }
  for (std::string_view kind : {"hotline", "police", "interpol"}) {
    std::vector<const ReferralEntry*> found = Entries(d, country, kind);
    for (const ReferralEntry* e : found) AddEntry(j, *e, country, route);
    if (!found.empty()) return;
  }
  AddEntry(j, d.fallback, country, route);
}

}  // namespace

Result<ReferralDirectory> ParseReferralDirectory(std::string_view toml_text,
                                                 const std::string& origin) {
  Result<toml::table> parsed = toml_reader::ParseText(toml_text, origin);
  if (!parsed.ok()) return parsed.status();
  const std::string no_base_dir;
  Reader r(origin, no_base_dir);
  ReferralDirectory d;
  HL_RETURN_IF_ERROR(r.Fields(
      *parsed, "", "the top level",
      {{"verified",
        [&](const toml::node& n, const std::string& path) {
          return r.Bool(n, path, &d.verified);
        }},
       {"fallback",
        [&](const toml::node& n, const std::string& path) {
          return ReadEntry(r, n, path, true, &d.fallback);
        }},
       {"target", [&](const toml::node& n, const std::string& path) {
          return r.Array(n, path, "an array of tables ([[target]])",
                         [&](const toml::node& item, const std::string& p) {
                           ReferralEntry e;
                           HL_RETURN_IF_ERROR(ReadEntry(r, item, p, false, &e));
                           d.targets.push_back(std::move(e));
                           return Status::Ok();
                         });
        }}}));
  for (std::string_view key : {"verified", "fallback"}) {
    if (!parsed->contains(key)) {
      return InvalidArgument(origin + ": missing key " + Quoted(key));
    }
  }
  return d;
}

Result<ReferralDirectory> LoadReferralFile(const std::string& path) {
  Result<std::string> text =
      toml_reader::ReadFile(path, "the referral directory");
  if (!text.ok()) return text.status();
  Result<ReferralDirectory> d = ParseReferralDirectory(*text, path);
  if (!d.ok()) return d;
  d->path = path;
  d->sha256 = Sha256Hex(*text);
  return d;
}

void RouteReferrals(const ReferralRouting& routing, pb::Observation* obs) {
  pb::Verdict* verdict = obs->mutable_verdict();
  pb::Jurisdiction* j = verdict->mutable_jurisdiction();
  j->clear_referrals();
  j->set_home_country(routing.home_country);
  j->set_directory_unverified(!routing.directory.verified);
  std::string warning;
  if (!routing.directory.verified) {
    warning = "the referral directory" +
              (routing.directory.path.empty() ? std::string()
                                              : " " + routing.directory.path) +
              " is not verified by an operator: check each target before "
              "referring";
  }
  if (routing.home_country.empty()) {
    if (!warning.empty()) warning += "; ";
    warning +=
        "the hotline's own country is not set (referral.home_country): "
        "every country is routed as foreign";
  }
  j->set_referral_warning(warning);

  for (const std::string& c : j->primary_countries()) {
    RouteCountry(routing, c, "primary", j);
  }
  if (j->attribution() == "origin_hidden") {
    auto front =
        std::find_if(obs->providers().begin(), obs->providers().end(),
                     [](const pb::ProviderMatch& p) {
                       return p.category() == "cdn" || p.category() == "waf";
                     });
    if (front != obs->providers().end()) {
      AddProvider(j, front->name(), front->country(), front->abuse(),
                  kProviderSource);
    }
  } else if (std::find(j->primary_countries().begin(),
                       j->primary_countries().end(),
                       routing.home_country) != j->primary_countries().end()) {
    AddHostingProviders(*obs, j);
  }
  for (const pb::SecondaryJurisdiction& s : j->secondary()) {
    if (s.role() != "redirector" || s.country().empty()) continue;
    if (std::find(j->primary_countries().begin(), j->primary_countries().end(),
                  s.country()) != j->primary_countries().end()) {
      continue;
    }
    RouteCountry(routing, s.country(), "redirector", j);
  }
  if (!warning.empty() &&
      std::find(verdict->reasons().begin(), verdict->reasons().end(),
                "warning: " + warning) == verdict->reasons().end()) {
    verdict->add_reasons("warning: " + warning);
  }
}

namespace {

using google::protobuf::internal::WireFormatLite;

// One field of a serialized message: its bytes [begin, end), and for a
// length-delimited field the payload [payload, end).
struct WireField {
  int number = 0;
  bool delimited = false;
  size_t begin = 0;
  size_t payload = 0;
  size_t end = 0;
};

Result<std::vector<WireField>> WireFields(std::string_view bytes) {
  std::vector<WireField> fields;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  in.PushLimit(static_cast<int>(bytes.size()));
  while (in.BytesUntilLimit() > 0) {
    WireField f;
    f.begin = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    f.number = WireFormatLite::GetTagFieldNumber(tag);
    f.delimited = WireFormatLite::GetTagWireType(tag) ==
                  WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    uint32_t length = 0;
    // 0: a malformed tag (field number 0 is not a field either).
    const bool ok =
        tag != 0 && (f.delimited ? in.ReadVarint32(&length) &&
                                       in.Skip(static_cast<int>(length))
                                 : WireFormatLite::SkipField(&in, tag));
    if (!ok) return InvalidArgument("undecodable observation");
    f.end = static_cast<size_t>(in.CurrentPosition());
    f.payload = f.delimited ? f.end - length : f.end;
    fields.push_back(f);
  }
  return fields;
}

// The one delimited field `number` of `fields`; nullptr when there is none
// or more than one.
const WireField* OnlyField(const std::vector<WireField>& fields, int number) {
  const WireField* found = nullptr;
  for (const WireField& f : fields) {
    if (f.number != number) continue;
    if (found != nullptr || !f.delimited) return nullptr;
    found = &f;
  }
  return found;
}

// Appends the length-delimited field `number` holding `payload`.
void AppendDelimited(int number, std::string_view payload, std::string* out) {
  uint8_t header[16];
  uint8_t* end = WireFormatLite::WriteTagToArray(
      number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, header);
  end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(payload.size()), end);
  out->append(reinterpret_cast<const char*>(header), end - header);
  out->append(payload);
}

}  // namespace

Result<StorageSplit> SplitForStorage(std::string_view observation) {
  if (observation.size() > kMaxMessageBytes) {
    return InvalidArgument("observation exceeds the message limit");
  }
  StorageSplit split;
  // Appends observation[begin, end) to `pieces`, joining it to the last
  // piece when they touch.
  const auto add = [&](std::vector<std::string_view>* pieces, size_t begin,
                       size_t end) {
    if (begin == end) return;
    if (!pieces->empty() && pieces->back().data() + pieces->back().size() ==
                                observation.data() + begin) {
      pieces->back() = std::string_view(pieces->back().data(),
                                        pieces->back().size() + end - begin);
      return;
    }
    pieces->push_back(observation.substr(begin, end - begin));
  };
  // The top level: the data sources apart, and the verdict's place.
  size_t verdict_begin = 0, verdict_end = 0;
  int verdicts = 0;
  bool verdict_delimited = false;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(observation.data()),
      static_cast<int>(observation.size()));
  in.PushLimit(static_cast<int>(observation.size()));
  while (in.BytesUntilLimit() > 0) {
    const size_t begin = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    // 0: a malformed tag (field number 0 is not a field either).
    if (tag == 0 || !WireFormatLite::SkipField(&in, tag)) {
      return InvalidArgument("undecodable observation");
    }
    const size_t end = static_cast<size_t>(in.CurrentPosition());
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const bool delimited = WireFormatLite::GetTagWireType(tag) ==
                           WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (number == pb::Observation::kVerdictFieldNumber) {
      ++verdicts;
      verdict_delimited = delimited;
      verdict_begin = begin;
      verdict_end = end;
    }
    add(number == pb::Observation::kDataSourcesFieldNumber && delimited
            ? &split.data_sources
            : &split.rest,
        begin, end);
  }
  if (verdicts != 1 || !verdict_delimited) return split;

  // The one verdict, and in it the one jurisdiction: cut its referral
  // fields.
  auto in_field = WireFields(
      observation.substr(verdict_begin, verdict_end - verdict_begin));
  if (!in_field.ok()) return in_field.status();
  const std::string_view verdict_bytes = observation.substr(
      verdict_begin + in_field->front().payload,
      verdict_end - verdict_begin - in_field->front().payload);
  auto in_verdict = WireFields(verdict_bytes);
  if (!in_verdict.ok()) return in_verdict.status();
  const WireField* jurisdiction =
      OnlyField(*in_verdict, pb::Verdict::kJurisdictionFieldNumber);
  if (jurisdiction == nullptr) return split;
  const std::string_view jurisdiction_bytes = verdict_bytes.substr(
      jurisdiction->payload, jurisdiction->end - jurisdiction->payload);
  auto in_jurisdiction = WireFields(jurisdiction_bytes);
  if (!in_jurisdiction.ok()) return in_jurisdiction.status();
  std::string kept;
  for (const WireField& f : *in_jurisdiction) {
    const bool cut = f.number == pb::Jurisdiction::kReferralsFieldNumber ||
                     f.number == pb::Jurisdiction::kReferralWarningFieldNumber;
    (cut ? split.referrals : kept)
        .append(jurisdiction_bytes.substr(f.begin, f.end - f.begin));
  }
  if (split.referrals.empty()) return split;
  std::string new_verdict(verdict_bytes.substr(0, jurisdiction->begin));
  AppendDelimited(pb::Verdict::kJurisdictionFieldNumber, kept, &new_verdict);
  new_verdict.append(verdict_bytes.substr(jurisdiction->end));
  split.verdict = std::make_unique<std::string>();
  AppendDelimited(pb::Observation::kVerdictFieldNumber, new_verdict,
                  split.verdict.get());
  // The rest again, the rewritten verdict in the old one's place.
  std::vector<std::string_view> rest;
  rest.reserve(split.rest.size() + 2);
  for (std::string_view piece : split.rest) {
    const size_t begin = static_cast<size_t>(piece.data() - observation.data());
    const size_t end = begin + piece.size();
    if (verdict_begin < begin || verdict_end > end) {
      rest.push_back(piece);
      continue;
    }
    add(&rest, begin, verdict_begin);
    rest.push_back(*split.verdict);
    add(&rest, verdict_end, end);
  }
  split.rest = std::move(rest);
  return split;
}

}  // namespace hl
