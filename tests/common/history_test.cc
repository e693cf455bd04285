#include "common/history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'800'000'000'000;  // 2027-01-15, injected
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;

struct Host {
  std::string ip = "203.0.113.7";
  std::string country = "DE";
  uint32_t asn = 64500;
  std::string org = "Example GmbH";
  std::string provider;  // "" none
};

void AddAddress(const Host& h, uint32_t ttl, pb::Observation* obs) {
  auto* d = obs->mutable_dns()->add_addresses();
  d->set_ip(h.ip);
  d->set_ttl(ttl);
  auto* a = obs->add_addresses();
  a->set_ip(h.ip);
  a->set_country(h.country);
  a->set_asn(h.asn);
  a->set_as_org(h.org);
}

// A check that HTTP answered with `status` from `h`.
pb::Observation Answered(int64_t at, int status, const Host& h = {},
                         uint32_t ttl = 3600) {
  pb::Observation obs;
  obs.set_url("http://www.example.com/");
  obs.set_checked_at_unix_ms(at);
  obs.set_status("located");
  AddAddress(h, ttl, &obs);
  obs.set_pinned_ip(h.ip);
  obs.mutable_http()->set_status(status);
  obs.mutable_http()->set_connected_ip(h.ip);
  obs.mutable_verdict()->add_hosting_countries(h.country);
  if (!h.provider.empty()) obs.add_providers()->set_name(h.provider);
  return obs;
}
pb::Observation Online(int64_t at, const Host& h = {}) {
  return Answered(at, 200, h);
}
pb::Observation DnsFailed(int64_t at, const std::string& cls) {
  pb::Observation obs;
  obs.set_checked_at_unix_ms(at);
  obs.set_status("unresolved");
  obs.mutable_dns()->mutable_error()->set_error_class(cls);
  obs.mutable_error()->set_error_class(cls);
  return obs;
}
pb::Observation HttpFailed(int64_t at, const std::string& cls) {
  pb::Observation obs = Answered(at, 0);
  obs.mutable_http()->clear_connected_ip();
  obs.mutable_http()->mutable_error()->set_error_class(cls);
  return obs;
}
pb::Observation Nx(int64_t at) { return DnsFailed(at, "nxdomain"); }
pb::Observation Refused(int64_t at) {
  return HttpFailed(at, "connection_refused");
}
pb::Observation Timeout(int64_t at) { return HttpFailed(at, "http_timeout"); }

const Host kNl{"198.51.100.9", "NL", 64501, "Voorbeeld BV", ""};
const Host kDeOtherAs{"203.0.113.8", "DE", 64502, "Andere AG", ""};

// ------------------------------------------------------------ ClassifyCheck

struct ClassCase {
  std::string name;
  pb::Observation obs;
  CheckState state;
  std::string reason;
};

TEST(HistoryTest, ClassifiesChecks) {
  pb::Observation dns_only = Online(kT0);
  dns_only.clear_http();
  pb::Observation redirect_to_gone = Answered(kT0, 301);
  {
    pb::Hop* hop = redirect_to_gone.add_redirects();
    hop->mutable_http()->set_status(410);
  }
  pb::Observation redirect_to_nx = Answered(kT0, 302);
  redirect_to_nx.add_redirects()
      ->mutable_dns()
      ->mutable_error()
      ->set_error_class("nxdomain");
  pb::Observation onion;
  onion.set_status("unresolved");
  onion.mutable_error()->set_error_class("not_attributable");
  const std::vector<ClassCase> cases = {
      {"http 200", Online(kT0), CheckState::kOnline, "http_200"},
      {"http 403 is still online", Answered(kT0, 403), CheckState::kOnline,
       "http_403"},
      {"http 404", Answered(kT0, 404), CheckState::kDown, "http_404"},
      {"http 410", Answered(kT0, 410), CheckState::kDown, "http_410"},
      {"http 500 is online", Answered(kT0, 500), CheckState::kOnline,
       "http_500"},
      {"nxdomain", Nx(kT0), CheckState::kDown, "nxdomain"},
      {"no_address", DnsFailed(kT0, "no_address"), CheckState::kDown,
       "no_address"},
      {"servfail", DnsFailed(kT0, "servfail"), CheckState::kUnreachable,
       "servfail"},
      {"dns timeout", DnsFailed(kT0, "dns_timeout"), CheckState::kUnreachable,
       "dns_timeout"},
      {"refused", Refused(kT0), CheckState::kDown, "connection_refused"},
      {"http timeout", Timeout(kT0), CheckState::kUnreachable, "http_timeout"},
      {"tls error", HttpFailed(kT0, "tls_error"), CheckState::kUnreachable,
       "tls_error"},
      {"dns only", dns_only, CheckState::kOnline, "resolved"},
      {"redirect to 410", redirect_to_gone, CheckState::kDown, "http_410"},
      {"redirect to nxdomain", redirect_to_nx, CheckState::kDown, "nxdomain"},
      {"onion", onion, CheckState::kUnreachable, "not_attributable"},
      {"nothing set", pb::Observation(), CheckState::kUnreachable, "unknown"},
  };
  for (const auto& c : cases) {
    const CheckClass got = ClassifyCheck(c.obs);
    EXPECT_EQ(got.state, c.state) << c.name;
    EXPECT_EQ(got.reason, c.reason) << c.name;
  }
}

