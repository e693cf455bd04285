#include "common/referral.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/verdict.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

const char kDirectory[] = R"(verified = false

[fallback]
name = "INTERPOL"
website = "https://interpol.example"
source = "test"
verified_on = "unverified"

[[target]]
country = "DE"
kind = "hotline"
name = "Hotline DE 1"
website = "https://de1.example"
source = "test"
verified_on = 2026-11-01

[[target]]
country = "DE"
kind = "hotline"
name = "Hotline DE 2"
source = "test"
verified_on = "unverified"

[[target]]
country = "DE"
kind = "police"
name = "Police DE"
source = "test"
verified_on = "unverified"

[[target]]
country = "GB"
kind = "hotline"
name = "Hotline GB"
email = "report@gb.example"
source = "test"
verified_on = "unverified"

[[target]]
country = "GB"
kind = "police"
name = "Police GB"
source = "test"
verified_on = "unverified"

[[target]]
country = "US"
kind = "police"
name = "Police US"
source = "test"
verified_on = "unverified"
)";

ReferralDirectory TestDirectory() {
  Result<ReferralDirectory> d = ParseReferralDirectory(kDirectory, "test.toml");
  EXPECT_TRUE(d.ok()) << d.status().message();
  return d.ok() ? *d : ReferralDirectory{};
}

pb::Observation FromText(const std::string& text) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &obs))
      << text;
  return obs;
}

std::string Answered(const std::string& host, const std::string& ip,
                     const std::string& country) {
  return "url: \"https://" + host + "/\" host: \"" + host +
         "\" dns { addresses { ip: \"" + ip + "\" } } addresses { ip: \"" + ip +
         "\" country: \"" + country +
         "\" asn: 64500 as_org: \"Example Hosting\" } pinned_ip: \"" + ip +
         "\" http { status: 200 connected_ip: \"" + ip + "\" } ";
}

const std::string kCloudflare =
    R"(providers { name: "Cloudflare" category: "cdn" country: "US"
                   abuse: "https://abuse.cloudflare.com/"
                   evidence { kind: "header" rule: "cf-ray" value: "x" } })";
const std::string kHoster =
    R"(providers { name: "Hoster" category: "hosting" country: "DE"
                   abuse: "abuse@hoster.example"
                   evidence { kind: "asn" rule: "AS64500" value: "x" } })";

struct RouteCase {
  std::string name;
  std::string home;
  std::string observation;
  // Each target as "route kind country name".
  std::vector<std::string> targets;
};

std::vector<std::string> TargetTexts(const pb::Jurisdiction& j) {
  std::vector<std::string> out;
  for (const pb::ReferralTarget& t : j.referrals()) {
    out.push_back(t.route() + " " + t.kind() + " " + t.country() + " " +
                  t.name());
  }
  return out;
}

