// CSV range lists (the @ip-location-db formats) to MMDB, read back through
// MmdbFile.
#include "common/geo/csv_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/geo/geo.h"
#include "tests/geo/temp_dir.h"

namespace hl::geo {
namespace {

using ::testing::HasSubstr;

class CsvImportTest : public testing::TempDirTest {
 protected:
  // Looks `ip` up in the MMDB at `path`; fields stay empty if not found.
  GeoFields Find(const std::string& path, const char* ip) {
    auto file = MmdbFile::Open(path);
    EXPECT_TRUE(file.ok()) << file.error().ToString();
    GeoFields f;
    if (file.ok()) (*file)->Lookup(*net::IpAddress::Parse(ip), &f);
    return f;
  }
};

TEST_F(CsvImportTest, AsnRowsWithRfc4180Quoting) {
  const std::string csv =
      WriteText("asn-ipv4.csv",
                "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
                "1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\r\n"
                "\n"
                "1.0.16.0,1.0.16.255,64500,\"The \"\"Quoted\"\" Org\"\n"
                "1.0.17.0,1.0.17.255,64501,\"Two\nLines\"\n"
                "1.0.18.0,1.0.18.255,64502,\n"
                "1.0.128.0,1.0.196.255,23969,TOT Public Company Limited");
  const std::string out = Path("asn.mmdb");
  Result<CsvBuildStats> stats =
      BuildMmdbFromCsv(CsvKind::kAsn, {csv}, out, "hostlocator-asn");
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->rows, 6u);
  EXPECT_EQ(stats->networks, 8u);  // the last row needs 3 CIDRs

  GeoFields f = Find(out, "1.0.0.1");
  EXPECT_EQ(f.asn, 13335u);
  EXPECT_EQ(f.as_org, "Cloudflare, Inc.");
  EXPECT_EQ(f.network, "1.0.0.0/24");
  EXPECT_EQ(Find(out, "1.0.5.5").as_org, "Gtelecom Pty Ltd");
  EXPECT_EQ(Find(out, "1.0.16.1").as_org, "The \"Quoted\" Org");
  EXPECT_EQ(Find(out, "1.0.17.1").as_org, "Two\nLines");
  f = Find(out, "1.0.18.1");
  EXPECT_EQ(f.asn, 64502u);
  EXPECT_EQ(f.as_org, "");
  f = Find(out, "1.0.196.255");
  EXPECT_EQ(f.asn, 23969u);
  EXPECT_EQ(f.network, "1.0.196.0/24");
  EXPECT_EQ(Find(out, "1.0.197.0").asn, 0u);

  auto file = MmdbFile::Open(out);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->metadata().database_type, "hostlocator-asn");
  EXPECT_EQ((*file)->metadata().ip_version, 6);
  EXPECT_THAT((*file)->metadata().description, HasSubstr("asn-ipv4.csv"));
}

TEST_F(CsvImportTest, IntegerIpv4AndTextIpv6FilesTogether) {
  const std::string num =
      WriteText("asn-ipv4-num.csv",
                "16777216,16777471,13335,\"Cloudflare, Inc.\"\n"
                "0,0,1,Zero\n"
                "4294967295,4294967295,2,Last\n");
  const std::string v6 = WriteText(
      "asn-ipv6.csv",
      "2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC\n"
      "2001:4:112::,2001:4:112:ffff:ffff:ffff:ffff:ffff,112,DNS-OARC\n");
  const std::string out = Path("asn.mmdb");
  Result<CsvBuildStats> stats =
      BuildMmdbFromCsv(CsvKind::kAsn, {num, v6}, out, "hostlocator-asn");
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->rows, 5u);
  EXPECT_EQ(Find(out, "1.0.0.200").asn, 13335u);
  EXPECT_EQ(Find(out, "0.0.0.0").as_org, "Zero");
  EXPECT_EQ(Find(out, "255.255.255.255").as_org, "Last");
  GeoFields f = Find(out, "2001:0:1::1");
  EXPECT_EQ(f.asn, 6939u);
  EXPECT_EQ(f.network, "2001::/32");
  EXPECT_EQ(Find(out, "2001:4:112::53").asn, 112u);
}