// ----------------------------------------------------------- AnalyseHistory

struct HistoryCase {
  std::string name;
  std::vector<pb::Observation> checks;
  std::string events;  // kinds joined with ','
  CheckState state;
  int64_t first_seen_online;  // 0 none
  int64_t online_since;
  int64_t down_since;
  int64_t online_ms;
  int64_t time_to_takedown;  // -1 none
  uint32_t moves;
  std::string provider;
};

std::string Kinds(const HistorySummary& h) {
  std::string out;
  for (const auto& e : h.events) {
    if (!out.empty()) out += ',';
    out += EventKindName(e.kind);
  }
  return out;
}

TEST(HistoryTest, AnalysesTheChecksOfOneUrl) {
  const int64_t t1 = kT0 + kHour, t2 = kT0 + 2 * kHour, t3 = kT0 + 3 * kHour,
                t4 = kT0 + 4 * kHour;
  const Host cdn{"192.0.2.1", "US", 13335, "Cloudflare, Inc.", "Cloudflare"};
  const std::string de = "AS64500 Example GmbH";
  const std::vector<HistoryCase> cases = {
      {"no checks", {}, "", CheckState::kUnreachable, 0, 0, 0, 0, -1, 0, ""},
      {"one online check",
       {Online(kT0)},
       "online",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       0,
       -1,
       0,
       de},
      {"online twice, same place",
       {Online(kT0), Online(t1)},
       "online",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       kHour,
       -1,
       0,
       de},
      {"moved country and network",
       {Online(kT0), Online(t1, kNl)},
       "online,moved",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       kHour,
       -1,
       1,
       "AS64501 Voorbeeld BV"},
      {"moved network only",
       {Online(kT0), Online(t1, kDeOtherAs)},
       "online,moved",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       kHour,
       -1,
       1,
       "AS64502 Andere AG"},
      {"moved behind a CDN",
       {Online(kT0), Online(t1, cdn)},
       "online,moved",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       kHour,
       -1,
       1,
       "Cloudflare"},
      {"taken down by nxdomain",
       {Online(kT0), Online(t1), Nx(t2)},
       "online,down",
       CheckState::kDown,
       kT0,
       0,
       t2,
       2 * kHour,
       2 * kHour,
       0,
       de},
      {"taken down by 410",
       {Online(kT0), Answered(t1, 410)},
       "online,down",
       CheckState::kDown,
       kT0,
       0,
       t1,
       kHour,
       kHour,
       0,
       de},
      {"taken down by 404",
       {Online(kT0), Answered(t3, 404)},
       "online,down",
       CheckState::kDown,
       kT0,
       0,
       t3,
       3 * kHour,
       3 * kHour,
       0,
       de},
      {"refused counts as down",
       {Online(kT0), Refused(t1)},
       "online,down",
       CheckState::kDown,
       kT0,
       0,
       t1,
       kHour,
       kHour,
       0,
       de},
      {"down twice is one event",
       {Online(kT0), Nx(t1), Nx(t2)},
       "online,down",
       CheckState::kDown,
       kT0,
       0,
       t1,
       kHour,
       kHour,
       0,
       de},
      {"timeout is unreachable, not down",
       {Online(kT0), Timeout(t1)},
       "online",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       0,
       -1,
       0,
       de},
      {"timeout between online checks keeps the stretch",
       {Online(kT0), Timeout(t1), Online(t2)},
       "online",
       CheckState::kOnline,
       kT0,
       kT0,
       0,
       2 * kHour,
       -1,
       0,
       de},
      {"timeout then down: down at the down check",
       {Online(kT0), Timeout(t1), Nx(t2)},
       "online,down",
       CheckState::kDown,
       kT0,
       0,
       t2,
       2 * kHour,
       2 * kHour,
       0,
       de},
      {"back up at the same place",
       {Online(kT0), Nx(t1), Online(t2)},
       "online,down,back_up",
       CheckState::kOnline,
       kT0,
       t2,
       0,
       kHour,
       kHour,
       0,
       de},
      {"back up elsewhere: moved too",
       {Online(kT0), Nx(t1), Online(t3, kNl)},
       "online,down,back_up,moved",
       CheckState::kOnline,
       kT0,
       t3,
       0,
       kHour,
       kHour,
       1,
       "AS64501 Voorbeeld BV"},
      {"down again after back up: first takedown kept",
       {Online(kT0), Nx(t1), Online(t2), Answered(t4, 410)},
       "online,down,back_up,down",
       CheckState::kDown,
       kT0,
       0,
       t4,
       kHour + 2 * kHour,
       kHour,
       0,
       de},
      {"down from the start: no takedown time",
       {Nx(kT0), Nx(t1)},
       "down",
       CheckState::kDown,
       0,
       0,
       kT0,
       0,
       -1,
       0,
       ""},
      {"down first, then online",
       {Nx(kT0), Online(t1)},
       "down,online",
       CheckState::kOnline,
       t1,
       t1,
       0,
       0,
       -1,
       0,
       de},
      {"only unreachable",
       {Timeout(kT0), DnsFailed(t1, "servfail")},
       "",
       CheckState::kUnreachable,
       0,
       0,
       0,
       0,
       -1,
       0,
       ""},
      {"moved twice then down",
       {Online(kT0), Online(t1, kNl), Online(t2), Nx(t3)},
       "online,moved,moved,down",
       CheckState::kDown,
       kT0,
       0,
       t3,
       3 * kHour,
       3 * kHour,
       2,
       de},
      {"unreachable first, then online",
       {Timeout(kT0), Online(t1), Online(t2)},
       "online",
       CheckState::kOnline,
       t1,
       t1,
       0,
       kHour,
       -1,
       0,
       de},
  };
  for (const auto& c : cases) {
    const HistorySummary h = AnalyseHistory(c.checks, HistorySettings{});
    EXPECT_EQ(h.checks, c.checks.size()) << c.name;
    EXPECT_EQ(Kinds(h), c.events) << c.name;
    EXPECT_EQ(h.state, c.state) << c.name;
    EXPECT_EQ(h.first_seen_online_ms, c.first_seen_online) << c.name;
    EXPECT_EQ(h.online_since_ms, c.online_since) << c.name;
    EXPECT_EQ(h.down_since_ms, c.down_since) << c.name;
    EXPECT_EQ(h.online_ms, c.online_ms) << c.name;
    EXPECT_EQ(h.time_to_takedown_ms, c.time_to_takedown) << c.name;
    EXPECT_EQ(h.moves, c.moves) << c.name;
    EXPECT_EQ(h.provider, c.provider) << c.name;
  }
}

