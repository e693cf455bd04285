#include "coordinator/reports.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/record_json.h"

namespace hl::coordinator {
namespace {

std::string Field(std::string_view value) {
  std::string out;
  AppendCsvField(value, &out);
  return out;
}

std::string Row(const pb::LineRecord& line, const pb::Observation* obs,
                const HistorySummary* history = nullptr) {
  std::string out;
  AppendCsvRow(line, obs, &out, history);
  return out;
}

pb::Observation Located(const std::string& country, const std::string& ip,
                        const std::string& as_org) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(url: "http://a.example/" host: "a.example" status: "located"
         pinned_ip: ")" +
          ip + R"(" http { status: 200 }
         verdict { hosting_countries: ")" +
          country + R"(" }
         checked_at_unix_ms: 1795917692123
         data_sources { role: "country" attribution: "IP data by X" })",
      &obs));
  pb::AddressInfo* a = obs.add_addresses();
  a->set_ip(ip);
  a->set_country(country);
  a->set_asn(64500);
  a->set_as_org(as_org);
  a->set_network("203.0.113.0/24");
  return obs;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CsvFieldTest, QuotesRepairsAndNeutralisesFormulas) {
  EXPECT_EQ(Field(""), "");
  EXPECT_EQ(Field("plain text"), "plain text");
  EXPECT_EQ(Field("a,b"), "\"a,b\"");
  EXPECT_EQ(Field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(Field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(Field("=1+1"), "'=1+1");
  EXPECT_EQ(Field("-2,\"x\""), "\"'-2,\"\"x\"\"\"");
  EXPECT_EQ(Field("\rx"), "\"'\rx\"");
  // Invalid UTF-8 becomes U+FFFD, also next to a doubled quote.
  EXPECT_EQ(Field("caf\xe9"), "caf\xef\xbf\xbd");
  EXPECT_EQ(Field("\xff\"\xc3"), "\"\xef\xbf\xbd\"\"\xef\xbf\xbd\"");
}

TEST(CsvRowTest, LinesWithoutObservation) {
  pb::LineRecord line;
  line.set_line(4);
  line.set_input("ftp://x,y");
  line.set_rejection("unsupported scheme");
  EXPECT_EQ(Row(line, nullptr),
            "4,\"ftp://x,y\",,rejected,rejected,,,,,,,,,,,,,,,,");
  line.clear_rejection();
  EXPECT_EQ(Row(line, nullptr),
            "4,\"ftp://x,y\",,error,not_probed,,,,,,,,,,,,,,,,");
}

TEST(CsvRowTest, LocatedLine) {
  pb::LineRecord line;
  line.set_line(1);
  line.set_input("http://a.example/");
  const pb::Observation obs = Located("DE", "203.0.113.7", "=Evil, Inc.");
  EXPECT_EQ(Row(line, &obs),
            "1,http://a.example/,http://a.example/,located,,DE,203.0.113.7,"
            "DE,64500,\"'=Evil, Inc.\",203.0.113.0/24,200,"
            "2026-11-29T02:01:32.123Z,,,,,,,,");
}

TEST(CsvRowTest, HistoryColumns) {
  pb::LineRecord line;
  line.set_line(1);
  line.set_input("http://a.example/");
  const pb::Observation first = Located("DE", "203.0.113.7", "Hoster");
  pb::Observation gone = first;
  gone.set_checked_at_unix_ms(first.checked_at_unix_ms() + 60'000);
  gone.mutable_http()->set_status(410);
  auto* source = gone.add_data_sources();
  source->set_role("asn");
  source->set_build_epoch(first.checked_at_unix_ms() / 1000 - 40 * 86400);
  const std::vector<pb::Observation> checks = {first, gone};
  const HistorySummary h = AnalyseHistory(checks, {});
  const std::string row = Row(line, &gone, &h);
  EXPECT_TRUE(row.ends_with(
      ",2,down,0,1,,2026-11-29T02:02:32.123Z,false,warning: ASN data (asn) "
      "was 40 days old at the check (limit 30 days): run "
      "scripts/fetch-geodata.sh"))
      << row;
  // As many fields as the header: no field here holds a comma.
  const std::string header = CsvHeader();
  EXPECT_EQ(std::count(row.begin(), row.end(), ','),
            std::count(header.begin(), header.end(), ','));
}

class RunReportWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-reports-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(RunReportWriterTest, WritesEveryFile) {
  auto writer = RunReportWriter::Create(dir_.string(), PackageOptions{});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  pb::LineRecord rejected;
  rejected.set_line(1);
  rejected.set_input("nope");
  rejected.set_rejection("missing scheme");
  pb::LineRecord de;
  de.set_line(2);
  de.set_input("http://a.example/");
  de.set_job_id(7);
  pb::LineRecord de_again = de;
  de_again.set_line(3);
  const pb::Observation obs = Located("DE", "203.0.113.7", "Hoster");
  const HistorySummary history = AnalyseHistory({&obs, 1}, {});
  std::string jsonl;
  std::string csv = CsvHeader() + "\n";
  // Enough lines that results.jsonl is written in several blocks.
  for (int i = 0; i < 100; ++i) {
    for (const auto& [line, o] :
         {std::pair{&rejected, static_cast<const pb::Observation*>(nullptr)},
          std::pair{&de, &obs}, std::pair{&de_again, &obs}}) {
      const HistorySummary* h = o ? &history : nullptr;
      ASSERT_TRUE((*writer)->Add(*line, o, h).ok());
      AppendResultRecordJson(*line, o, &jsonl, h);
      jsonl += '\n';
      csv += Row(*line, o, h) + "\n";
    }
  }
  auto summary = (*writer)->Finish();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->lines, 300u);
  EXPECT_EQ(summary->by_status["rejected"], 100u);
  EXPECT_EQ(summary->by_status["located"], 200u);
  EXPECT_EQ(ReadFile(dir_ / "results.jsonl"), jsonl);
  EXPECT_EQ(ReadFile(dir_ / "results.csv"), csv);
  // The referral packages, through the one package writer.
  ASSERT_EQ(summary->packages.packages.size(), 2u);
  EXPECT_EQ(summary->packages.packages[0].key, "DE");
  EXPECT_EQ(summary->packages.packages[0].lines, 200u);
  EXPECT_EQ(summary->packages.packages[1].key, "unattributed");
  EXPECT_EQ(summary->packages.packages[1].lines, 100u);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "referrals" / "DE" / "DE.html"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "referrals" / "index.html"));
  EXPECT_EQ(ReadFile(dir_ / "countries.csv"),
            "country,lines,unique_urls,networks\nDE,200,1,AS64500 Hoster\n");
  EXPECT_EQ(ReadFile(dir_ / "ATTRIBUTION.txt"),
            "Data sources used for these results:\n- IP data by X\n");
}

}  // namespace
}  // namespace hl::coordinator