TEST_F(CsvImportTest, CountryRowsAndLaterRowsOverride) {
  const std::string csv = WriteText("country.csv",
                                    "10.0.0.0,10.255.255.255,de\n"
                                    "10.1.0.0,10.1.255.255,FR\n"
                                    "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:"
                                    "ffff:ffff,nl\n");
  const std::string out = Path("country.mmdb");
  Result<CsvBuildStats> stats =
      BuildMmdbFromCsv(CsvKind::kCountry, {csv}, out, "hostlocator-country");
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(Find(out, "10.0.0.1").country, "DE");
  EXPECT_EQ(Find(out, "10.1.0.1").country, "FR");
  EXPECT_EQ(Find(out, "2001:db8::1").country, "NL");
}

struct BadRow {
  CsvKind kind;
  std::string contents;
  std::string where;   // "file:line"
  std::string reason;  // part of the message
};

TEST_F(CsvImportTest, BadRowsFailWithFileLineAndReason) {
  const std::string ok = "1.0.0.0,1.0.0.255,13335,Org\n";
  const BadRow cases[] = {
      {CsvKind::kAsn, ok + "1.0.1.0,1.0.1.255,13335\n", "2",
       "expected 4 fields"},
      {CsvKind::kAsn, ok + "1.0.1.0,1.0.1.255,1,a,b\n", "2",
       "expected 4 fields"},
      {CsvKind::kAsn, ok + "1.0.1.x,1.0.1.255,1,Org\n", "2",
       "\"1.0.1.x\" is not an IP address"},
      {CsvKind::kAsn, ok + "1.0.1.9,1.0.1.1,1,Org\n", "2",
       "ends before it starts"},
      {CsvKind::kAsn, ok + "1.0.1.0,::1,1,Org\n", "2", "mixes IPv4 and IPv6"},
      {CsvKind::kAsn, ok + "1.0.1.0,1.0.1.255,AS13335,Org\n", "2",
       "autonomous system number \"AS13335\""},
      {CsvKind::kAsn, ok + "1.0.1.0,1.0.1.255,4294967296,Org\n", "2",
       "is not an integer 0..4294967295"},
      {CsvKind::kAsn, ok + "16777216,4294967296,1,Org\n", "2",
       "integer address 4294967296 is beyond IPv4"},
      {CsvKind::kAsn, ok + ok + "1.0.1.0,1.0.1.255,1,\"Org\n\nmore\n", "3",
       "unterminated quoted field"},
      {CsvKind::kAsn, ok + "1.0.1.0,1.0.1.255,1,\"Org\"x\n", "2",
       "unexpected character after a closing quote"},
      {CsvKind::kAsn, ok + "1.0.1.0,1.0.1.255,1,Org \"Q\"\n", "2",
       "quote inside an unquoted field"},
      {CsvKind::kAsn, ok + "\n\nfirst_ip,last_ip,asn,org\n", "4",
       "\"first_ip\" is not an IP address"},
      {CsvKind::kCountry, "1.0.0.0,1.0.0.255,DEU\n", "1",
       "country code \"DEU\" is not two letters"},
      {CsvKind::kCountry, "1.0.0.0,1.0.0.255,D1\n", "1", "not two letters"},
  };
  for (const BadRow& c : cases) {
    SCOPED_TRACE(c.contents);
    const std::string csv = WriteText("bad.csv", c.contents);
    const std::string out = Path("bad.mmdb");
    Result<CsvBuildStats> r = BuildMmdbFromCsv(c.kind, {csv}, out, "t");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr(csv + ":" + c.where + ": "));
    EXPECT_THAT(r.error().message(), HasSubstr(c.reason));
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

TEST_F(CsvImportTest, MissingInputEmptyInputAndBadArguments) {
  const std::string out = Path("x.mmdb");
  Result<CsvBuildStats> r = BuildMmdbFromCsv(CsvKind::kAsn, {Path("nope.csv")},
                                             out, "hostlocator-asn");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr(Path("nope.csv")));

  const std::string empty = WriteText("empty.csv", "\n");
  r = BuildMmdbFromCsv(CsvKind::kAsn, {empty}, out, "hostlocator-asn");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("no rows"));

  EXPECT_FALSE(BuildMmdbFromCsv(CsvKind::kAsn, {}, out, "t").ok());
  EXPECT_FALSE(BuildMmdbFromCsv(CsvKind::kAsn, {empty}, out, "").ok());
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace hl::geo