TEST(HistoryTest, MovedSaysFromWhatToWhat) {
  const std::vector<pb::Observation> checks = {Online(kT0),
                                               Online(kT0 + kHour, kNl)};
  const HistorySummary h = AnalyseHistory(checks, {});
  ASSERT_EQ(h.events.size(), 2u);
  const HistoryEvent& moved = h.events[1];
  EXPECT_EQ(moved.at_ms, kT0 + kHour);
  EXPECT_EQ(moved.check, 1u);
  EXPECT_THAT(moved.changes,
              ElementsAre(Change{"country", "DE", "NL"},
                          Change{"network", "AS64500 Example GmbH",
                                 "AS64501 Voorbeeld BV"}));
}

TEST(HistoryTest, NetworksAreThoseOfTheAnsweringAddress) {
  // Round robin over two networks; HTTP answered from the first both times:
  // no move although the DNS answer changed order.
  pb::Observation a = Online(kT0);
  AddAddress(kDeOtherAs, 3600, &a);
  pb::Observation b = Online(kT0 + kHour);
  AddAddress(kDeOtherAs, 3600, &b);
  std::swap(*b.mutable_addresses(0), *b.mutable_addresses(1));
  const std::vector<pb::Observation> checks = {a, b};
  EXPECT_EQ(AnalyseHistory(checks, {}).moves, 0u);
  EXPECT_THAT(PlacementOf(a).networks, ElementsAre("AS64500 Example GmbH"));
}

