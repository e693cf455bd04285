#include "common/history.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/verdict.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;

constexpr int64_t kDayMs = int64_t{86400} * 1000;

std::string Joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

std::string NetworkName(const pb::AddressInfo& a) {
  std::string name = "AS" + std::to_string(a.asn());
  if (!a.as_org().empty()) name += " " + a.as_org();
  return name;
}

// The takedown figures' name for the host of an online check.
std::string ProviderName(const Placement& p) {
  if (!p.provider.empty()) return p.provider;
  if (!p.networks.empty()) return p.networks.front();
  return "unknown";
}

void AddChange(std::string_view what, const std::vector<std::string>& from,
               const std::vector<std::string>& to,
               std::vector<Change>* changes) {
  if (from == to) return;
  changes->push_back({std::string(what), Joined(from), Joined(to)});
}

FastFlux FluxOf(std::span<const pb::Observation> checks,
                const HistorySettings& s) {
  std::set<std::string> ips, countries;
  std::set<uint32_t> asns;
  FastFlux f;
  for (const pb::Observation& obs : checks) {
    const auto& answer = obs.dns().addresses();
    f.max_answer_addresses =
        std::max<uint32_t>(f.max_answer_addresses, answer.size());
    for (const pb::DnsAddress& a : answer) {
      ips.insert(a.ip());
      if (f.min_ttl_s < 0 || a.ttl() < f.min_ttl_s) f.min_ttl_s = a.ttl();
    }
    for (const pb::AddressInfo& a : obs.addresses()) {
      if (a.asn() != 0) asns.insert(a.asn());
      if (!a.country().empty()) countries.insert(a.country());
    }
  }
  f.distinct_addresses = static_cast<uint32_t>(ips.size());
  f.networks = static_cast<uint32_t>(asns.size());
  f.countries = static_cast<uint32_t>(countries.size());
  const bool low_ttl = f.min_ttl_s >= 0 && f.min_ttl_s <= s.flux_max_ttl_s;
  const bool many_across = f.distinct_addresses >= s.flux_min_addresses;
  const bool many_in_one =
      f.max_answer_addresses >= s.flux_min_answer_addresses;
  const bool many_networks = f.networks >= s.flux_min_networks;
  const bool many_countries = f.countries >= s.flux_min_countries;
  f.suspected = low_ttl && (many_across || many_in_one) &&
                (many_networks || many_countries);
  const auto limit = [](uint32_t v) {
    return " (threshold " + std::to_string(v) + ")";
  };
  if (low_ttl) {
    f.evidence.push_back("lowest TTL " + std::to_string(f.min_ttl_s) +
                         " s (threshold " + std::to_string(s.flux_max_ttl_s) +
                         " s)");
  }
  if (many_across) {
    f.evidence.push_back(std::to_string(f.distinct_addresses) +
                         " distinct addresses across " +
                         std::to_string(checks.size()) + " checks" +
                         limit(s.flux_min_addresses));
  }
  if (many_in_one) {
    f.evidence.push_back(std::to_string(f.max_answer_addresses) +
                         " addresses in one answer" +
                         limit(s.flux_min_answer_addresses));
  }
  if (many_networks) {
    std::vector<std::string> names;
    for (uint32_t asn : asns) names.push_back("AS" + std::to_string(asn));
    f.evidence.push_back(std::to_string(f.networks) + " networks: " +
                         Joined(names) + limit(s.flux_min_networks));
  }
  if (many_countries) {
    const std::vector<std::string> names(countries.begin(), countries.end());
    f.evidence.push_back(std::to_string(f.countries) + " countries: " +
                         Joined(names) + limit(s.flux_min_countries));
  }
  return f;
}

// Nearest rank: the smallest value with at least `p` of them at or below.
int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return -1;
  size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()));
  if (static_cast<double>(rank) < p * static_cast<double>(sorted.size())) {
    ++rank;
  }
  return sorted[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

std::string_view CheckStateName(CheckState state) {
  switch (state) {
    case CheckState::kOnline:
      return "online";
    case CheckState::kDown:
      return "down";
    case CheckState::kUnreachable:
      break;
  }
  return "unreachable";
}

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kOnline:
      return "online";
    case EventKind::kMoved:
      return "moved";
    case EventKind::kDown:
      return "down";
    case EventKind::kBackUp:
      break;
  }
  return "back_up";
}

CheckClass ClassifyCheck(const pb::Observation& obs) {
  const FinalHop hop = FinalHopOf(obs);
  const int status = hop.http.status();
  if (status > 0) {
    const bool gone = status == 404 || status == 410;
    return {gone ? CheckState::kDown : CheckState::kOnline,
            "http_" + std::to_string(status)};
  }
  const std::string& dns_error = hop.dns.error().error_class();
  if (hop.addresses.empty() && hop.dns.addresses().empty() &&
      (dns_error == "nxdomain" || dns_error == "no_address")) {
    return {CheckState::kDown, dns_error};
  }
  const std::string& http_error = hop.http.error().error_class();
  if (http_error == "connection_refused")
    return {CheckState::kDown, http_error};
  if (!hop.has_http && obs.status() == "located") {
    return {CheckState::kOnline, "resolved"};
  }
  for (const std::string* cls :
       {&http_error, &dns_error, &obs.error().error_class()}) {
    if (!cls->empty()) return {CheckState::kUnreachable, *cls};
  }
  return {CheckState::kUnreachable, "unknown"};
}