TEST(ReferralTest, RoutingTable) {
  const std::vector<RouteCase> cases = {
      {"foreign country with several member hotlines: all of them",
       "GB",
       Answered("x.example", "203.0.113.7", "DE"),
       {"primary hotline DE Hotline DE 1", "primary hotline DE Hotline DE 2"}},
      {"foreign country with one hotline",
       "DE",
       Answered("x.example", "203.0.113.7", "GB"),
       {"primary hotline GB Hotline GB"}},
      {"foreign country without a hotline: its police",
       "DE",
       Answered("x.example", "203.0.113.7", "US"),
       {"primary police US Police US"}},
      {"foreign country without any entry: INTERPOL",
       "DE",
       Answered("x.example", "203.0.113.7", "BR"),
       {"primary interpol BR INTERPOL"}},
      {"domestic: national police and the AS of the answering address",
       "DE",
       Answered("x.example", "203.0.113.7", "DE"),
       {"primary police DE Police DE",
        "provider provider  AS64500 Example Hosting (network of "
        "203.0.113.7)"}},
      {"domestic with a recognised hosting provider: that provider",
       "DE",
       Answered("x.example", "203.0.113.7", "DE") + kHoster,
       {"primary police DE Police DE", "provider provider DE Hoster"}},
      {"domestic without a police entry: named as missing",
       "FR",
       Answered("x.example", "203.0.113.7", "FR"),
       {"primary police FR national police of FR (not in the referral "
        "directory)",
        "provider provider  AS64500 Example Hosting (network of "
        "203.0.113.7)"}},
      {"home country not set: domestic content routed as foreign",
       "",
       Answered("x.example", "203.0.113.7", "DE"),
       {"primary hotline DE Hotline DE 1", "primary hotline DE Hotline DE 2"}},
      {"CDN in front: the provider's country and the provider",
       "DE",
       Answered("x.example", "203.0.113.7", "DE") + kCloudflare,
       {"primary police US Police US", "provider provider US Cloudflare"}},
      {"CDN of the home country: its police and the provider",
       "US",
       Answered("x.example", "203.0.113.7", "DE") + kCloudflare,
       {"primary police US Police US", "provider provider US Cloudflare"}},
      {"several countries: each routed, none chosen",
       "US",
       R"(url: "https://x.example/" host: "x.example"
          dns { addresses { ip: "203.0.113.7" } addresses { ip: "198.51.100.9" } }
          addresses { ip: "203.0.113.7" country: "DE" }
          addresses { ip: "198.51.100.9" country: "GB" }
          pinned_ip: "203.0.113.7" http { error { error_class: "http_timeout" } })",
       {"primary hotline DE Hotline DE 1", "primary hotline DE Hotline DE 2",
        "primary hotline GB Hotline GB"}},
      {"redirector in another country: routed as a redirector",
       "US",
       Answered("a.example", "198.51.100.9", "GB") +
           R"(redirects { url: "https://b.example/" host: "b.example"
              addresses { ip: "203.0.113.7" country: "DE" }
              pinned_ip: "203.0.113.7"
              http { status: 200 connected_ip: "203.0.113.7" } })",
       {"primary hotline DE Hotline DE 1", "primary hotline DE Hotline DE 2",
        "redirector hotline GB Hotline GB"}},
      {"redirector in the primary country: not routed twice",
       "US",
       Answered("a.example", "198.51.100.9", "DE") +
           R"(redirects { url: "https://b.example/" host: "b.example"
              addresses { ip: "203.0.113.7" country: "DE" }
              pinned_ip: "203.0.113.7"
              http { status: 200 connected_ip: "203.0.113.7" } })",
       {"primary hotline DE Hotline DE 1", "primary hotline DE Hotline DE 2"}},
      {".onion: no target",
       "DE",
       R"(url: "http://abc.onion/" host: "abc.onion")",
       {}},
      {"unresolvable: no target",
       "DE",
       R"(url: "https://x.example/" host: "x.example"
          dns { error { error_class: "servfail" } })",
       {}},
  };
  const ReferralDirectory directory = TestDirectory();
  for (const RouteCase& c : cases) {
    SCOPED_TRACE(c.name);
    pb::Observation obs = FromText(c.observation);
    Conclude(&obs);
    RouteReferrals(ReferralRouting{directory, c.home}, &obs);
    const pb::Jurisdiction& j = obs.verdict().jurisdiction();
    EXPECT_THAT(TargetTexts(j), ElementsAreArray(c.targets));
    EXPECT_EQ(j.home_country(), c.home);
    EXPECT_TRUE(j.directory_unverified());
    EXPECT_THAT(obs.verdict().reasons(),
                Contains(HasSubstr("warning: the referral directory is not "
                                   "verified by an operator")));
    if (c.home.empty()) {
      EXPECT_THAT(std::string(j.referral_warning()),
                  HasSubstr("referral.home_country"));
    }
  }
}

TEST(ReferralTest, TargetsCarryTheirEntry) {
  pb::Observation obs = FromText(Answered("x.example", "203.0.113.7", "GB"));
  Conclude(&obs);
  RouteReferrals(ReferralRouting{TestDirectory(), "DE"}, &obs);
  ASSERT_EQ(obs.verdict().jurisdiction().referrals_size(), 1);
  const pb::ReferralTarget& t = obs.verdict().jurisdiction().referrals(0);
  EXPECT_EQ(t.email(), "report@gb.example");
  EXPECT_EQ(t.source(), "test");
  EXPECT_EQ(t.verified_on(), "");

  pb::Observation de = FromText(Answered("x.example", "203.0.113.7", "DE"));
  Conclude(&de);
  RouteReferrals(ReferralRouting{TestDirectory(), "GB"}, &de);
  EXPECT_EQ(de.verdict().jurisdiction().referrals(0).verified_on(),
            "2026-11-01");
  EXPECT_EQ(de.verdict().jurisdiction().referrals(0).website(),
            "https://de1.example");
}