// ---------------------------------------------------------------- fast flux

pb::Observation FluxCheck(int64_t at, int first, int n, uint32_t ttl,
                          int networks, int countries) {
  static const char* kCountries[] = {"DE", "NL", "FR", "US", "JP"};
  pb::Observation obs = Online(at);
  obs.clear_addresses();
  obs.mutable_dns()->clear_addresses();
  for (int i = 0; i < n; ++i) {
    Host h{"192.0.2." + std::to_string(first + i), kCountries[i % countries],
           static_cast<uint32_t>(64500 + i % networks), "", ""};
    AddAddress(h, ttl, &obs);
  }
  return obs;
}

TEST(HistoryTest, FastFluxIndicator) {
  struct Case {
    std::string name;
    std::vector<pb::Observation> checks;
    bool suspected;
    uint32_t distinct, answer, networks, countries;
  };
  const std::vector<Case> cases = {
      {"one plain host", {Online(kT0)}, false, 1, 1, 1, 1},
      {"flux in one answer",
       {FluxCheck(kT0, 1, 6, 60, 4, 1)},
       true,
       6,
       6,
       4,
       1},
      {"flux across checks",
       {FluxCheck(kT0, 1, 4, 120, 2, 3),
        FluxCheck(kT0 + kHour, 5, 4, 120, 2, 3),
        FluxCheck(kT0 + 2 * kHour, 9, 4, 120, 2, 3)},
       true,
       12,
       4,
       2,
       3},
      {"CDN: many addresses, low TTL, one network",
       {FluxCheck(kT0, 1, 8, 60, 1, 1)},
       false,
       8,
       8,
       1,
       1},
      {"many networks but long TTL",
       {FluxCheck(kT0, 1, 8, 3600, 5, 5)},
       false,
       8,
       8,
       5,
       5},
      {"low TTL, many networks, few addresses",
       {FluxCheck(kT0, 1, 3, 30, 3, 3)},
       false,
       3,
       3,
       3,
       3},
  };
  for (const auto& c : cases) {
    const FastFlux f = AnalyseHistory(c.checks, {}).fast_flux;
    EXPECT_EQ(f.suspected, c.suspected) << c.name;
    EXPECT_EQ(f.distinct_addresses, c.distinct) << c.name;
    EXPECT_EQ(f.max_answer_addresses, c.answer) << c.name;
    EXPECT_EQ(f.networks, c.networks) << c.name;
    EXPECT_EQ(f.countries, c.countries) << c.name;
    if (f.suspected) {
      EXPECT_GE(f.evidence.size(), 3u) << c.name;
    }
  }
  const FastFlux f =
      AnalyseHistory(std::vector{FluxCheck(kT0, 1, 6, 60, 4, 1)}, {}).fast_flux;
  EXPECT_THAT(f.evidence, ElementsAre("lowest TTL 60 s (threshold 300 s)",
                                      "6 addresses in one answer (threshold 5)",
                                      "4 networks: AS64500, AS64501, AS64502, "
                                      "AS64503 (threshold 3)"));
  // Thresholds are settings.
  HistorySettings strict;
  strict.flux_min_answer_addresses = 7;
  EXPECT_FALSE(
      AnalyseHistory(std::vector{FluxCheck(kT0, 1, 6, 60, 4, 1)}, strict)
          .fast_flux.suspected);
}

// --------------------------------------------------------------- stale data

