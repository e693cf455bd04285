#include "coordinator/referral_package.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/evidence.h"
#include "common/signing.h"
#include "coordinator/export_evidence.h"
#include "coordinator/html_text.h"
#include "coordinator/store.h"

namespace hl::coordinator {
namespace {

namespace fs = std::filesystem;

pb::Observation Obs(const std::string& text) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &obs))
      << text;
  return obs;
}

pb::LineRecord Line(uint64_t n, uint64_t job, const std::string& input,
                    const std::string& rejection = "") {
  pb::LineRecord line;
  line.set_line(n);
  line.set_job_id(job);
  line.set_input(input);
  line.set_rejection(rejection);
  return line;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(HtmlTextTest, EscapesAndMarksHiddenCharacters) {
  const struct {
    std::string in, out;
  } cases[] = {
      {"", ""},
      {"plain text", "plain text"},
      {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
      {"a & b", "a &amp; b"},
      {"\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"},
      {"x\" onmouseover=\"y", "x&quot; onmouseover=&quot;y"},
      {"tab\tand\nnewline", "tab\tand\nnewline"},
      {"bell\x07", "bell[U+0007]"},
      {"del\x7f", "del[U+007F]"},
      {"c1\xc2\x85", "c1[U+0085]"},
      // Right-to-left override, isolates, zero-width, marks, BOM.
      {"evil\xe2\x80\xaegpj.exe", "evil[U+202E]gpj.exe"},
      {"\xe2\x81\xa6x\xe2\x81\xa9", "[U+2066]x[U+2069]"},
      {"a\xe2\x80\x8b"
       "b",
       "a[U+200B]b"},
      {"\xe2\x80\x8f\xe2\x80\x8e", "[U+200F][U+200E]"},
      {"\xd8\x9c", "[U+061C]"},
      {"\xef\xbb\xbfx", "[U+FEFF]x"},
      // Ordinary non-ASCII text stays.
      {"M\xc3\xbcnchen \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
       "M\xc3\xbcnchen \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7"},
      // Invalid UTF-8 is repaired.
      {"caf\xe9", "caf\xef\xbf\xbd"},
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      // Plain runs end at each byte that needs more than a copy.
      {"\x1f"
       "ab\tc&d\x7f"
       "e<>f\xc3\xa9g'",
       "[U+001F]ab\tc&amp;d[U+007F]e&lt;&gt;f\xc3\xa9g&#39;"},
      {std::string("a\0b", 3), "a[U+0000]b"},
      {"~ !#$%()*+,-./09:;=?@AZ[\\]^_`az{|}",
       "~ !#$%()*+,-./09:;=?@AZ[\\]^_`az{|}"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(HtmlText(c.in), c.out) << c.in;
  }
}

TEST(DefangTest, Urls) {
  const struct {
    std::string in, out;
  } cases[] = {
      {"http://a.example/x.y?q=1.2", "hxxp://a[.]example/x.y?q=1.2"},
      {"https://www.example.co.uk:8443/",
       "hxxps://www[.]example[.]co[.]uk:8443/"},
      {"HTTPS://A.EXAMPLE", "HxxPS://A[.]EXAMPLE"},
      {"ftp://files.example/a", "fxp://files[.]example/a"},
      {"http://203.0.113.7/", "hxxp://203[.]0[.]113[.]7/"},
      {"http://[2001:db8::1]/", "hxxp://[2001:db8::1]/"},
      {"http://user@a.example#f.g", "hxxp://user@a[.]example#f.g"},
      {"gopher://a.example/", "gopher://a[.]example/"},
      {"a.example/path.html", "a[.]example/path.html"},
      {"not a url", "not a url"},
      {"", ""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DefangUrl(c.in), c.out) << c.in;
  }
  EXPECT_EQ(DefangName("ns1.a.example."), "ns1[.]a[.]example[.]");
  EXPECT_EQ(DefangName("localhost"), "localhost");
}

TEST(PackageKeysTest, FromTable) {
  const struct {
    const char* name;
    pb::LineRecord line;
    std::string obs;  // text format; "-" for none
    std::vector<std::string> keys;
  } cases[] = {
      {"rejected",
       Line(1, 0, "ftp://x", "unsupported scheme"),
       "-",
       {"unattributed"}},
      {"dead job", Line(2, 5, "http://a.example/"), "-", {"unattributed"}},
      {"hosted",
       Line(3, 5, "http://a.example/"),
       R"(verdict { hosting_countries: "DE"
            jurisdiction { attribution: "hosted" primary_countries: "DE" } })",
       {"DE"}},
      {"several countries",
       Line(4, 6, "http://b.example/"),
       R"(verdict { hosting_countries: "NL" hosting_countries: "DE"
            jurisdiction { attribution: "several_countries"
                           primary_countries: "NL" primary_countries: "DE" } })",
       {"DE", "NL"}},
      {"origin hidden: the provider's country, not the edge",
       Line(5, 7, "http://c.example/"),
       R"(verdict { hosting_countries: "FR"
            jurisdiction { attribution: "origin_hidden"
                           primary_countries: "US" } })",
       {"US"}},
      {"not attributable",
       Line(6, 8, "http://x.onion/"),
       R"(status: "unresolved" verdict { jurisdiction {
            attribution: "not_attributable" } })",
       {"unattributed"}},
      {"taken down with NXDOMAIN",
       Line(7, 9, "http://gone.example/"),
       R"(status: "unresolved" verdict { jurisdiction {
            attribution: "taken_down" } })",
       {"unattributed"}},
      {"taken down, 404 from a located host",
       Line(8, 10, "http://d.example/"),
       R"(verdict { hosting_countries: "SE" jurisdiction {
            attribution: "taken_down" primary_countries: "SE" } })",
       {"SE"}},
      {"before the jurisdiction rules: hosting countries",
       Line(9, 11, "http://e.example/"),
       R"(verdict { hosting_countries: "JP" })",
       {"JP"}},
      {"a value that is not a country code never names a folder",
       Line(10, 12, "http://f.example/"),
       R"(verdict { jurisdiction { attribution: "hosted"
            primary_countries: "../x" } })",
       {"unattributed"}},
  };
  for (const auto& c : cases) {
    std::optional<pb::Observation> obs;
    if (c.obs != "-") obs = Obs(c.obs);
    EXPECT_EQ(PackageKeys(c.line, obs ? &*obs : nullptr), c.keys) << c.name;
  }
}

