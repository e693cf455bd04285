// The pure scheduling decisions, from tables of cases.
#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include "common/net/url.h"

namespace hl::coordinator {
namespace {

struct KnownJobCase {
  const char* name;
  pb::JobState state;
  int64_t last_check_ms;
  int64_t max_age_ms;
  KnownJobAction want;
};

constexpr int64_t kNow = 1'000'000;

TEST(DecideKnownJobTest, Table) {
  const KnownJobCase cases[] = {
      {"fresh result is shared", pb::JOB_STATE_DONE, kNow - 500, 1000,
       KnownJobAction::kJoin},
      {"result exactly max age old is shared", pb::JOB_STATE_DONE, kNow - 1000,
       1000, KnownJobAction::kJoin},
      {"result older than max age is re-checked", pb::JOB_STATE_DONE,
       kNow - 1001, 1000, KnownJobAction::kRecheck},
      {"max age 0 re-checks even a result of this millisecond",
       pb::JOB_STATE_DONE, kNow, 0, KnownJobAction::kRecheck},
      {"done without a check time is re-checked", pb::JOB_STATE_DONE, 0, 1000,
       KnownJobAction::kRecheck},
      {"pending is joined", pb::JOB_STATE_PENDING, 0, 0, KnownJobAction::kJoin},
      {"leased is joined even with max age 0", pb::JOB_STATE_LEASED,
       kNow - 5000, 0, KnownJobAction::kJoin},
      {"dead is re-checked whatever its age", pb::JOB_STATE_DEAD, kNow, 1000,
       KnownJobAction::kRecheck},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DecideKnownJob(c.state, c.last_check_ms, c.max_age_ms, kNow),
              c.want)
        << c.name;
  }
}

TEST(TargetOfUrlTest, HostAndRegistrableDomain) {
  struct Case {
    const char* url;
    const char* host;
    const char* domain;
  } cases[] = {
      {"http://www.example.co.uk/a", "www.example.co.uk", "example.co.uk"},
      {"https://a.b.example.com:8443/", "a.b.example.com", "example.com"},
      {"http://192.0.2.1/", "192.0.2.1", ""},
      {"not a url", "", ""},
  };
  for (const auto& c : cases) {
    DispatchTarget t = TargetOfUrl(c.url);
    EXPECT_EQ(t.host, c.host) << c.url;
    EXPECT_EQ(t.domain, c.domain) << c.url;
    EXPECT_TRUE(t.addresses.empty()) << c.url;
    // Without the domain (no per-domain cap): the same host, no domain.
    t = TargetOfUrl(c.url, /*with_domain=*/false);
    EXPECT_EQ(t.host, c.host) << c.url;
    EXPECT_EQ(t.domain, "") << c.url;
  }
}

// A normalised URL's target is what NormalizeUrl says of it, whether read
// directly (domains) or parsed (IP literals and anything unusual).
TEST(TargetOfUrlTest, AgreesWithNormalizeUrl) {
  const char* inputs[] = {
      "http://www.example.co.uk/a",
      "HTTPS://Sub.Example.COM:8443/x?y",
      "http://xn--bcher-kva.example/",
      "http://b\xc3\xbc"
      "cher.de/",
      "http://user.github.io/",
      "http://co.uk/",
      "http://localhost/",
      "http://under_score.example.org/",
      "http://abcdefghijklmnopqrstuvwxyz234567.onion/",
      "http://192.0.2.1:8080/",
      "http://0x7f.1/",
      "http://[2001:db8::1]/",
      "http://a-.b.example.net/",
  };
  for (const char* input : inputs) {
    auto url = net::NormalizeUrl(input);
    ASSERT_TRUE(url.ok()) << input;
    const DispatchTarget t = TargetOfUrl(url->url);
    EXPECT_EQ(t.host, url->host) << url->url;
    EXPECT_EQ(t.domain, url->registrable_domain) << url->url;
  }
}

// A sequence of steps against one FleetPoliteness; each admission is
// checked against `want` and started when admitted.
struct Step {
  enum Op { kStart, kFinish, kLearn } op;
  DispatchTarget target;
  bool want_admitted = true;  // for kStart
};

void RunSteps(PolitenessCaps caps, const std::vector<Step>& steps) {
  FleetPoliteness p(caps);
  std::vector<DispatchTarget> started;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    switch (s.op) {
      case Step::kLearn:
        p.LearnAddresses(s.target.host, s.target.addresses);
        break;
      case Step::kStart: {
        DispatchTarget t = p.Resolve(s.target);
        EXPECT_EQ(p.Admits(t), s.want_admitted) << "step " << i;
        if (p.Admits(t)) p.Start(t);
        break;
      }
      case Step::kFinish:
        p.Finish(p.Resolve(s.target));
        break;
    }
  }
}