pb::DataSource Source(const std::string& role, int64_t built_ms) {
  pb::DataSource d;
  d.set_role(role);
  d.set_build_epoch(built_ms / 1000);
  return d;
}

TEST(HistoryTest, StaleDataAtTheTimeOfTheCheck) {
  struct Case {
    std::string name;
    std::string role;
    int64_t age_ms;  // at the check
    bool stale;
  };
  const std::vector<Case> cases = {
      {"fresh country", "country", 2 * kDay, false},
      {"country at the limit", "country", 30 * kDay, false},
      {"old country", "country", 31 * kDay, true},
      {"old city", "city", 45 * kDay, true},
      {"old asn", "asn", 40 * kDay, true},
      {"providers within 90 days", "providers", 60 * kDay, false},
      {"old providers", "providers", 91 * kDay, true},
      {"unknown role", "rdap", 400 * kDay, false},
  };
  for (const auto& c : cases) {
    pb::Observation obs = Online(kT0);
    *obs.add_data_sources() = Source(c.role, kT0 - c.age_ms);
    const auto stale = StaleData(obs, {});
    EXPECT_EQ(stale.size(), c.stale ? 1u : 0u) << c.name;
    if (!stale.empty()) {
      EXPECT_EQ(stale[0].age_days, c.age_ms / kDay) << c.name;
    }
  }
  pb::Observation undated = Online(kT0);
  *undated.add_data_sources() = Source("country", 0);
  EXPECT_TRUE(StaleData(undated, {}).empty());

  pb::Observation obs = Online(kT0);
  *obs.add_data_sources() = Source("asn", kT0 - 45 * kDay);
  HistorySettings settings;
  const auto stale = StaleData(obs, settings);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].max_age_days, 30u);
  EXPECT_THAT(StaleWarning(stale[0]),
              HasSubstr("warning: ASN data (asn) was 45 days old at the check "
                        "(limit 30 days)"));
  settings.asn_max_age_days = 60;
  EXPECT_TRUE(StaleData(obs, settings).empty());
  // The summary judges the latest check.
  const std::vector<pb::Observation> checks = {obs, Online(kT0 + kHour)};
  EXPECT_TRUE(AnalyseHistory(checks, {}).stale_data.empty());
}

// ------------------------------------------------------- takedown figures

TEST(HistoryTest, TakedownByProvider) {
  const auto summary = [](const std::string& provider, int64_t ttd,
                          CheckState state) {
    HistorySummary h;
    h.provider = provider;
    h.first_seen_online_ms = kT0;
    h.time_to_takedown_ms = ttd;
    h.state = state;
    return h;
  };
  std::vector<HistorySummary> all;
  for (int i = 1; i <= 10; ++i) {
    all.push_back(summary("A", i * kHour, CheckState::kDown));
  }
  all.push_back(summary("A", -1, CheckState::kOnline));
  all.push_back(summary("B", 5 * kHour, CheckState::kDown));
  all.push_back(summary("B", -1, CheckState::kOnline));
  all.push_back(summary("C", -1, CheckState::kUnreachable));
  all.push_back(HistorySummary{});  // never online: not counted
  const auto figures = TakedownByProvider(all);
  ASSERT_EQ(figures.size(), 3u);
  EXPECT_EQ(figures[0].provider, "A");
  EXPECT_EQ(figures[0].urls, 11u);
  EXPECT_EQ(figures[0].taken_down, 10u);
  EXPECT_EQ(figures[0].still_online, 1u);
  EXPECT_EQ(figures[0].median_ms, 5 * kHour);
  EXPECT_EQ(figures[0].p90_ms, 9 * kHour);
  EXPECT_EQ(figures[1].provider, "B");
  EXPECT_EQ(figures[1].median_ms, 5 * kHour);
  EXPECT_EQ(figures[1].p90_ms, 5 * kHour);
  EXPECT_EQ(figures[1].still_online, 1u);
  EXPECT_EQ(figures[2].provider, "C");
  EXPECT_EQ(figures[2].taken_down, 0u);
  EXPECT_EQ(figures[2].median_ms, -1);
  EXPECT_EQ(figures[2].p90_ms, -1);
}

}  // namespace
}  // namespace hl
