// Round trips through libmaxminddb: what MmdbWriter writes must read back
// exactly, with the tree, data types, deduplication and record sizes of the
// MaxMind DB 2.0 format.
#include "common/geo/mmdb_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <maxminddb.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "tests/geo/temp_dir.h"

namespace hl::geo {
namespace {

using ::testing::HasSubstr;

net::IpAddress Ip(const char* text) {
  auto ip = net::IpAddress::Parse(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip.value_or(net::IpAddress());
}

net::Cidr Net(const char* text) {
  auto c = net::Cidr::Parse(text);
  EXPECT_TRUE(c.ok()) << text;
  return c.ok() ? *c : net::Cidr(net::IpAddress(), 0);
}

MmdbValue Tag(const std::string& s) { return MmdbValue::Map{{"tag", s}}; }

MmdbWriterOptions Options(int ip_version = 6, int record_size = 0) {
  MmdbWriterOptions o;
  o.database_type = "hostlocator-test";
  o.ip_version = ip_version;
  o.record_size = record_size;
  return o;
}

// An MMDB file opened with libmaxminddb.
class Db {
 public:
  explicit Db(const std::string& path) {
    const int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &mmdb_);
    EXPECT_EQ(rc, MMDB_SUCCESS) << MMDB_strerror(rc);
    open_ = rc == MMDB_SUCCESS;
  }
  ~Db() {
    if (open_) MMDB_close(&mmdb_);
  }
  bool open() const { return open_; }
  const MMDB_metadata_s& metadata() const { return mmdb_.metadata; }
  MMDB_s* mmdb() { return &mmdb_; }

  // The result for a textual address; AF_INET for dotted quads.
  MMDB_lookup_result_s Lookup(const std::string& ip) {
    int gai = 0, err = 0;
    MMDB_lookup_result_s r = MMDB_lookup_string(&mmdb_, ip.c_str(), &gai, &err);
    EXPECT_EQ(gai, 0) << ip;
    EXPECT_EQ(err, MMDB_SUCCESS) << ip << ": " << MMDB_strerror(err);
    return r;
  }

  // The "tag" string of the record of `ip`, or nullopt if not found.
  std::optional<std::string> TagOf(const std::string& ip,
                                   int* netmask = nullptr) {
    MMDB_lookup_result_s r = Lookup(ip);
    if (!r.found_entry) return std::nullopt;
    if (netmask != nullptr) *netmask = r.netmask;
    MMDB_entry_data_s d;
    EXPECT_EQ(MMDB_get_value(&r.entry, &d, "tag", nullptr), MMDB_SUCCESS);
    EXPECT_EQ(d.type, MMDB_DATA_TYPE_UTF8_STRING);
    return std::string(d.utf8_string, d.data_size);
  }

 private:
  MMDB_s mmdb_{};
  bool open_ = false;
};

class MmdbWriterTest : public testing::TempDirTest {
 protected:
  std::string Write(const MmdbWriter& w, const std::string& name = "t.mmdb") {
    const std::string path = Path(name);
    Status s = w.WriteFile(path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }
};

TEST_F(MmdbWriterTest, Ipv4TreeRoundTripWithMetadata) {
  MmdbWriterOptions options = Options(4);
  options.database_type = "hostlocator-test-v4";
  options.description = "unit test";
  options.languages = {"en", "de"};
  options.build_epoch = 1700000000;
  MmdbWriter w(options);
  ASSERT_TRUE(w.Insert(Net("192.0.2.0/24"), Tag("doc")).ok());
  ASSERT_TRUE(w.Insert(Net("10.0.0.0/8"), Tag("ten")).ok());
  ASSERT_TRUE(w.Insert(Net("203.0.113.7/32"), Tag("host")).ok());
  Status v6 = w.Insert(Net("2001:db8::/32"), Tag("v6"));
  EXPECT_EQ(v6.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(v6.message(), HasSubstr("IPv4-only"));

  Db db(Write(w));
  ASSERT_TRUE(db.open());
  const MMDB_metadata_s& m = db.metadata();
  EXPECT_EQ(m.ip_version, 4);
  EXPECT_EQ(m.record_size, 24);
  EXPECT_EQ(m.binary_format_major_version, 2);
  EXPECT_EQ(m.binary_format_minor_version, 0);
  EXPECT_EQ(m.build_epoch, 1700000000u);
  EXPECT_STREQ(m.database_type, "hostlocator-test-v4");
  ASSERT_EQ(m.languages.count, 2u);
  EXPECT_STREQ(m.languages.names[0], "en");
  EXPECT_STREQ(m.languages.names[1], "de");
  ASSERT_EQ(m.description.count, 1u);
  EXPECT_STREQ(m.description.descriptions[0]->language, "en");
  EXPECT_STREQ(m.description.descriptions[0]->description, "unit test");

  int netmask = 0;
  EXPECT_EQ(db.TagOf("192.0.2.200", &netmask), "doc");
  EXPECT_EQ(netmask, 24);
  EXPECT_EQ(db.TagOf("10.255.0.1", &netmask), "ten");
  EXPECT_EQ(netmask, 8);
  EXPECT_EQ(db.TagOf("203.0.113.7", &netmask), "host");
  EXPECT_EQ(netmask, 32);
  EXPECT_EQ(db.TagOf("203.0.113.6"), std::nullopt);
  EXPECT_EQ(db.TagOf("8.8.8.8"), std::nullopt);
}

TEST_F(MmdbWriterTest, Ipv6TreeHoldsIpv4UnderZeroPrefixAndMappedAlias) {
  MmdbWriter w(Options());
  ASSERT_TRUE(w.Insert(Net("2001:db8::/32"), Tag("doc6")).ok());
  ASSERT_TRUE(w.Insert(Net("192.0.2.0/24"), Tag("doc4")).ok());
  // Inside ::ffff:0:0/96: stored as 198.51.100.0/24.
  ASSERT_TRUE(w.Insert(Net("::ffff:198.51.100.0/120"), Tag("mapped")).ok());

  Db db(Write(w));
  ASSERT_TRUE(db.open());
  EXPECT_EQ(db.metadata().ip_version, 6);
  int netmask = 0;
  EXPECT_EQ(db.TagOf("2001:db8:1::1", &netmask), "doc6");
  EXPECT_EQ(netmask, 32);
  EXPECT_EQ(db.TagOf("192.0.2.1", &netmask), "doc4");
  EXPECT_EQ(netmask, 96 + 24);
  EXPECT_EQ(db.TagOf("::192.0.2.1", &netmask), "doc4");
  EXPECT_EQ(netmask, 96 + 24);
  EXPECT_EQ(db.TagOf("::ffff:192.0.2.1", &netmask), "doc4");
  EXPECT_EQ(netmask, 96 + 24);
  EXPECT_EQ(db.TagOf("198.51.100.9"), "mapped");
  EXPECT_EQ(db.TagOf("::ffff:198.51.100.9"), "mapped");
  EXPECT_EQ(db.TagOf("2001:db9::1"), std::nullopt);
  EXPECT_EQ(db.TagOf("10.0.0.1"), std::nullopt);
}

TEST_F(MmdbWriterTest, LaterInsertsOverrideEarlierOnes) {
  MmdbWriter w(Options(4));
  ASSERT_TRUE(w.Insert(Net("10.0.0.0/8"), Tag("a")).ok());
  ASSERT_TRUE(w.Insert(Net("10.1.0.0/16"), Tag("b")).ok());
  ASSERT_TRUE(w.Insert(Net("10.1.2.0/24"), Tag("c")).ok());
  ASSERT_TRUE(w.Insert(Net("10.3.0.0/16"), Tag("d")).ok());
  ASSERT_TRUE(w.Insert(Net("10.3.0.0/17"), Tag("e")).ok());
  ASSERT_TRUE(w.Insert(Net("10.3.0.0/16"), Tag("f")).ok());  // over e

  Db db(Write(w));
  int netmask = 0;
  EXPECT_EQ(db.TagOf("10.0.0.1"), "a");
  EXPECT_EQ(db.TagOf("10.200.0.1", &netmask), "a");
  EXPECT_EQ(netmask, 9);  // 10.128.0.0/9: the largest network left whole
  EXPECT_EQ(db.TagOf("10.1.0.1", &netmask), "b");
  EXPECT_EQ(netmask, 23);
  EXPECT_EQ(db.TagOf("10.1.2.3", &netmask), "c");
  EXPECT_EQ(netmask, 24);
  EXPECT_EQ(db.TagOf("10.3.0.1", &netmask), "f");
  EXPECT_EQ(netmask, 16);  // the /17 split was merged back
}

TEST_F(MmdbWriterTest, SiblingsWithEqualDataMergeIntoParent) {
  MmdbWriter w(Options(4));
  ASSERT_TRUE(w.Insert(Net("10.0.0.0/9"), Tag("x")).ok());
  ASSERT_TRUE(w.Insert(Net("10.128.0.0/10"), Tag("x")).ok());
  ASSERT_TRUE(w.Insert(Net("10.192.0.0/10"), Tag("x")).ok());
  Db db(Write(w));
  int netmask = 0;
  EXPECT_EQ(db.TagOf("10.200.0.1", &netmask), "x");
  EXPECT_EQ(netmask, 8);
}

// Random overlapping inserts against a per-address model of "last insert
// wins", over every address of a /16, in both tree kinds.
TEST_F(MmdbWriterTest, RandomInsertsMatchLastWriterWinsModel) {
  for (int ip_version : {4, 6}) {
    SCOPED_TRACE(ip_version);
    std::mt19937 rng(42 + ip_version);
    std::vector<int> model(65536, -1);
    MmdbWriter w(Options(ip_version));
    for (int i = 0; i < 400; ++i) {
      const int len = 16 + static_cast<int>(rng() % 17);
      const uint32_t host = rng() & 0xffff;
      const uint32_t mask = len == 16 ? 0 : (0xffffu << (32 - len)) & 0xffff;
      const uint32_t base = host & mask;
      const int value = static_cast<int>(rng() % 6);
      const std::array<uint8_t, 4> b{10, 20, static_cast<uint8_t>(base >> 8),
                                     static_cast<uint8_t>(base)};
      ASSERT_TRUE(w.Insert(net::Cidr(net::IpAddress::V4(b), len),
                           Tag(std::to_string(value)))
                      .ok());
      const uint32_t size = 1u << (32 - len);
      for (uint32_t a = base; a < base + size; ++a) model[a] = value;
    }
    Db db(Write(w));
    ASSERT_TRUE(db.open());
    const int offset = ip_version == 6 ? 96 : 0;
    std::set<std::pair<uint32_t, int>> checked;
    for (uint32_t a = 0; a < 65536; ++a) {
      const std::string ip =
          "10.20." + std::to_string(a >> 8) + "." + std::to_string(a & 0xff);
      int netmask = 0;
      const std::optional<std::string> got = db.TagOf(ip, &netmask);
      if (model[a] < 0) {
        ASSERT_EQ(got, std::nullopt) << ip;
        continue;
      }
      ASSERT_EQ(got, std::to_string(model[a])) << ip;
      // The reported network holds one value throughout.
      const int len = netmask - offset;
      ASSERT_GE(len, 16) << ip;
      const uint32_t size = 1u << (32 - len);
      const uint32_t base = a & ~(size - 1);
      if (!checked.emplace(base, len).second) continue;
      for (uint32_t b = base; b < base + size; ++b) {
        ASSERT_EQ(model[b], model[a]) << ip << "/" << len;
      }
    }
  }
}

struct CoverCase {
  const char* first;
  const char* last;
  std::vector<std::string> cidrs;
};

TEST(CoverRangeTest, MinimalCidrCover) {
  const CoverCase cases[] = {
      {"1.0.0.0", "1.0.0.255", {"1.0.0.0/24"}},
      {"1.0.0.0", "1.0.1.255", {"1.0.0.0/23"}},
      {"1.0.0.1",
       "1.0.0.6",
       {"1.0.0.1/32", "1.0.0.2/31", "1.0.0.4/31", "1.0.0.6/32"}},
      {"1.0.128.0",
       "1.0.196.255",
       {"1.0.128.0/18", "1.0.192.0/22", "1.0.196.0/24"}},
      {"0.0.0.0", "255.255.255.255", {"0.0.0.0/0"}},
      {"0.0.0.0", "127.255.255.255", {"0.0.0.0/1"}},
      {"255.255.255.255", "255.255.255.255", {"255.255.255.255/32"}},
      {"255.255.255.254", "255.255.255.255", {"255.255.255.254/31"}},
      {"0.0.0.1",
       "255.255.255.254",
       {"0.0.0.1/32",         "0.0.0.2/31",         "0.0.0.4/30",
        "0.0.0.8/29",         "0.0.0.16/28",        "0.0.0.32/27",
        "0.0.0.64/26",        "0.0.0.128/25",       "0.0.1.0/24",
        "0.0.2.0/23",         "0.0.4.0/22",         "0.0.8.0/21",
        "0.0.16.0/20",        "0.0.32.0/19",        "0.0.64.0/18",
        "0.0.128.0/17",       "0.1.0.0/16",         "0.2.0.0/15",
        "0.4.0.0/14",         "0.8.0.0/13",         "0.16.0.0/12",
        "0.32.0.0/11",        "0.64.0.0/10",        "0.128.0.0/9",
        "1.0.0.0/8",          "2.0.0.0/7",          "4.0.0.0/6",
        "8.0.0.0/5",          "16.0.0.0/4",         "32.0.0.0/3",
        "64.0.0.0/2",         "128.0.0.0/2",        "192.0.0.0/3",
        "224.0.0.0/4",        "240.0.0.0/5",        "248.0.0.0/6",
        "252.0.0.0/7",        "254.0.0.0/8",        "255.0.0.0/9",
        "255.128.0.0/10",     "255.192.0.0/11",     "255.224.0.0/12",
        "255.240.0.0/13",     "255.248.0.0/14",     "255.252.0.0/15",
        "255.254.0.0/16",     "255.255.0.0/17",     "255.255.128.0/18",
        "255.255.192.0/19",   "255.255.224.0/20",   "255.255.240.0/21",
        "255.255.248.0/22",   "255.255.252.0/23",   "255.255.254.0/24",
        "255.255.255.0/25",   "255.255.255.128/26", "255.255.255.192/27",
        "255.255.255.224/28", "255.255.255.240/29", "255.255.255.248/30",
        "255.255.255.252/31", "255.255.255.254/32"}},
      {"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", {"::/0"}},
      {"8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", {"8000::/1"}},
      {"2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", {"2001:db8::/64"}},
      {"2001:200:1bb::",
       "2001:200:dff:ffff:ffff:ffff:ffff:ffff",
       {"2001:200:1bb::/48", "2001:200:1bc::/46", "2001:200:1c0::/42",
        "2001:200:200::/39", "2001:200:400::/38", "2001:200:800::/38",
        "2001:200:c00::/39"}},
      {"::1", "::2", {"::1/128", "::2/128"}},
  };
  for (const CoverCase& c : cases) {
    SCOPED_TRACE(std::string(c.first) + " - " + c.last);
    Result<std::vector<net::Cidr>> got = CoverRange(Ip(c.first), Ip(c.last));
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    std::vector<std::string> text;
    for (const net::Cidr& n : *got) text.push_back(n.ToString());
    EXPECT_EQ(text, c.cidrs);
  }
}

TEST(CoverRangeTest, RejectsReversedAndMixedRanges) {
  Result<std::vector<net::Cidr>> reversed =
      CoverRange(Ip("10.0.0.2"), Ip("10.0.0.1"));
  ASSERT_FALSE(reversed.ok());
  EXPECT_THAT(reversed.error().message(), HasSubstr("ends before it starts"));
  Result<std::vector<net::Cidr>> mixed = CoverRange(Ip("10.0.0.1"), Ip("::1"));
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.error().message(), HasSubstr("mixes IPv4 and IPv6"));
}

TEST_F(MmdbWriterTest, InsertRangeCoversExactlyTheRange) {
  MmdbWriter w(Options());
  ASSERT_TRUE(
      w.InsertRange(Ip("1.0.128.0"), Ip("1.0.196.255"), Tag("range")).ok());
  ASSERT_TRUE(
      w.InsertRange(Ip("2001:db8::5"), Ip("2001:db8::9"), Tag("r6")).ok());
  EXPECT_FALSE(w.InsertRange(Ip("1.0.0.9"), Ip("1.0.0.1"), Tag("x")).ok());
  Db db(Write(w));
  EXPECT_EQ(db.TagOf("1.0.127.255"), std::nullopt);
  EXPECT_EQ(db.TagOf("1.0.128.0"), "range");
  EXPECT_EQ(db.TagOf("1.0.196.255"), "range");
  EXPECT_EQ(db.TagOf("1.0.197.0"), std::nullopt);
  EXPECT_EQ(db.TagOf("2001:db8::4"), std::nullopt);
  EXPECT_EQ(db.TagOf("2001:db8::5"), "r6");
  EXPECT_EQ(db.TagOf("2001:db8::9"), "r6");
  EXPECT_EQ(db.TagOf("2001:db8::a"), std::nullopt);
}

// Looks up `path` (keys; array indices as decimal strings) in `entry`.
MMDB_entry_data_s Value(MMDB_entry_s* entry, std::vector<const char*> path) {
  path.push_back(nullptr);
  MMDB_entry_data_s d{};
  EXPECT_EQ(MMDB_aget_value(entry, &d, path.data()), MMDB_SUCCESS) << path[0];
  EXPECT_TRUE(d.has_data) << path[0];
  return d;
}

std::string Str(const MMDB_entry_data_s& d) {
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_UTF8_STRING);
  return std::string(d.utf8_string, d.data_size);
}

TEST_F(MmdbWriterTest, AllValueTypesRoundTrip) {
  const std::string s300(300, 'm');      // one size byte
  const std::string s70000(70000, 'L');  // three size bytes
  MmdbValue::Array many;
  for (uint32_t i = 0; i < 300; ++i) many.emplace_back(i);
  MmdbValue::Map value{
      {"empty_string", ""},
      {"string", "h\xC3\xA9llo"},
      {"s300", s300},
      {"s70000", s70000},
      {"u32_zero", uint32_t{0}},
      {"u32_small", uint32_t{255}},
      {"u32_mid", uint32_t{70000}},
      {"u32_max", UINT32_MAX},
      {"u64_zero", uint64_t{0}},
      {"u64_max", UINT64_MAX},
      {"double", 3.5},
      {"negative_double", -0.25},
      {"true", true},
      {"false", false},
      {"empty_map", MmdbValue::Map{}},
      {"empty_array", MmdbValue::Array{}},
      {"nested", MmdbValue::Map{{"names", MmdbValue::Map{{"en", "Berlin"}}}}},
      {"mixed",
       MmdbValue::Array{"a", uint32_t{7}, true, MmdbValue::Map{{"k", "v"}}}},
      {"many", many},
  };
  MmdbWriter w(Options());
  ASSERT_TRUE(w.Insert(Net("192.0.2.0/24"), value).ok());
  Db db(Write(w));
  MMDB_lookup_result_s r = db.Lookup("192.0.2.1");
  ASSERT_TRUE(r.found_entry);
  MMDB_entry_s* e = &r.entry;

  EXPECT_EQ(Str(Value(e, {"empty_string"})), "");
  EXPECT_EQ(Str(Value(e, {"string"})), "h\xC3\xA9llo");
  EXPECT_EQ(Str(Value(e, {"s300"})), s300);
  EXPECT_EQ(Str(Value(e, {"s70000"})), s70000);
  for (auto [key, want] : {std::pair{"u32_zero", 0u},
                           {"u32_small", 255u},
                           {"u32_mid", 70000u},
                           {"u32_max", UINT32_MAX}}) {
    MMDB_entry_data_s d = Value(e, {key});
    EXPECT_EQ(d.type, MMDB_DATA_TYPE_UINT32) << key;
    EXPECT_EQ(d.uint32, want) << key;
  }
  MMDB_entry_data_s d = Value(e, {"u64_zero"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_UINT64);
  EXPECT_EQ(d.uint64, 0u);
  d = Value(e, {"u64_max"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_UINT64);
  EXPECT_EQ(d.uint64, UINT64_MAX);
  d = Value(e, {"double"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_DOUBLE);
  EXPECT_EQ(d.double_value, 3.5);
  d = Value(e, {"negative_double"});
  EXPECT_EQ(d.double_value, -0.25);
  d = Value(e, {"true"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_BOOLEAN);
  EXPECT_TRUE(d.boolean);
  d = Value(e, {"false"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_BOOLEAN);
  EXPECT_FALSE(d.boolean);
  d = Value(e, {"empty_map"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_MAP);
  EXPECT_EQ(d.data_size, 0u);
  d = Value(e, {"empty_array"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_ARRAY);
  EXPECT_EQ(d.data_size, 0u);
  EXPECT_EQ(Str(Value(e, {"nested", "names", "en"})), "Berlin");
  EXPECT_EQ(Str(Value(e, {"mixed", "0"})), "a");
  EXPECT_EQ(Value(e, {"mixed", "1"}).uint32, 7u);
  EXPECT_TRUE(Value(e, {"mixed", "2"}).boolean);
  EXPECT_EQ(Str(Value(e, {"mixed", "3", "k"})), "v");
  d = Value(e, {"many"});
  EXPECT_EQ(d.type, MMDB_DATA_TYPE_ARRAY);
  EXPECT_EQ(d.data_size, 300u);
  EXPECT_EQ(Value(e, {"many", "299"}).uint32, 299u);

  // The whole record decodes (every pointer resolves) and has 19 keys.
  MMDB_entry_data_list_s* list = nullptr;
  ASSERT_EQ(MMDB_get_entry_data_list(e, &list), MMDB_SUCCESS);
  EXPECT_EQ(list->entry_data.type, MMDB_DATA_TYPE_MAP);
  EXPECT_EQ(list->entry_data.data_size, 19u);
  MMDB_free_entry_data_list(list);
}

TEST_F(MmdbWriterTest, RejectsValuesTheFormatCannotHold) {
  MmdbWriter w(Options());
  Status s = w.Insert(Net("192.0.2.0/24"), std::string(16843037, 'x'));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("too large"));
}

size_t CountOccurrences(const std::string& haystack,
                        const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST_F(MmdbWriterTest, IdenticalValuesAndInnerStringsAreStoredOnce) {
  const std::string org = "A Rather Long Autonomous System Organisation Name";
  auto build = [&](bool distinct) {
    MmdbWriter w(Options(4));
    for (uint32_t i = 0; i < 1000; ++i) {
      // Non-adjacent networks, so nothing merges in the tree.
      const std::array<uint8_t, 4> b{10, static_cast<uint8_t>(i >> 7),
                                     static_cast<uint8_t>((i & 0x7f) << 1), 0};
      MmdbValue::Map v{
          {"autonomous_system_organization", org},
          {"autonomous_system_number", distinct ? i : uint32_t{64500}}};
      EXPECT_TRUE(w.Insert(net::Cidr(net::IpAddress::V4(b), 24), v).ok());
    }
    Result<std::string> bytes = w.Serialize();
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::string();
  };
  const std::string same = build(false);
  const std::string distinct = build(true);
  // One record for all 1000 networks; the distinct records share the
  // organisation string and the key strings through pointers.
  EXPECT_EQ(CountOccurrences(same, org), 1u);
  EXPECT_EQ(CountOccurrences(distinct, org), 1u);
  EXPECT_EQ(CountOccurrences(distinct, "autonomous_system_number"), 1u);
  EXPECT_LT(same.size(), distinct.size());
  // 1000 records of a few bytes each (map, pointers, number), far less than
  // 1000 copies of the organisation.
  EXPECT_LT(distinct.size() - same.size(), 1000 * 12u);

  // Every record still reads back.
  const std::string path = Path("distinct.mmdb");
  std::ofstream(path, std::ios::binary) << distinct;
  Db db(path);
  MMDB_lookup_result_s r = db.Lookup("10.7.206.1");  // i = 999
  ASSERT_TRUE(r.found_entry);
  EXPECT_EQ(Str(Value(&r.entry, {"autonomous_system_organization"})), org);
  EXPECT_EQ(Value(&r.entry, {"autonomous_system_number"}).uint32, 999u);
}

TEST_F(MmdbWriterTest, OverriddenValuesAreNotWritten) {
  MmdbWriter w(Options(4));
  ASSERT_TRUE(w.Insert(Net("10.1.0.0/16"), Tag("gone-away-value")).ok());
  ASSERT_TRUE(w.Insert(Net("10.0.0.0/8"), Tag("kept")).ok());
  Result<std::string> bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(CountOccurrences(*bytes, "gone-away-value"), 0u);
  EXPECT_EQ(CountOccurrences(*bytes, "kept"), 1u);
}

// Every record is a node index, node_count ("no data") or a data pointer.
void ExpectWellFormedTree(Db* db) {
  const uint32_t node_count = db->metadata().node_count;
  int empty = 0;
  for (uint32_t n = 0; n < node_count; ++n) {
    MMDB_search_node_s node;
    ASSERT_EQ(MMDB_read_node(db->mmdb(), n, &node), MMDB_SUCCESS);
    for (auto [type, record] :
         {std::pair{node.left_record_type, node.left_record},
          {node.right_record_type, node.right_record}}) {
      ASSERT_NE(type, MMDB_RECORD_TYPE_INVALID) << "node " << n;
      if (type == MMDB_RECORD_TYPE_EMPTY) {
        EXPECT_EQ(record, node_count);
        ++empty;
      }
    }
  }
  EXPECT_GT(empty, 0);
}

TEST_F(MmdbWriterTest, EmptyRecordsPointAtNodeCount) {
  MmdbWriter w(Options());
  ASSERT_TRUE(w.Insert(Net("192.0.2.0/24"), Tag("a")).ok());
  ASSERT_TRUE(w.Insert(Net("2001:db8::/32"), Tag("b")).ok());
  Db db(Write(w));
  ExpectWellFormedTree(&db);
}

TEST_F(MmdbWriterTest, ForcedRecordSizesRoundTrip) {
  for (int size : {24, 28, 32}) {
    SCOPED_TRACE(size);
    MmdbWriter w(Options(6, size));
    for (int i = 0; i < 64; ++i) {
      const std::array<uint8_t, 4> b{198, 18, static_cast<uint8_t>(i * 4), 0};
      ASSERT_TRUE(w.Insert(net::Cidr(net::IpAddress::V4(b), 24),
                           Tag("n" + std::to_string(i)))
                      .ok());
    }
    ASSERT_TRUE(w.Insert(Net("2001:db8::/48"), Tag("v6")).ok());
    Db db(Write(w, "r" + std::to_string(size) + ".mmdb"));
    ASSERT_TRUE(db.open());
    EXPECT_EQ(db.metadata().record_size, size);
    EXPECT_EQ(db.TagOf("198.18.252.9"), "n63");
    EXPECT_EQ(db.TagOf("198.18.4.1"), "n1");
    EXPECT_EQ(db.TagOf("198.18.5.1"), std::nullopt);
    EXPECT_EQ(db.TagOf("2001:db8:0:1::"), "v6");
    ExpectWellFormedTree(&db);
  }
}

// A data section beyond 2^24 bytes needs 28-bit records: pointers past the
// 24-bit range must read back, and a forced 24-bit size must fail.
TEST_F(MmdbWriterTest, RecordSizeGrowsWithTheDataSection) {
  auto fill = [](MmdbWriter* w) {
    for (int i = 0; i < 290; ++i) {
      std::string big(60000, static_cast<char>('a' + i % 26));
      big += std::to_string(i);
      const std::array<uint8_t, 4> b{10, static_cast<uint8_t>(i >> 8),
                                     static_cast<uint8_t>(i), 0};
      ASSERT_TRUE(w->Insert(net::Cidr(net::IpAddress::V4(b), 24),
                            MmdbValue::Map{{"tag", big}})
                      .ok());
    }
  };
  MmdbWriter automatic(Options());
  fill(&automatic);
  Db db(Write(automatic));
  ASSERT_TRUE(db.open());
  EXPECT_EQ(db.metadata().record_size, 28);
  std::optional<std::string> last = db.TagOf("10.1.33.1");  // i = 289
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->size(), 60003u);
  EXPECT_EQ(last->substr(59998), "dd289");

  MmdbWriter forced(Options(6, 24));
  fill(&forced);
  Result<std::string> bytes = forced.Serialize();
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.error().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(bytes.error().message(), HasSubstr("record size 24"));
}

TEST_F(MmdbWriterTest, BuildEpochDefaultsToNow) {
  MmdbWriter w(Options());
  ASSERT_TRUE(w.Insert(Net("192.0.2.0/24"), Tag("a")).ok());
  const auto before = static_cast<uint64_t>(std::time(nullptr));
  Db db(Write(w));
  EXPECT_GE(db.metadata().build_epoch, before);
  EXPECT_LE(db.metadata().build_epoch, before + 60);
}

TEST_F(MmdbWriterTest, EmptyTreeIsAValidDatabase) {
  MmdbWriter w(Options());
  Db db(Write(w));
  ASSERT_TRUE(db.open());
  EXPECT_EQ(db.TagOf("192.0.2.1"), std::nullopt);
  EXPECT_EQ(db.TagOf("2001:db8::1"), std::nullopt);
}

TEST_F(MmdbWriterTest, BadOptionsFail) {
  MmdbWriter w(Options(5));
  EXPECT_EQ(w.Insert(Net("192.0.2.0/24"), Tag("a")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(w.Serialize().ok());
  MmdbWriter r(Options(6, 26));
  EXPECT_THAT(r.Serialize().error().message(), HasSubstr("record_size"));
}

TEST_F(MmdbWriterTest, WriteFileNamesThePathOnFailure) {
  MmdbWriter w(Options());
  const std::string path = Path("missing-dir/x.mmdb");
  Status s = w.WriteFile(path);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(path));
}

}  // namespace
}  // namespace hl::geo