TEST(ReferralTest, VerifiedDirectoryHasNoWarningAndRoutingIsIdempotent) {
  ReferralDirectory d = TestDirectory();
  d.verified = true;
  pb::Observation obs = FromText(Answered("x.example", "203.0.113.7", "GB"));
  Conclude(&obs);
  RouteReferrals(ReferralRouting{d, "DE"}, &obs);
  EXPECT_FALSE(obs.verdict().jurisdiction().directory_unverified());
  EXPECT_EQ(obs.verdict().jurisdiction().referral_warning(), "");
  EXPECT_THAT(obs.verdict().reasons(), Not(Contains(HasSubstr("warning"))));

  d.verified = false;
  RouteReferrals(ReferralRouting{d, "DE"}, &obs);
  pb::Observation again = obs;
  RouteReferrals(ReferralRouting{d, "DE"}, &again);
  EXPECT_EQ(again.SerializeAsString(), obs.SerializeAsString());
}

TEST(ReferralTest, ShippedDirectoryIsUnverifiedAndInventsNoContacts) {
  Result<ReferralDirectory> d =
      LoadReferralFile(std::string(HL_SOURCE_DIR) + "/config/referral.toml");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_FALSE(d->verified);
  EXPECT_EQ(d->fallback.kind, "interpol");
  EXPECT_EQ(d->sha256.size(), 64u);
  std::map<std::string, int> hotlines;
  for (const ReferralEntry& e : d->targets) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(e.verified_on, "");
    EXPECT_EQ(e.email, "");
    EXPECT_EQ(e.phone, "");
    EXPECT_THAT(e.website, testing::StartsWith("https://"));
    if (e.kind == "hotline") ++hotlines[e.country];
  }
  EXPECT_GE(hotlines.size(), 25u);
  EXPECT_EQ(hotlines["DE"], 3);  // eco, FSM, jugendschutz.net
}

TEST(ReferralTest, ParseErrorsNameFileLineAndKey) {
  const std::string head =
      "verified = false\n[fallback]\nname = \"I\"\nsource = \"s\"\n"
      "verified_on = \"unverified\"\n";
  const std::string target =
      "[[target]]\ncountry = \"DE\"\nkind = \"hotline\"\nname = \"H\"\n"
      "source = \"s\"\nverified_on = \"unverified\"\n";
  struct ErrorCase {
    std::string text;
    std::vector<std::string> parts;
  };
  const std::vector<ErrorCase> cases = {
      {head + target + "mail = \"x\"\n",
       {"r.toml:12:1: ", "unknown key \"target[0].mail\"", "email"}},
      {head + "[[target]]\ncountry = \"de\"\n",
       {"r.toml:7:11: ", "\"target[0].country\"", "ISO 3166-1 alpha-2"}},
      {head + "[[target]]\nkind = \"ngo\"\n",
       {"r.toml:7:8: ", "\"target[0].kind\"", "hotline, police, interpol"}},
      {head + "[[target]]\nwebsite = \"www.x.example\"\n",
       {"r.toml:7:11: ", "\"target[0].website\"", "http:// or https://"}},
      {head + "[[target]]\nverified_on = \"yesterday\"\n",
       {"r.toml:7:15: ", "\"target[0].verified_on\"", "\"unverified\""}},
      {head + "[[target]]\ncountry = \"DE\"\nkind = \"hotline\"\n",
       {"r.toml:6:1: ", "missing key \"target[0].name\""}},
      {"[fallback]\nname = \"I\"\nsource = \"s\"\nverified_on = "
       "\"unverified\"\n",
       {"r.toml: ", "missing key \"verified\""}},
      {"verified = false\n", {"r.toml: ", "missing key \"fallback\""}},
      {"verified = \"no\"\n", {"r.toml:1:12: ", "\"verified\""}},
      {"verified = false\n[fallback\n", {"r.toml:2:"}},
      {head + "[[target]]\ncountry = \"DE\"\nkind = \"hotline\"\nname = "
              "\"H\"\nsource = \"s\"\n",
       {"missing key \"target[0].verified_on\""}},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.text);
    Result<ReferralDirectory> d = ParseReferralDirectory(c.text, "r.toml");
    ASSERT_FALSE(d.ok());
    for (const std::string& part : c.parts) {
      EXPECT_THAT(d.status().message(), HasSubstr(part));
    }
  }
}

TEST(ReferralTest, MissingFileSaysWhichFile) {
  Result<ReferralDirectory> d = LoadReferralFile("/nonexistent/referral.toml");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(),
              HasSubstr("/nonexistent/referral.toml: cannot open the referral "
                        "directory"));
}