TEST(PackageFilterTest, FromTable) {
  const pb::Observation located =
      Obs(R"(status: "located" checked_at_unix_ms: 1000)");
  const pb::Observation unresolved =
      Obs(R"(status: "unresolved" checked_at_unix_ms: 2000)");
  const pb::LineRecord ok = Line(1, 1, "http://a.example/");
  const pb::LineRecord rejected = Line(2, 0, "x", "missing scheme");
  PackageFilter all;
  PackageFilter only_located;
  only_located.statuses = {"located"};
  PackageFilter only_rejected;
  only_rejected.statuses = {"rejected"};
  PackageFilter from_1500;
  from_1500.checked_from_ms = 1500;
  PackageFilter before_1500;
  before_1500.checked_to_ms = 1500;
  PackageFilter exactly_1000;
  exactly_1000.checked_from_ms = 1000;
  exactly_1000.checked_to_ms = 1001;
  const struct {
    const char* name;
    const PackageFilter& filter;
    const pb::LineRecord& line;
    const pb::Observation* obs;
    bool passes;
  } cases[] = {
      {"no filter, located", all, ok, &located, true},
      {"no filter, rejected", all, rejected, nullptr, true},
      {"no filter, dead", all, ok, nullptr, true},
      {"status located", only_located, ok, &located, true},
      {"status located, unresolved line", only_located, ok, &unresolved, false},
      {"status located, rejected line", only_located, rejected, nullptr, false},
      {"status rejected", only_rejected, rejected, nullptr, true},
      {"from: before", from_1500, ok, &located, false},
      {"from: after", from_1500, ok, &unresolved, true},
      {"to: before", before_1500, ok, &located, true},
      {"to: after", before_1500, ok, &unresolved, false},
      {"date range drops lines without result", before_1500, rejected, nullptr,
       false},
      {"date range drops dead lines", before_1500, ok, nullptr, false},
      {"from inclusive, to exclusive", exactly_1000, ok, &located, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(PassesFilter(c.filter, c.line, c.obs), c.passes) << c.name;
  }
  PackageFilter de;
  de.countries = {"DE", "unattributed"};
  EXPECT_EQ(SelectedKeys(de, {"DE", "NL"}), std::vector<std::string>{"DE"});
  EXPECT_EQ(SelectedKeys(de, {"unattributed"}),
            std::vector<std::string>{"unattributed"});
  EXPECT_TRUE(SelectedKeys(de, {"FR"}).empty());
  EXPECT_EQ(SelectedKeys(all, {"FR"}), std::vector<std::string>{"FR"});
}

TEST(MakePackageFilterTest, FromTable) {
  constexpr int64_t kNov29 = 1795910400000;
  const struct {
    std::string from, to;
    std::vector<std::string> countries, statuses;
    bool ok;
    int64_t from_ms, to_ms;
  } cases[] = {
      {"", "", {}, {}, true, INT64_MIN, INT64_MAX},
      {"2026-11-29", "", {}, {}, true, kNov29, INT64_MAX},
      // A date alone as the upper bound includes that day.
      {"", "2026-11-29", {}, {}, true, INT64_MIN, kNov29 + 86'400'000},
      {"", "2026-11-29T00:00:01Z", {}, {}, true, INT64_MIN, kNov29 + 1000},
      {"yesterday", "", {}, {}, false, 0, 0},
      {"", "2026-02-30", {}, {}, false, 0, 0},
      {"", "", {"DE", "unattributed"}, {"located"}, true, INT64_MIN, INT64_MAX},
      {"", "", {"de"}, {}, false, 0, 0},
      {"", "", {"../etc"}, {}, false, 0, 0},
      {"", "", {}, {"pending"}, false, 0, 0},
  };
  for (const auto& c : cases) {
    auto f = MakePackageFilter(c.from, c.to, c.countries, c.statuses);
    ASSERT_EQ(f.ok(), c.ok) << c.from << " " << c.to;
    if (!c.ok) continue;
    EXPECT_EQ(f->checked_from_ms, c.from_ms);
    EXPECT_EQ(f->checked_to_ms, c.to_ms);
    EXPECT_EQ(f->countries.size(), c.countries.size());
    EXPECT_EQ(f->statuses.size(), c.statuses.size());
  }
}

// A sink that counts what it is given, in front of the file sink.
class CountingSink : public PackageFileSink {
 public:
  CountingSink(std::unique_ptr<PackageFileSink> inner,
               std::map<std::string, int>* records, std::string path)
      : inner_(std::move(inner)), records_(records), path_(std::move(path)) {}
  Status Write(std::string_view bytes, bool record) override {
    if (record) ++(*records_)[path_];
    return inner_->Write(bytes, record);
  }
  Result<PackageFile> Finish() override { return inner_->Finish(); }

 private:
  std::unique_ptr<PackageFileSink> inner_;
  std::map<std::string, int>* records_;
  std::string path_;
};

class PackageWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hl-packages-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

constexpr char kHostileObservation[] = R"(
  url: "http://evil.example/<script>alert(1)</script>\"'\xe2\x80\xae"
  host: "evil.example" status: "located" pinned_ip: "203.0.113.7"
  addresses { ip: "203.0.113.7" country: "DE" asn: 64500
              as_org: "<b>Hoster</b> & Co" network: "203.0.113.0/24" }
  http { status: 200 connected_ip: "203.0.113.7"
         headers { name: "Server" value: "<script>x()</script>" }
         headers { name: "Location" value: "http://next.example/\"><img src=x>" }
         tls { sha256: "\x01\x02" subject: "CN=<i>evil</i>" issuer: "CN=ca"
               san_dns: "evil.example" } }
  dns { ptr { ip: "203.0.113.7" names: "<svg onload=alert(1)>.example" } }
  checked_at_unix_ms: 1795917692123
  verdict { hosting_countries: "DE"
    reasons: "answered from 203.0.113.7 <script>"
    jurisdiction { attribution: "hosted" primary_countries: "DE"
      confidence: "low" directory_unverified: true
      referral_warning: "the referral directory is not verified"
      referrals { country: "DE" kind: "hotline" route: "primary"
                  name: "eco Beschwerdestelle" website: "https://example.org/eco"
                  source: "INHOPE list" }
      referrals { country: "NL" kind: "hotline" route: "redirector"
                  name: "Offlimits" source: "INHOPE list" } } }
  providers { name: "Hoster" category: "hosting" country: "DE"
              abuse: "abuse@hoster.example" }
  data_sources { role: "country" attribution: "IP data by X" }
  rdap { state: "complete"
         networks { ip: "203.0.113.7" name: "HOSTER-NET"
                    abuse_email: "noc@hoster-net.example" } }
)";