DispatchTarget T(const char* host, const char* domain,
                 std::vector<std::string> addresses = {}) {
  return {host, domain, std::move(addresses)};
}

TEST(FleetPolitenessTest, PerHostCap) {
  RunSteps({.per_host = 2},
           {{Step::kStart, T("a.example.com", "example.com")},
            {Step::kStart, T("a.example.com", "example.com")},
            {Step::kStart, T("a.example.com", "example.com"), false},
            {Step::kStart, T("b.example.com", "example.com")},
            {Step::kFinish, T("a.example.com", "example.com")},
            {Step::kStart, T("a.example.com", "example.com")}});
}

TEST(FleetPolitenessTest, PerDomainCapAcrossHosts) {
  RunSteps({.per_host = 10, .per_domain = 2},
           {{Step::kStart, T("a.example.com", "example.com")},
            {Step::kStart, T("b.example.com", "example.com")},
            {Step::kStart, T("c.example.com", "example.com"), false},
            {Step::kStart, T("a.other.org", "other.org")},
            // IP literals have no domain: only the host counts.
            {Step::kStart, T("192.0.2.1", "")},
            {Step::kStart, T("192.0.2.1", "")}});
}

TEST(FleetPolitenessTest, PerAddressCapUsesLearnedAddresses) {
  RunSteps({.per_address = 1},
           {// Nothing known yet: no address counted.
            {Step::kStart, T("a.test", "a.test")},
            {Step::kStart, T("b.test", "b.test")},
            {Step::kFinish, T("a.test", "a.test")},
            {Step::kFinish, T("b.test", "b.test")},
            {Step::kLearn, T("a.test", "", {"192.0.2.7"})},
            {Step::kLearn, T("b.test", "", {"192.0.2.7", "192.0.2.8"})},
            {Step::kStart, T("a.test", "a.test")},
            // Shares 192.0.2.7 with a.test.
            {Step::kStart, T("b.test", "b.test"), false},
            {Step::kFinish, T("a.test", "a.test")},
            {Step::kStart, T("b.test", "b.test")}});
}

TEST(FleetPolitenessTest, NoCapsAdmitEverything) {
  std::vector<Step> steps;
  for (int i = 0; i < 100; ++i) {
    steps.push_back({Step::kStart, T("a.test", "a.test")});
  }
  RunSteps({}, steps);
}

TEST(FleetPolitenessTest, KnownHostsAreBounded) {
  FleetPoliteness p({.per_address = 1});
  p.LearnAddresses("first.test", {"192.0.2.1"});
  for (size_t i = 0; i < FleetPoliteness::kMaxKnownHosts; ++i) {
    p.LearnAddresses("h" + std::to_string(i) + ".test", {"192.0.2.2"});
  }
  EXPECT_TRUE(p.Resolve(T("first.test", "")).addresses.empty());
  EXPECT_EQ(p.Resolve(T("h1.test", "")).addresses.size(), 1u);
}

}  // namespace
}  // namespace hl::coordinator