// SplitForStorage cuts the targets and the warning out at the wire level,
// and the data sources beside them; merged back into the rest they give
// the observation again.
TEST(ReferralStorageTest, SplitForStorageCutsTheTargetsAndTheWarning) {
  pb::Observation routed;
  routed.set_url("http://a.example/");
  pb::Jurisdiction* j = routed.mutable_verdict()->mutable_jurisdiction();
  j->set_attribution("hosted");
  j->add_primary_countries("DE");
  pb::ReferralTarget* t = j->add_referrals();
  t->set_country("DE");
  t->set_name("a hotline");
  j->add_referrals()->set_name("the police");
  j->set_directory_unverified(true);
  j->set_referral_warning("not verified");
  j->set_home_country("NL");
  routed.mutable_verdict()->add_reasons("a reason after the jurisdiction");
  routed.set_worker("w1");
  pb::Observation warning_only = routed;
  warning_only.mutable_verdict()->mutable_jurisdiction()->clear_referrals();
  pb::Observation unrouted = routed;
  unrouted.mutable_verdict()->mutable_jurisdiction()->clear_referrals();
  unrouted.mutable_verdict()->mutable_jurisdiction()->clear_referral_warning();
  pb::Observation no_verdict;
  no_verdict.set_url("http://b.example/");
  // Data sources after the verdict (as a serializer writes them) and
  // appended last (as a worker sends them).
  pb::Observation sources;
  sources.add_data_sources()->set_role("country");
  pb::Observation with_sources = routed;
  with_sources.add_data_sources()->set_role("asn");

  struct Case {
    std::string name;
    std::string bytes;
    bool cut;
  };
  const std::string once = routed.SerializeAsString();
  // A verdict in two pieces (parsers merge them): left as it is.
  pb::Observation second_piece;
  second_piece.mutable_verdict()->add_reasons("merged");
  const std::vector<Case> cases = {
      {"targets and warning", once, true},
      {"the warning alone", warning_only.SerializeAsString(), true},
      {"no targets, no warning", unrouted.SerializeAsString(), false},
      {"no verdict", no_verdict.SerializeAsString(), false},
      {"verdict in two pieces", once + second_piece.SerializeAsString(), false},
      {"data sources serialized", with_sources.SerializeAsString(), true},
      {"data sources appended",
       with_sources.SerializeAsString() + sources.SerializeAsString(), true},
  };
  const auto join = [](const std::vector<std::string_view>& pieces) {
    std::string out;
    for (std::string_view piece : pieces) out += piece;
    return out;
  };
  for (const Case& c : cases) {
    auto split = SplitForStorage(c.bytes);
    ASSERT_TRUE(split.ok()) << c.name;
    ASSERT_EQ(!split->referrals.empty(), c.cut) << c.name;
    pb::Observation original;
    ASSERT_TRUE(original.ParseFromString(c.bytes));
    pb::Observation rest;
    ASSERT_TRUE(rest.ParseFromString(join(split->rest))) << c.name;
    EXPECT_EQ(rest.data_sources_size(), 0) << c.name;
    pb::Observation entries;
    ASSERT_TRUE(entries.ParseFromString(join(split->data_sources))) << c.name;
    EXPECT_EQ(entries.data_sources_size(), original.data_sources_size())
        << c.name;
    if (c.cut) {
      EXPECT_EQ(rest.verdict().jurisdiction().referrals_size(), 0) << c.name;
      EXPECT_EQ(rest.verdict().jurisdiction().referral_warning(), "") << c.name;
      EXPECT_EQ(rest.verdict().jurisdiction().home_country(), "NL") << c.name;
      EXPECT_EQ(rest.verdict().reasons(0), "a reason after the jurisdiction");
      pb::Jurisdiction cut;
      ASSERT_TRUE(cut.ParseFromString(split->referrals)) << c.name;
      EXPECT_EQ(cut.attribution(), "") << c.name;
      rest.mutable_verdict()->mutable_jurisdiction()->MergeFrom(cut);
    } else {
      // Nothing cut from the verdict: the rest is the input's bytes less
      // the data sources.
      EXPECT_EQ(split->verdict, nullptr) << c.name;
    }
    rest.MergeFrom(entries);
    EXPECT_EQ(rest.SerializeAsString(), original.SerializeAsString()) << c.name;
  }
  // Moving the split keeps its rest valid (a view of its own verdict).
  auto split = SplitForStorage(once);
  ASSERT_TRUE(split.ok());
  const std::string before = join(split->rest);
  StorageSplit moved = std::move(*split);
  EXPECT_EQ(join(moved.rest), before);
  for (const std::string& malformed :
       {std::string("\xff"), once.substr(0, once.size() - 3)}) {
    EXPECT_EQ(SplitForStorage(malformed).status().code(),
              StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace hl