TEST_F(PackageWriterTest, GroupsEscapesAndFeedsOneSinkPerFile) {
  std::map<std::string, int> records;
  PackageOptions options;
  options.generated_at_ms = 1795917692123;
  options.tool_version = "test";
  pb::RunRecord run;
  run.set_run_id(3);
  run.set_case_reference("CASE-<1>");
  options.runs = {run};
  options.sink_factory =
      [&](const std::string& dir,
          const std::string& path) -> Result<std::unique_ptr<PackageFileSink>> {
    auto inner = MakeFilePackageSink(dir, path);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<PackageFileSink>(
        new CountingSink(std::move(inner).value(), &records, path));
  };
  auto writer = ReferralPackageWriter::Create(dir_.string(), options);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  const pb::Observation hostile = Obs(kHostileObservation);
  const pb::Observation fr = Obs(R"(url: "http://fr.example/"
      status: "located" checked_at_unix_ms: 1795917692123
      verdict { hosting_countries: "FR" jurisdiction {
        attribution: "hosted" primary_countries: "FR" } })");
  ASSERT_TRUE(
      (*writer)->Add(Line(1, 1, "http://evil.example/"), &hostile).ok());
  ASSERT_TRUE(
      (*writer)->Add(Line(2, 1, "http://evil.example/"), &hostile).ok());
  ASSERT_TRUE((*writer)->Add(Line(3, 2, "http://fr.example/"), &fr).ok());
  ASSERT_TRUE(
      (*writer)
          ->Add(Line(4, 0, "\"><script>alert(2)</script>", "missing scheme"),
                nullptr)
          .ok());
  auto summary = (*writer)->Finish();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();

  ASSERT_EQ(summary->packages.size(), 3u);
  EXPECT_EQ(summary->packages[0].key, "DE");
  EXPECT_EQ(summary->packages[0].lines, 2u);
  EXPECT_EQ(summary->packages[0].urls, 1u);
  EXPECT_EQ(summary->packages[1].key, "FR");
  EXPECT_EQ(summary->packages[2].key, "unattributed");
  EXPECT_EQ(summary->lines_selected, 4u);
  ASSERT_EQ(summary->packages[0].targets.size(), 1u);
  EXPECT_EQ(summary->packages[0].targets[0].first.name(),
            "eco Beschwerdestelle");
  EXPECT_EQ(summary->packages[0].targets[0].second, 2u);
  ASSERT_EQ(summary->packages[0].secondary_targets.size(), 1u);
  EXPECT_TRUE(summary->packages[0].directory_unverified);
  EXPECT_EQ(summary->packages[0].abuse_contacts,
            (std::set<std::string>{
                "network HOSTER-NET: noc@hoster-net.example (RDAP)",
                "provider Hoster (hosting, DE): abuse@hoster.example"}));

  // One record per line through the sink of each CSV and JSON file.
  EXPECT_EQ(records["DE/DE.csv"], 2);
  EXPECT_EQ(records["DE/DE.json"], 2);
  EXPECT_EQ(records["FR/FR.csv"], 1);
  EXPECT_EQ(records["unattributed/unattributed.json"], 1);

  const std::string csv = ReadFile(dir_ / "DE" / "DE.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  const auto json = nlohmann::json::parse(ReadFile(dir_ / "DE" / "DE.json"));
  EXPECT_EQ(json["package"]["key"], "DE");
  EXPECT_EQ(json["package"]["batches"][0]["case_reference"], "CASE-<1>");
  ASSERT_EQ(json["records"].size(), 2u);
  EXPECT_EQ(json["records"][1]["line"], 2);
  EXPECT_EQ(json["summary"]["referral_targets"][0]["website"],
            "https://example.org/eco");
  const auto index = nlohmann::json::parse(ReadFile(dir_ / "index.json"));
  ASSERT_EQ(index["packages"].size(), 3u);
  EXPECT_EQ(index["packages"][0]["files"][2]["path"], "DE/DE.html");
  EXPECT_EQ(index["packages"][0]["files"][2]["bytes"],
            fs::file_size(dir_ / "DE" / "DE.html"));

  const std::string html = ReadFile(dir_ / "DE" / "DE.html");
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src "
                      "'none'; style-src 'sha256-"),
            std::string::npos);
  // Only the report's own tags: nothing from the observation is markup.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<svg onload"), std::string::npos);
  EXPECT_EQ(html.find("<b>Hoster"), std::string::npos);
  EXPECT_EQ(html.find("<i>evil"), std::string::npos);
  EXPECT_EQ(html.find("<a "), std::string::npos);
  EXPECT_EQ(html.find("\xe2\x80\xae"), std::string::npos);
  EXPECT_NE(html.find("hxxp://evil[.]example/&lt;script&gt;alert(1)&lt;/"
                      "script&gt;&quot;&#39;[U+202E]"),
            std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;Hoster&lt;/b&gt; &amp; Co"), std::string::npos);
  EXPECT_NE(html.find("hxxp://next[.]example/&quot;&gt;&lt;img src=x&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("CASE-&lt;1&gt;"), std::string::npos);
  EXPECT_NE(html.find("eco Beschwerdestelle"), std::string::npos);
  EXPECT_NE(html.find("Referral directory not verified"), std::string::npos);
  EXPECT_NE(html.find("abuse@hoster.example"), std::string::npos);
  EXPECT_NE(html.find("Offlimits"), std::string::npos);
  size_t rows = 0;
  for (size_t at = 0;
       (at = html.find("class=\"url-row\"", at)) != std::string::npos; ++at) {
    ++rows;
  }
  EXPECT_EQ(rows, 2u);
  const std::string unattributed =
      ReadFile(dir_ / "unattributed" / "unattributed.html");
  EXPECT_EQ(unattributed.find("<script"), std::string::npos);
  EXPECT_NE(unattributed.find("&quot;&gt;&lt;script&gt;alert(2)"),
            std::string::npos);
  // The work files are gone.
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    EXPECT_NE(e.path().filename().string().front(), '.') << e.path();
  }
}

// A package's summary counts a referral target once per line that names
// it, and targets differing in any of route, kind, country or name apart,
// also when the values of one field could be read into another.
TEST_F(PackageWriterTest, CountsTargetsByEveryField) {
  const struct {
    std::string first, second;  // text of a ReferralTarget, country DE
    std::vector<uint64_t> counts;
  } cases[] = {
      {R"(route: "primary" kind: "hotline" name: "A")",
       R"(route: "primary" kind: "hotline" name: "A")",
       {2}},
      {R"(route: "primary" kind: "hotline" name: "A")",
       R"(route: "primary" kind: "hotline" name: "B")",
       {1, 1}},
      {R"(route: "primary" kind: "hotline" name: "A")",
       R"(route: "primary" kind: "police" name: "A")",
       {1, 1}},
      {R"(route: "primary" kind: "hotline" name: "A")",
       R"(route: "provider" kind: "hotline" name: "A")",
       {1, 1}},
      {R"(route: "primary\x1fhotline" kind: "x" name: "A")",
       R"(route: "primary" kind: "hotline\x1fx" name: "A")",
       {1, 1}},
      {R"(route: "primary" kind: "hotline" name: "A\x1f")",
       R"(route: "primary" kind: "hotline\x1f" name: "A")",
       {1, 1}},
  };
  int n = 0;
  for (const auto& c : cases) {
    const fs::path dir = dir_ / std::to_string(++n);
    auto writer = ReferralPackageWriter::Create(dir.string(), PackageOptions{});
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    const pb::Observation obs = Obs(
        R"(status: "located" checked_at_unix_ms: 1000
           verdict { hosting_countries: "DE" jurisdiction {
             attribution: "hosted" primary_countries: "DE"
             referrals { country: "DE" )" +
        c.first + R"( } referrals { country: "DE" )" + c.second + R"( } } })");
    ASSERT_TRUE((*writer)->Add(Line(1, 1, "http://de.example/"), &obs).ok());
    auto summary = (*writer)->Finish();
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    ASSERT_EQ(summary->packages.size(), 1u) << c.second;
    std::vector<uint64_t> counts;
    for (const auto& [target, count] : summary->packages[0].targets) {
      counts.push_back(count);
    }
    EXPECT_EQ(counts, c.counts) << c.first << " / " << c.second;
  }
}

TEST_F(PackageWriterTest, FiltersAndRefusesAFolderInUse) {
  PackageOptions options;
  options.filter.countries = {"FR"};
  auto writer = ReferralPackageWriter::Create(dir_.string(), options);
  ASSERT_TRUE(writer.ok());
  const pb::Observation hostile = Obs(kHostileObservation);
  ASSERT_TRUE(
      (*writer)->Add(Line(1, 1, "http://evil.example/"), &hostile).ok());
  auto summary = (*writer)->Finish();
  ASSERT_TRUE(summary.ok());
  EXPECT_TRUE(summary->packages.empty());
  EXPECT_EQ(summary->lines_seen, 1u);
  EXPECT_EQ(summary->lines_selected, 0u);
  EXPECT_FALSE(fs::exists(dir_ / "DE"));
  EXPECT_TRUE(fs::exists(dir_ / "index.html"));

  auto again = ReferralPackageWriter::Create(dir_.string(), options);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("not empty"), std::string::npos);
  options.replace = true;
  EXPECT_TRUE(ReferralPackageWriter::Create(dir_.string(), options).ok());
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST(TallyStaleTest, FromTable) {
  const StaleSource country{"country", 1, 40, 30};
  const StaleSource older{"country", 1, 90, 30};
  const StaleSource asn{"asn", 1, 31, 30};
  struct Case {
    const char* name;
    std::vector<std::vector<StaleSource>> lines;
    // role -> (lines, oldest age in days)
    std::map<std::string, std::pair<uint64_t, int64_t>> want;
  } cases[] = {
      {"nothing stale", {{}, {}}, {}},
      {"one line", {{country}}, {{"country", {1, 40}}}},
      {"the oldest is kept",
       {{country}, {older}, {country}},
       {{"country", {3, 90}}}},
      {"roles apart",
       {{country, asn}, {asn}},
       {{"country", {1, 40}}, {"asn", {2, 31}}}},
      {"a role twice in one line counts once",
       {{country, older}},
       {{"country", {1, 90}}}},
  };
  for (const Case& c : cases) {
    std::map<std::string, StaleTally> tally;
    for (const auto& line : c.lines) TallyStale(line, &tally);
    std::map<std::string, std::pair<uint64_t, int64_t>> got;
    for (const auto& [role, t] : tally) {
      got[role] = {t.lines, t.oldest.age_days};
    }
    EXPECT_EQ(got, c.want) << c.name;
  }
}

// The package set chained as it is written, one .chain per file, signed
// with the data sources its records cite; stale data shown as a banner.
TEST_F(PackageWriterTest, SignedAsWrittenWithAStaleDataBanner) {
  auto store = Store::Open((dir_ / "store").string());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const SigningKey key = SigningKey::Generate().value();
  pb::RunRecord run;
  run.set_run_id(5);
  PackageSetEvidence evidence(run, "by=jurisdiction", "test", 1795917692123,
                              /*chain_files=*/true);
  PackageOptions options;
  options.generated_at_ms = 1795917692123;
  options.tool_version = "test";
  options.runs = {run};
  options.history = HistorySettings{};  // geolocation: 30 days
  options.sink_factory = evidence.Wrap(MakeFilePackageSink);
  const fs::path out = dir_ / "packages";
  auto writer = ReferralPackageWriter::Create(out.string(), options);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  // Checked 2026-11-29; the DE line's geolocation built 45 days before.
  const pb::Observation de = Obs(R"(url: "http://de.example/"
      status: "located" checked_at_unix_ms: 1795917692123
      data_sources { role: "country" build_epoch: 1792029692
                     sha256: "aaaa" attribution: "Old geo" }
      verdict { hosting_countries: "DE" jurisdiction {
        attribution: "hosted" primary_countries: "DE" } })");
  const pb::Observation fr = Obs(R"(url: "http://fr.example/"
      status: "located" checked_at_unix_ms: 1795917692123
      data_sources { role: "country" build_epoch: 1795831292
                     sha256: "bbbb" }
      verdict { hosting_countries: "FR" jurisdiction {
        attribution: "hosted" primary_countries: "FR" } })");
  ASSERT_TRUE((*writer)->Add(Line(1, 1, "http://de.example/"), &de).ok());
  ASSERT_TRUE((*writer)->Add(Line(2, 2, "http://fr.example/"), &fr).ok());
  ASSERT_TRUE((*writer)->Add(Line(3, 1, "http://de.example/"), &de).ok());
  auto set = (*writer)->Finish();
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto text = evidence.Finish(*set, store->get(), key, 1795917692123);
  ASSERT_TRUE(text.ok()) << text.status().ToString();

  auto parsed = evidence::ParseManifest(*text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const evidence::Manifest& m = parsed->manifest;
  EXPECT_EQ(m.export_id, evidence.export_id());
  EXPECT_EQ(m.parameters, "by=jurisdiction");
  std::map<std::string, uint64_t> records;
  for (const auto& f : m.files) {
    records[f.name] = f.records;
    EXPECT_TRUE(fs::exists(out / (f.name + ".chain"))) << f.name;
  }
  EXPECT_EQ(records, (std::map<std::string, uint64_t>{{"DE/DE.csv", 2},
                                                      {"DE/DE.json", 2},
                                                      {"DE/DE.html", 0},
                                                      {"FR/FR.csv", 1},
                                                      {"FR/FR.json", 1},
                                                      {"FR/FR.html", 0},
                                                      {"index.json", 0},
                                                      {"index.html", 0}}));
  ASSERT_EQ(m.data_sources.size(), 2u);
  EXPECT_EQ(m.data_sources[0]["sha256"], "aaaa");
  EXPECT_EQ(m.data_sources[0]["role"], "country");
  auto verified = evidence::VerifyFileSet(
      *text, key.public_raw(),
      [&](const std::string& name) -> std::unique_ptr<std::istream> {
        auto in = std::make_unique<std::ifstream>(out / name, std::ios::binary);
        if (!*in) return nullptr;
        return in;
      });
  EXPECT_TRUE(verified.ok()) << verified.status().ToString();
  // The .chain values are the chain: the last one is the signed head.
  for (const auto& f : m.files) {
    const std::string chain = ReadFile(out / (f.name + ".chain"));
    EXPECT_EQ(chain.size(), 65 * f.lines) << f.name;
    EXPECT_EQ(chain.substr(chain.size() - 65, 64), f.chain_head) << f.name;
  }

  const std::string de_html = ReadFile(out / "DE" / "DE.html");
  EXPECT_NE(de_html.find("class=\"warning stale-data\""), std::string::npos);
  EXPECT_NE(de_html.find("geolocation data (country) was 45 days old at the "
                         "check (limit 30 days)"),
            std::string::npos);
  EXPECT_NE(de_html.find("2 of 2 lines"), std::string::npos);
  EXPECT_NE(de_html.find("<div class=\"stale\">"), std::string::npos);
  const std::string fr_html = ReadFile(out / "FR" / "FR.html");
  EXPECT_EQ(fr_html.find("stale-data"), std::string::npos);
  EXPECT_EQ(fr_html.find("class=\"stale\""), std::string::npos);
  const std::string index = ReadFile(out / "index.html");
  EXPECT_NE(index.find("class=\"warning stale-data\""), std::string::npos);
  EXPECT_NE(index.find("2 of 3 lines"), std::string::npos);
  const auto index_json = nlohmann::json::parse(ReadFile(out / "index.json"));
  EXPECT_EQ(index_json["stale_data"]["country"]["lines"], 2);
  EXPECT_EQ(index_json["stale_data"]["country"]["oldest_age_days"], 45);
}

}  // namespace
}  // namespace hl::coordinator