Placement PlacementOf(const pb::Observation& obs) {
  Placement p;
  p.countries.assign(obs.verdict().hosting_countries().begin(),
                     obs.verdict().hosting_countries().end());
  const FinalHop hop = FinalHopOf(obs);
  std::set<std::string> networks;
  const auto add = [&](const pb::AddressInfo& a) {
    if (a.asn() != 0) networks.insert(NetworkName(a));
  };
  if (hop.http.status() > 0) {
    const pb::AddressInfo* answered =
        FindAddress(hop.addresses, AnsweringIp(hop.http, hop.pinned_ip));
    if (answered != nullptr) add(*answered);
  } else {
    for (const pb::AddressInfo& a : hop.addresses) add(a);
  }
  p.networks.assign(networks.begin(), networks.end());
  if (!obs.providers().empty()) p.provider = obs.providers(0).name();
  return p;
}

std::vector<StaleSource> StaleData(const pb::Observation& obs,
                                   const HistorySettings& settings) {
  std::vector<StaleSource> stale;
  for (const pb::DataSource& d : obs.data_sources()) {
    uint32_t max_days = 0;
    if (d.role() == "country" || d.role() == "city") {
      max_days = settings.geo_max_age_days;
    } else if (d.role() == "asn") {
      max_days = settings.asn_max_age_days;
    } else if (d.role() == "providers") {
      max_days = settings.providers_max_age_days;
    } else {
      continue;
    }
    if (d.build_epoch() <= 0) continue;
    const int64_t built = d.build_epoch() * 1000;
    const int64_t age = obs.checked_at_unix_ms() - built;
    if (age <= int64_t{max_days} * kDayMs) continue;
    stale.push_back({d.role(), built, age / kDayMs, max_days});
  }
  return stale;
}

std::string StaleWarning(const StaleSource& stale) {
  const bool providers = stale.role == "providers";
  const std::string kind = stale.role == "asn" ? "ASN data"
                           : providers         ? "provider signatures"
                                               : "geolocation data";
  return "warning: " + kind + " (" + stale.role + ") was " +
         std::to_string(stale.age_days) + " days old at the check (limit " +
         std::to_string(stale.max_age_days) + " days): " +
         (providers ? "update config/providers.toml"
                    : "run scripts/fetch-geodata.sh");
}

HistorySummary AnalyseHistory(std::span<const pb::Observation> checks,
                              const HistorySettings& settings) {
  HistorySummary h;
  h.checks = static_cast<uint32_t>(checks.size());
  Placement last_place;
  bool seen_online = false;
  int64_t stretch_start = 0;  // of the current stretch online
  for (uint32_t i = 0; i < checks.size(); ++i) {
    const pb::Observation& obs = checks[i];
    const int64_t at = obs.checked_at_unix_ms();
    const CheckClass c = ClassifyCheck(obs);
    if (c.state == CheckState::kUnreachable) {
      ++h.unreachable;
      continue;
    }
    const CheckState before = h.state;
    h.state = c.state;
    if (c.state == CheckState::kDown) {
      if (before == CheckState::kDown) continue;
      ++h.downs;
      h.events.push_back({EventKind::kDown, at, i, c.reason, {}});
      h.down_since_ms = at;
      h.online_since_ms = 0;
      if (before == CheckState::kOnline) {
        h.online_ms += at - stretch_start;
        if (h.time_to_takedown_ms < 0) {
          h.time_to_takedown_ms = at - h.first_seen_online_ms;
        }
      }
      continue;
    }
    Placement place = PlacementOf(obs);
    if (!seen_online) {
      seen_online = true;
      h.first_seen_online_ms = at;
      h.events.push_back({EventKind::kOnline, at, i, c.reason, {}});
    } else {
      std::vector<Change> changes;
      AddChange("country", last_place.countries, place.countries, &changes);
      AddChange("network", last_place.networks, place.networks, &changes);
      if (last_place.provider != place.provider) {
        changes.push_back({"provider", last_place.provider, place.provider});
      }
      if (before == CheckState::kDown) {
        ++h.back_ups;
        h.events.push_back({EventKind::kBackUp, at, i, c.reason, {}});
      }
      if (!changes.empty()) {
        ++h.moves;
        h.events.push_back({EventKind::kMoved, at, i, "", std::move(changes)});
      }
    }
    if (before != CheckState::kOnline) {
      stretch_start = at;
      h.online_since_ms = at;
      h.down_since_ms = 0;
    }
    h.last_seen_online_ms = at;
    last_place = std::move(place);
  }
  if (h.state == CheckState::kOnline) {
    h.online_ms += h.last_seen_online_ms - stretch_start;
  }
  if (seen_online) h.provider = ProviderName(last_place);
  h.fast_flux = FluxOf(checks, settings);
  if (!checks.empty()) h.stale_data = StaleData(checks.back(), settings);
  return h;
}

std::vector<ProviderTakedown> TakedownByProvider(
    std::span<const HistorySummary> summaries) {
  struct Acc {
    ProviderTakedown figures;
    std::vector<int64_t> times;
  };
  std::map<std::string, Acc> by_provider;
  for (const HistorySummary& h : summaries) {
    if (h.provider.empty()) continue;  // never seen online
    Acc& acc = by_provider[h.provider];
    ++acc.figures.urls;
    if (h.time_to_takedown_ms >= 0) {
      ++acc.figures.taken_down;
      acc.times.push_back(h.time_to_takedown_ms);
    }
    if (h.state == CheckState::kOnline) ++acc.figures.still_online;
  }
  std::vector<ProviderTakedown> out;
  for (auto& [name, acc] : by_provider) {
    std::sort(acc.times.begin(), acc.times.end());
    acc.figures.provider = name;
    acc.figures.median_ms = Percentile(acc.times, 0.5);
    acc.figures.p90_ms = Percentile(acc.times, 0.9);
    out.push_back(std::move(acc.figures));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.urls > b.urls;
  });
  return out;
}

}  // namespace hl
