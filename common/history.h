// The history of one URL: what its checks (oldest first) say about where it
// was hosted, when it was online, when it moved and when it went down; a
// fast-flux indicator; data older than the configured age. Pure: every
// time comes from the observations (checked_at_unix_ms, data_sources), so
// tests inject time through them.
//
// A check is (ClassifyCheck, on the final hop of its redirect chain):
// - down: the name is gone (DNS nxdomain, or no_address: the name exists
//   without any A/AAAA record), the address refused the connection
//   (connection_refused), or the final answer is HTTP 404 or 410;
// - online: HTTP answered with any other status, or (DNS-only checks, no
//   HTTP sent) the name resolved to an address;
// - unreachable: anything else (timeouts, SERVFAIL, REFUSED, TLS or
//   protocol errors, private targets, .onion). An unreachable check says
//   nothing either way: it neither ends nor starts a stretch online or
//   down, and raises no event.
// Events (AnalyseHistory): "online" at the first online check; "moved" at
// an online check whose placement (hosting countries, networks of the
// deciding addresses, strongest provider) differs from the previous online
// check's, with each change from -> to; "down" at the first down check of
// a stretch (also when the URL was never seen online); "back_up" at the
// first online check after a down stretch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/hostlocator.pb.h"

namespace hl {

// Config [history] (config/hostlocator.toml documents each default).
struct HistorySettings {
  // Fast flux is suspected when the lowest TTL is at most flux_max_ttl_s,
  // and the addresses are many (flux_min_addresses distinct ones across the
  // checks, or flux_min_answer_addresses in one answer), and they lie in
  // many networks (flux_min_networks distinct ASNs) or countries
  // (flux_min_countries).
  uint32_t flux_min_addresses = 10;
  uint32_t flux_min_answer_addresses = 5;
  uint32_t flux_max_ttl_s = 300;
  uint32_t flux_min_networks = 3;
  uint32_t flux_min_countries = 3;
  // A data source older than this (days) at the time of a check is stale:
  // geolocation (roles country and city), ASN, provider signatures.
  uint32_t geo_max_age_days = 30;
  uint32_t asn_max_age_days = 30;
  uint32_t providers_max_age_days = 90;

  friend bool operator==(const HistorySettings&,
                         const HistorySettings&) = default;
};

enum class CheckState { kOnline, kDown, kUnreachable };
// "online" | "down" | "unreachable".
std::string_view CheckStateName(CheckState state);

struct CheckClass {
  CheckState state = CheckState::kUnreachable;
  // What decided: "http_200" (the final status), "http_404", "http_410",
  // "resolved" (DNS-only), or the error class ("nxdomain",
  // "connection_refused", "dns_timeout", ...); "unknown" when none is set.
  std::string reason;
};
CheckClass ClassifyCheck(const hostlocator::v1::Observation& obs);

// Where an online check found the URL.
struct Placement {
  std::vector<std::string> countries;  // verdict.hosting_countries
  // "AS64500 Org" (or "AS64500") of the deciding addresses of the final
  // hop (the one that answered HTTP, else all resolved), sorted, unique.
  std::vector<std::string> networks;
  std::string provider;  // the strongest provider recognised; "" none
  friend bool operator==(const Placement&, const Placement&) = default;
};
Placement PlacementOf(const hostlocator::v1::Observation& obs);

enum class EventKind { kOnline, kMoved, kDown, kBackUp };
// "online" | "moved" | "down" | "back_up".
std::string_view EventKindName(EventKind kind);

struct Change {
  std::string what;  // "country" | "network" | "provider"
  std::string from;  // the values joined with ", "; "" none
  std::string to;
  friend bool operator==(const Change&, const Change&) = default;
};

struct HistoryEvent {
  EventKind kind = EventKind::kOnline;
  int64_t at_ms = 0;
  uint32_t check = 0;           // index into the checks
  std::string reason;           // down: its CheckClass reason
  std::vector<Change> changes;  // moved: what changed
};

struct FastFlux {
  bool suspected = false;
  uint32_t distinct_addresses = 0;    // across every check's DNS answer
  uint32_t max_answer_addresses = 0;  // in one answer
  int64_t min_ttl_s = -1;             // -1: no answer seen
  uint32_t networks = 0;              // distinct ASNs of the addresses
  uint32_t countries = 0;             // distinct countries of the addresses
  // One English sentence per signal that reached its threshold.
  std::vector<std::string> evidence;
};

// A data source older than its maximum age at the time of the check.
struct StaleSource {
  std::string role;  // "country", "city", "asn", "providers"
  int64_t build_unix_ms = 0;
  int64_t age_days = 0;  // whole days from build to check
  uint32_t max_age_days = 0;
};
// The stale sources of one check; a source without a date (build_epoch 0)
// or of an unknown role is not judged.
std::vector<StaleSource> StaleData(const hostlocator::v1::Observation& obs,
                                   const HistorySettings& settings);
// "warning: ASN data (asn) was 45 days old at the check (limit 30 days)".
std::string StaleWarning(const StaleSource& stale);

struct HistorySummary {
  uint32_t checks = 0;
  // The latest conclusive state (unreachable checks keep the one before);
  // unreachable when no check was conclusive.
  CheckState state = CheckState::kUnreachable;
  // 0 = none.
  int64_t first_seen_online_ms = 0;
  int64_t last_seen_online_ms = 0;
  int64_t online_since_ms = 0;  // start of the current stretch online
  int64_t down_since_ms = 0;    // start of the current stretch down
  // Observed time online: each stretch from its first online check to the
  // check that found it down, or to its last online check while it lasts.
  int64_t online_ms = 0;
  // From the first online check to the first down check after it; -1 when
  // the URL was never seen online and then down.
  int64_t time_to_takedown_ms = -1;
  uint32_t moves = 0;
  uint32_t downs = 0;
  uint32_t back_ups = 0;
  uint32_t unreachable = 0;
  // Who hosted it, for takedown figures: the strongest provider of the
  // last online check, else its first network, else "unknown"; "" when
  // never seen online.
  std::string provider;
  std::vector<HistoryEvent> events;
  FastFlux fast_flux;
  std::vector<StaleSource> stale_data;  // of the latest check
};

// `checks` oldest first (Store::History order).
HistorySummary AnalyseHistory(
    std::span<const hostlocator::v1::Observation> checks,
    const HistorySettings& settings);

// Time to takedown of the URLs one provider hosted.
struct ProviderTakedown {
  std::string provider;
  uint64_t urls = 0;          // seen online
  uint64_t taken_down = 0;    // with a time to takedown
  uint64_t still_online = 0;  // online at their latest conclusive check
  // Nearest-rank percentiles of the times to takedown; -1 when none.
  int64_t median_ms = -1;
  int64_t p90_ms = -1;
};
// One entry per provider of the summaries seen online (a URL back up after
// a takedown counts as taken down and as still online), most URLs first,
// then by name.
std::vector<ProviderTakedown> TakedownByProvider(
    std::span<const HistorySummary> summaries);

}  // namespace hl
