#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace hl {
namespace {

using ::testing::HasSubstr;

constexpr char kOrigin[] = "test.toml";
constexpr char kBase[] = "/etc/hostlocator";

Result<Config> Parse(const std::string& text) {
  return ParseConfig(text, kOrigin, kBase);
}

// Every field but digest; gtest prints the section that differs.
void ExpectSameFields(const Config& actual, const Config& expected) {
  EXPECT_EQ(actual.resolver, expected.resolver);
  EXPECT_EQ(actual.http, expected.http);
  EXPECT_EQ(actual.safety, expected.safety);
  EXPECT_EQ(actual.geo.country, expected.geo.country);
  EXPECT_EQ(actual.geo.asn, expected.geo.asn);
  EXPECT_EQ(actual.geo.city, expected.geo.city);
  EXPECT_EQ(actual.providers, expected.providers);
  EXPECT_EQ(actual.rdap, expected.rdap);
  EXPECT_EQ(actual.coordinator, expected.coordinator);
  EXPECT_EQ(actual.history, expected.history);
  EXPECT_EQ(actual.run, expected.run);
}

TEST(ConfigTest, DefaultsAreDocumentedValues) {
  Config c = DefaultConfig();
  EXPECT_TRUE(c.resolver.servers.empty());
  EXPECT_EQ(c.resolver.timeout_ms, 2000u);
  EXPECT_EQ(c.resolver.tries, 2u);
  EXPECT_EQ(c.http.connect_timeout_ms, 5000u);
  EXPECT_EQ(c.http.timeout_ms, 10000u);
  EXPECT_THAT(c.http.user_agent, HasSubstr("Windows NT 10.0"));
  EXPECT_THAT(c.http.user_agent, HasSubstr("Firefox/"));
  EXPECT_EQ(c.http.max_header_bytes, 65536u);
  EXPECT_EQ(c.http.max_redirects, 10u);
  EXPECT_TRUE(c.safety.allow_cidrs.empty());
  EXPECT_EQ(c.geo.country,
            std::vector<std::string>{"data/geo/dbip-country.mmdb"});
  EXPECT_EQ(c.geo.asn, std::vector<std::string>{"data/geo/asn.mmdb"});
  EXPECT_TRUE(c.geo.city.empty());
  EXPECT_EQ(c.providers.file,
            std::string(HL_SOURCE_DIR) + "/config/providers.toml");
  EXPECT_EQ(c.worker.threads, 0u);
  EXPECT_EQ(c.worker.max_in_flight, 1000u);
  EXPECT_FALSE(c.worker.dns_only);
  EXPECT_EQ(c.resolver.mode, ResolverMode::kRoundRobin);
  EXPECT_EQ(c.resolver.max_in_flight, 256u);
  EXPECT_EQ(c.http.max_in_flight, 1000u);
  EXPECT_TRUE(c.rdap.enabled);
  EXPECT_EQ(c.rdap.bootstrap_dir, std::string(HL_SOURCE_DIR) + "/config/rdap");
  EXPECT_EQ(c.rdap.cache_ttl_s, 86400u);
  EXPECT_EQ(c.rdap.negative_cache_ttl_s, 3600u);
  EXPECT_EQ(c.rdap.timeout_ms, 10000u);
  EXPECT_EQ(c.rdap.min_interval_ms, 1000u);
  EXPECT_EQ(c.rdap.max_wait_s, 120u);
  EXPECT_EQ(c.http.proxy, "");
  EXPECT_FALSE(c.http.require_proxy);
  EXPECT_EQ(c.politeness.max_per_host, 4u);
  EXPECT_EQ(c.politeness.max_per_address, 32u);
  EXPECT_EQ(c.politeness.min_host_interval_ms, 0u);
  EXPECT_EQ(c.coordinator.listen, "tcp://127.0.0.1:5555");
  EXPECT_EQ(c.coordinator.secret_key_file, "");
  EXPECT_TRUE(c.coordinator.authorized_keys.empty());
  EXPECT_FALSE(c.coordinator.allow_plaintext);
  EXPECT_EQ(c.worker.secret_key_file, "");
  EXPECT_EQ(c.worker.coordinator_public_key_file, "");
  EXPECT_FALSE(c.worker.allow_plaintext);
  EXPECT_EQ(c.digest, ConfigDigest(c));
  EXPECT_EQ(c.digest.size(), 64u);
}

TEST(ConfigTest, DefaultFileParsesToDefaultConfig) {
  const std::string root = HL_SOURCE_DIR;
  Result<Config> loaded = LoadConfigFile(root + "/config/hostlocator.toml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();

  // The defaults' [geo] paths are relative to the repository root; the file
  // writes them relative to config/.
  Config expected = DefaultConfig();
  for (auto* list : {&expected.geo.country, &expected.geo.asn}) {
    for (std::string& p : *list) {
      p = (std::filesystem::path(root) / p).lexically_normal().string();
    }
  }
  expected.digest = ConfigDigest(expected);
  ExpectSameFields(*loaded, expected);
  EXPECT_EQ(loaded->digest, expected.digest);
}

TEST(ConfigTest, EmptyTextGivesDefaultsAndTheirDigest) {
  Result<Config> c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectSameFields(*c, DefaultConfig());
  EXPECT_EQ(c->digest, DefaultConfig().digest);
}

struct ValidCase {
  std::string name;
  std::string text;
  std::function<void(const Config&)> check;
};

TEST(ConfigTest, ValidFiles) {
  const std::vector<ValidCase> cases = {
      {"rdap settings, the bootstrap relative to the file",
       "[rdap]\nenabled = false\nbootstrap_dir = \"iana\"\ncache_ttl_s = 60\n"
       "negative_cache_ttl_s = 5\ntimeout_ms = 3000\nmin_interval_ms = 0\n"
       "max_wait_s = 0\n",
       [](const Config& c) {
         EXPECT_FALSE(c.rdap.enabled);
         EXPECT_EQ(c.rdap.bootstrap_dir, std::string(kBase) + "/iana");
         EXPECT_EQ(c.rdap.cache_ttl_s, 60u);
         EXPECT_EQ(c.rdap.negative_cache_ttl_s, 5u);
         EXPECT_EQ(c.rdap.timeout_ms, 3000u);
         EXPECT_EQ(c.rdap.min_interval_ms, 0u);
         EXPECT_EQ(c.rdap.max_wait_s, 0u);
       }},
      {"resolver servers are canonicalised",
       "[resolver]\nservers = [\"192.0.2.53:53\", \"[2001:DB8:0::53]:5353\"]\n"
       "timeout_ms = 1\ntries = 10\n",
       [](const Config& c) {
         EXPECT_EQ(c.resolver.servers,
                   (std::vector<std::string>{"192.0.2.53:53",
                                             "[2001:db8::53]:5353"}));
         EXPECT_EQ(c.resolver.timeout_ms, 1u);
         EXPECT_EQ(c.resolver.tries, 10u);
       }},
      {"fleet settings, key paths relative to the file",
       "[coordinator]\nlisten = \"tcp://0.0.0.0:5555\"\n"
       "secret_key_file = \"keys/c.key\"\n"
       "authorized_keys = [\"keys/workers\", \"/etc/w.pub\"]\n"
       "allow_plaintext = true\n"
       "signing_key_file = \"keys/signing.key\"\n"
       "[worker]\nsecret_key_file = \"keys/w.key\"\n"
       "coordinator_public_key_file = \"keys/c.pub\"\n",
       [](const Config& c) {
         EXPECT_EQ(c.coordinator.listen, "tcp://0.0.0.0:5555");
         EXPECT_EQ(c.coordinator.secret_key_file,
                   std::string(kBase) + "/keys/c.key");
         EXPECT_EQ(c.coordinator.authorized_keys,
                   (std::vector<std::string>{
                       std::string(kBase) + "/keys/workers", "/etc/w.pub"}));
         EXPECT_TRUE(c.coordinator.allow_plaintext);
         EXPECT_EQ(c.coordinator.signing_key_file,
                   std::string(kBase) + "/keys/signing.key");
         EXPECT_EQ(c.worker.coordinator_public_key_file,
                   std::string(kBase) + "/keys/c.pub");
       }},
      {"http limits at their bounds",
       "[http]\nconnect_timeout_ms = 600000\ntimeout_ms = 600000\n"
       "max_header_bytes = 1024\nuser_agent = \"probe/1.0\"\n"
       "[coordinator]\nlease_timeout_ms = 3600000\n"
       "[worker]\nprobe_timeout_ms = 1200000\n",
       [](const Config& c) {
         EXPECT_EQ(c.http.connect_timeout_ms, 600000u);
         EXPECT_EQ(c.http.timeout_ms, 600000u);
         EXPECT_EQ(c.http.max_header_bytes, 1024u);
         EXPECT_EQ(c.http.user_agent, "probe/1.0");
       }},
      {"geo paths resolve against the base directory",
       "[geo]\ncountry = [\"db/v4.mmdb\", \"/abs/v6.mmdb\"]\n"
       "asn = []\ncity = [\"../city.mmdb\"]\n",
       [](const Config& c) {
         EXPECT_EQ(c.geo.country,
                   (std::vector<std::string>{"/etc/hostlocator/db/v4.mmdb",
                                             "/abs/v6.mmdb"}));
         EXPECT_TRUE(c.geo.asn.empty());
         EXPECT_EQ(c.geo.city, std::vector<std::string>{"/etc/city.mmdb"});
       }},
      {"http.ca_file resolves against the base directory",
       "[http]\nca_file = \"tls/ca.pem\"\n",
       [](const Config& c) {
         EXPECT_EQ(c.http.ca_file, "/etc/hostlocator/tls/ca.pem");
       }},
      {"an absolute http.ca_file stays as written",
       "[http]\nca_file = \"/srv/ca.pem\"\n",
       [](const Config& c) { EXPECT_EQ(c.http.ca_file, "/srv/ca.pem"); }},
      {"an empty http.ca_file is the system store", "[http]\nca_file = \"\"\n",
       [](const Config& c) { EXPECT_EQ(c.http.ca_file, ""); }},
      {"providers.file resolves against the base directory",
       "[providers]\nfile = \"sig/providers.toml\"\n",
       [](const Config& c) {
         EXPECT_EQ(c.providers.file, "/etc/hostlocator/sig/providers.toml");
       }},
      {"referral settings: directory against the base directory, home country",
       "[referral]\ndirectory = \"ref.toml\"\nhome_country = \"DE\"\n",
       [](const Config& c) {
         EXPECT_EQ(c.referral.directory, "/etc/hostlocator/ref.toml");
         EXPECT_EQ(c.referral.home_country, "DE");
       }},
      {"run directories stay as written",
       "[run]\ndata_dir = \"var/data\"\noutput_dir = \"out\"\n",
       [](const Config& c) {
         EXPECT_EQ(c.run.data_dir, "var/data");
         EXPECT_EQ(c.run.output_dir, "out");
       }},
      {"worker values",
       "[worker]\nthreads = 256\nmax_in_flight = 20000\ndns_only = true\n"
       "probe_timeout_ms = 14000\n",
       [](const Config& c) {
         EXPECT_EQ(c.worker.probe_timeout_ms, 14000u);
         EXPECT_EQ(c.worker.threads, 256u);
         EXPECT_EQ(c.worker.max_in_flight, 20000u);
         EXPECT_TRUE(c.worker.dns_only);
       }},
      {"resolver mode and in-flight limit",
       "[resolver]\nmode = \"all\"\nmax_in_flight = 1\n",
       [](const Config& c) {
         EXPECT_EQ(c.resolver.mode, ResolverMode::kAll);
         EXPECT_EQ(c.resolver.max_in_flight, 1u);
       }},
      {"an HTTP proxy is stored canonically",
       "[http]\nproxy = \"http://192.0.2.8:3128/\"\nrequire_proxy = true\n"
       "max_in_flight = 20000\n",
       [](const Config& c) {
         EXPECT_EQ(c.http.proxy, "http://192.0.2.8:3128");
         EXPECT_TRUE(c.http.require_proxy);
         EXPECT_EQ(c.http.max_in_flight, 20000u);
       }},
      {"a SOCKS5 proxy on IPv6",
       "[http]\nproxy = \"socks5://[2001:DB8::1]:1080\"\n",
       [](const Config& c) {
         EXPECT_EQ(c.http.proxy, "socks5://[2001:db8::1]:1080");
       }},
      {"politeness values",
       "[politeness]\nmax_per_host = 1\nmax_per_address = 10000\n"
       "min_host_interval_ms = 250\n",
       [](const Config& c) {
         EXPECT_EQ(c.politeness.max_per_host, 1u);
         EXPECT_EQ(c.politeness.max_per_address, 10000u);
         EXPECT_EQ(c.politeness.min_host_interval_ms, 250u);
       }},
      {"coordinator values",
       "[coordinator]\nlease_timeout_ms = 60000\nheartbeat_interval_ms = 10\n"
       "heartbeat_liveness = 1\nmax_attempts = 100\nmax_result_age_s = 0\n"
       "recheck_interval_s = 604800\nretention_days = 365\n",
       [](const Config& c) {
         EXPECT_EQ(c.coordinator.lease_timeout_ms, 60000u);
         EXPECT_EQ(c.coordinator.heartbeat_interval_ms, 10u);
         EXPECT_EQ(c.coordinator.heartbeat_liveness, 1u);
         EXPECT_EQ(c.coordinator.max_attempts, 100u);
         EXPECT_EQ(c.coordinator.max_result_age_s, 0u);
         EXPECT_EQ(c.coordinator.recheck_interval_s, 604800u);
         EXPECT_EQ(c.coordinator.retention_days, 365u);
       }},
      {"history values",
       "[history]\nflux_min_addresses = 20\nflux_min_answer_addresses = 8\n"
       "flux_max_ttl_s = 0\nflux_min_networks = 1\nflux_min_countries = 2\n"
       "geo_max_age_days = 7\nasn_max_age_days = 14\n"
       "providers_max_age_days = 365\n",
       [](const Config& c) {
         EXPECT_EQ(c.history.flux_min_addresses, 20u);
         EXPECT_EQ(c.history.flux_min_answer_addresses, 8u);
         EXPECT_EQ(c.history.flux_max_ttl_s, 0u);
         EXPECT_EQ(c.history.flux_min_networks, 1u);
         EXPECT_EQ(c.history.flux_min_countries, 2u);
         EXPECT_EQ(c.history.geo_max_age_days, 7u);
         EXPECT_EQ(c.history.asn_max_age_days, 14u);
         EXPECT_EQ(c.history.providers_max_age_days, 365u);
         EXPECT_NE(c.digest, DefaultConfig().digest);
       }},
      {"fleet politeness values",
       "[politeness]\nfleet_max_per_host = 0\nfleet_max_per_domain = 5\n"
       "fleet_max_per_address = 100000\n",
       [](const Config& c) {
         EXPECT_EQ(c.politeness.fleet_max_per_host, 0u);
         EXPECT_EQ(c.politeness.fleet_max_per_domain, 5u);
         EXPECT_EQ(c.politeness.fleet_max_per_address, 100000u);
       }},
      {"dotted keys and inline tables",
       "http.timeout_ms = 20000\nworker = { threads = 4 }\n",
       [](const Config& c) {
         EXPECT_EQ(c.http.timeout_ms, 20000u);
         EXPECT_EQ(c.worker.threads, 4u);
       }},
      {"a key left out keeps its default", "[http]\ntimeout_ms = 30000\n",
       [](const Config& c) {
         EXPECT_EQ(c.http.connect_timeout_ms, 5000u);
         EXPECT_EQ(c.http.user_agent, DefaultConfig().http.user_agent);
       }},
  };
  for (const ValidCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    Result<Config> c = Parse(tc.text);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    tc.check(*c);
    EXPECT_EQ(c->digest, ConfigDigest(*c));
  }
}

TEST(ConfigTest, AllowCidrsParse) {
  Result<Config> c = Parse(
      "[safety]\nallow_cidrs = [\"127.0.0.0/8\", \"fd00::/8\", "
      "\"10.1.2.3\"]\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->safety.allow_cidrs.size(), 3u);
  EXPECT_EQ(c->safety.allow_cidrs[0].ToString(), "127.0.0.0/8");
  EXPECT_EQ(c->safety.allow_cidrs[1].ToString(), "fd00::/8");
  EXPECT_EQ(c->safety.allow_cidrs[2].prefix_len(), 32);
  EXPECT_TRUE(
      c->safety.allow_cidrs[0].Contains(*net::IpAddress::Parse("127.1.2.3")));
}

struct ErrorCase {
  std::string text;
  std::vector<std::string> parts;  // each must occur in the message
};

TEST(ConfigTest, ErrorsNameTheKeyAndWhatIsExpected) {
  const std::vector<ErrorCase> cases = {
      // Unknown keys, at every level.
      {"timeout = 5\n",
       {"test.toml:1:1: ", "unknown key \"timeout\"",
        "known sections: resolver, http, safety, politeness, geo, providers, "
        "referral, rdap, "
        "coordinator, history, worker, api, run"}},
      {"[rdap]\ncache_ttl_s = 0\n",
       {"test.toml:2:15: ", "bad value for \"rdap.cache_ttl_s\"",
        "expected an integer from 1 to 2592000 (seconds)"}},
      {"[rdap]\nenabled = \"yes\"\n", {"bad value for \"rdap.enabled\""}},
      {"[rdap]\nbootstrap = \"x\"\n",
       {"unknown key \"rdap.bootstrap\"",
        "enabled, bootstrap_dir, cache_ttl_s, negative_cache_ttl_s, "
        "timeout_ms, min_interval_ms, max_wait_s"}},
      {"[http]\ntimeout = 5\n",
       {"test.toml:2:1: ", "unknown key \"http.timeout\"",
        "(known keys in [http]: connect_timeout_ms, timeout_ms, user_agent, "
        "max_redirects, max_header_bytes, ca_file, max_in_flight, proxy, "
        "require_proxy)"}},
      {"[resolver]\nserver = []\n",
       {"unknown key \"resolver.server\"", "servers, timeout_ms, tries"}},
      {"[safety]\nallow = []\n", {"unknown key \"safety.allow\""}},
      {"[geo]\ncountries = []\n",
       {"unknown key \"geo.countries\"", "country, asn, city"}},
      {"[coordinator]\nlease_ms = 1\n",
       {"unknown key \"coordinator.lease_ms\""}},
      {"[run]\nthreads = 1\n", {"unknown key \"run.threads\""}},
      {"[http.tls]\nverify = true\n", {"unknown key \"http.tls\""}},
      {"[logging]\nlevel = \"info\"\n", {"unknown key \"logging\""}},
      // Sections of the wrong type.
      {"http = 5\n", {"\"http\"", "expected a table ([http])", "an integer"}},
      {"[[run]]\nworkers = 1\n", {"\"run\"", "expected a table"}},
      // Wrong types.
      {"[resolver]\ntimeout_ms = \"2000\"\n",
       {"test.toml:2:14: ", "bad value for \"resolver.timeout_ms\"",
        "expected an integer from 1 to 600000 (milliseconds); got a string"}},
      {"[resolver]\ntries = 2.0\n",
       {"\"resolver.tries\"", "got a floating-point number"}},
      {"[resolver]\nservers = \"192.0.2.53:53\"\n",
       {"\"resolver.servers\"", "expected an array"}},
      {"[http]\nuser_agent = 5\n", {"\"http.user_agent\"", "got an integer"}},
      {"[http]\nca_file = [\"ca.pem\"]\n",
       {"\"http.ca_file\"", "a file path or \"\"", "got an array"}},
      {"[providers]\nfile = \"\"\n",
       {"\"providers.file\"", "a non-empty file path", "got \"\""}},
      {"[referral]\nhome_country = \"de\"\n",
       {"\"referral.home_country\"", "ISO 3166-1 alpha-2", "got \"de\""}},
      {"[referral]\nhome_country = \"DEU\"\n",
       {"\"referral.home_country\"", "got \"DEU\""}},
      {"[referral]\ndirectory = \"\"\n",
       {"\"referral.directory\"", "a non-empty file path"}},
      {"[providers]\nfiles = \"p.toml\"\n",
       {"unknown key \"providers.files\"",
        "(known keys in [providers]: file)"}},
      {"[safety]\nallow_cidrs = [8]\n",
       {"\"safety.allow_cidrs[0]\"", "CIDR", "got an integer"}},
      {"[geo]\ncountry = \"x.mmdb\"\n",
       {"\"geo.country\"", "array of file paths"}},
      {"[run]\ndata_dir = true\n", {"\"run.data_dir\"", "got a boolean"}},
      {"run.data_dir.x = 1\n", {"\"run.data_dir\"", "got a table"}},
      // Out of range.
      {"[resolver]\ntimeout_ms = 0\n",
       {"\"resolver.timeout_ms\"", "from 1 to 600000", "got 0"}},
      {"[resolver]\ntries = 11\n", {"\"resolver.tries\"", "got 11"}},
      {"[http]\nconnect_timeout_ms = 600001\n",
       {"\"http.connect_timeout_ms\"", "got 600001"}},
      {"[http]\ntimeout_ms = -1\n", {"\"http.timeout_ms\"", "got -1"}},
      {"[http]\nmax_header_bytes = 100\n",
       {"\"http.max_header_bytes\"", "from 1024 to 1048576 (bytes)"}},
      {"[coordinator]\nlease_timeout_ms = 999\n",
       {"\"coordinator.lease_timeout_ms\"", "got 999"}},
      {"[coordinator]\nheartbeat_interval_ms = 9\n",
       {"\"coordinator.heartbeat_interval_ms\""}},
      {"[coordinator]\nheartbeat_liveness = 0\n",
       {"\"coordinator.heartbeat_liveness\""}},
      {"[coordinator]\nlisten = \"10.0.0.5:5555\"\n",
       {"\"coordinator.listen\"", "a ZeroMQ endpoint"}},
      {"[coordinator]\nallow_plaintext = 1\n",
       {"\"coordinator.allow_plaintext\""}},
      {"[worker]\nsecret_key_file = \"w.key\"\n",
       {"\"worker.secret_key_file\"", "\"worker.coordinator_public_key_file\"",
        "hostlocator keys generate"}},
      {"[coordinator]\nmax_attempts = 101\n", {"\"coordinator.max_attempts\""}},
      {"[coordinator]\nretention_days = 100001\n",
       {"\"coordinator.retention_days\""}},
      {"[history]\ngeo_max_age_days = 0\n", {"\"history.geo_max_age_days\""}},
      {"[history]\nflux_max_ttl_s = 86401\n", {"\"history.flux_max_ttl_s\""}},
      {"[history]\nflux_min_networks = 0\n", {"\"history.flux_min_networks\""}},
      {"[history]\nfast_flux = true\n", {"history.fast_flux"}},
      {"[coordinator]\nrecheck_interval_s = -1\n",
       {"\"coordinator.recheck_interval_s\""}},
      {"[politeness]\nfleet_max_per_host = 100001\n",
       {"\"politeness.fleet_max_per_host\""}},
      {"[worker]\nthreads = 257\n", {"\"worker.threads\"", "from 0 to 256"}},
      {"[worker]\nmax_in_flight = 0\n", {"\"worker.max_in_flight\""}},
      {"[worker]\nthreads = 5000000000\n",
       {"\"worker.threads\"", "got 5000000000"}},
      {"[worker]\ndns_only = 1\n", {"\"worker.dns_only\"", "true or false"}},
      {"[run]\nworkers = 2\n", {"unknown key \"run.workers\""}},
      {"[resolver]\nmode = \"random\"\n",
       {"\"resolver.mode\"", "\"round_robin\" or \"all\""}},
      {"[resolver]\nmax_in_flight = 0\n", {"\"resolver.max_in_flight\""}},
      {"[http]\nproxy = \"http://proxy.example:3128\"\n",
       {"\"http.proxy\"", "with an IP address"}},
      {"[http]\nproxy = \"https://192.0.2.8:3128\"\n", {"\"http.proxy\""}},
      {"[http]\nproxy = \"socks5h://192.0.2.8:1080\"\n", {"\"http.proxy\""}},
      {"[http]\nrequire_proxy = true\n",
       {"\"http.require_proxy\" is true but \"http.proxy\" is empty"}},
      {"[politeness]\nmax_per_host = 0\n", {"\"politeness.max_per_host\""}},
      {"[politeness]\nmin_host_interval_ms = 600001\n",
       {"\"politeness.min_host_interval_ms\""}},
      // Bad strings.
      {"[http]\nuser_agent = \"\"\n",
       {"\"http.user_agent\"", "a non-empty string", "got \"\""}},
      {"[http]\nuser_agent = \"a\\r\\nX-Injected: 1\"\n",
       {"\"http.user_agent\"", "without control characters"}},
      {"[http]\nuser_agent = \"" + std::string(1025, 'a') + "\"\n",
       {"\"http.user_agent\"", "at most 1024 bytes"}},
      {"[run]\noutput_dir = \"\"\n", {"\"run.output_dir\"", "non-empty"}},
      {"[geo]\ncountry = []\n",
       {"\"geo.country\"", "a non-empty array of file paths",
        "got an empty array"}},
      {"[geo]\nasn = [\"\"]\n", {"\"geo.asn[0]\"", "a non-empty file path"}},
      // Resolver addresses.
      {"[resolver]\nservers = [\"192.0.2.53\"]\n",
       {"\"resolver.servers[0]\"", "\"address:port\"", "got \"192.0.2.53\""}},
      {"[resolver]\nservers = [\"192.0.2.53:53\", \"2001:db8::53:53\"]\n",
       {"\"resolver.servers[1]\"", "[2001:db8::53]:53"}},
      {"[resolver]\nservers = [\"[192.0.2.53]:53\"]\n",
       {"\"resolver.servers[0]\""}},
      {"[resolver]\nservers = [\"dns.example:53\"]\n",
       {"\"resolver.servers[0]\"", "IP address"}},
      {"[resolver]\nservers = [\"192.0.2.53:0\"]\n",
       {"\"resolver.servers[0]\""}},
      {"[resolver]\nservers = [\"192.0.2.53:65536\"]\n",
       {"\"resolver.servers[0]\""}},
      {"[resolver]\nservers = [\"192.0.2.53:+53\"]\n",
       {"\"resolver.servers[0]\""}},
      {"[resolver]\nservers = [\"[2001:db8::53]\"]\n",
       {"\"resolver.servers[0]\""}},
      {"[resolver]\nservers = [\"[2001:db8::53]:53x\"]\n",
       {"\"resolver.servers[0]\""}},
      // CIDRs (net::Cidr::Parse).
      {"[safety]\nallow_cidrs = [\"10.0.0.1/8\"]\n",
       {"\"safety.allow_cidrs[0]\"", "got \"10.0.0.1/8\""}},
      {"[safety]\nallow_cidrs = [\"127.0.0.0/8\", \"300.0.0.0/8\"]\n",
       {"\"safety.allow_cidrs[1]\"", "\"300.0.0.0/8\""}},
      {"[safety]\nallow_cidrs = [\"fd00::/129\"]\n",
       {"\"safety.allow_cidrs[0]\""}},
      // Relations between keys.
      {"[http]\nconnect_timeout_ms = 20000\ntimeout_ms = 10000\n",
       {"test.toml:2:22: ", "\"http.connect_timeout_ms\" (20000)",
        "must not exceed \"http.timeout_ms\" (10000)"}},
      {"[coordinator]\nlease_timeout_ms = 45000\n",
       {"\"coordinator.lease_timeout_ms\" (45000)",
        "must be greater than \"worker.probe_timeout_ms\" (45000)"}},
      {"[worker]\nprobe_timeout_ms = 13999\n",
       {"\"worker.probe_timeout_ms\" (13999)",
        "at least one request's slowest case", "= 14000"}},
      {"[worker]\nprobe_timeout_ms = 20000\n"
       "[http]\nproxy = \"http://192.0.2.8:3128\"\n",
       {"\"worker.probe_timeout_ms\" (20000)", "= 24000"}},
      // TOML syntax, with the position of the fault.
      {"[http]\ntimeout_ms = \n", {"test.toml:2:"}},
      {"[http]\ntimeout_ms = 1\ntimeout_ms = 2\n", {"test.toml:3:"}},
  };
  for (const ErrorCase& tc : cases) {
    SCOPED_TRACE(tc.text);
    Result<Config> c = Parse(tc.text);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    for (const std::string& part : tc.parts) {
      EXPECT_THAT(c.status().message(), HasSubstr(part));
    }
  }
}

TEST(ConfigTest, DigestIgnoresLayoutAndFollowsValues) {
  const std::string a =
      "[http]\ntimeout_ms = 20000\nuser_agent = \"probe/1\"\n"
      "[worker]\nthreads = 4\n";
  const std::string b =
      "# the same settings, another layout\n"
      "[worker]\n  threads   =   4   # comment\n\n"
      "[http]\nuser_agent = 'probe/1'\ntimeout_ms = 20_000\n";
  const std::string c =
      "http = { user_agent = \"probe/1\", timeout_ms = "
      "20000 }\nworker.threads = 4\n";
  Result<Config> ca = Parse(a), cb = Parse(b), cc = Parse(c);
  ASSERT_TRUE(ca.ok() && cb.ok() && cc.ok());
  EXPECT_EQ(ca->digest, cb->digest);
  EXPECT_EQ(ca->digest, cc->digest);

  // A value set to its default is the same configuration.
  Result<Config> with_default = Parse(a + "[resolver]\ntries = 2\n");
  ASSERT_TRUE(with_default.ok());
  EXPECT_EQ(with_default->digest, ca->digest);

  for (const std::string& changed :
       {std::string("[http]\ntimeout_ms = 20001\nuser_agent = \"probe/1\"\n"
                    "[worker]\nthreads = 4\n"),
        std::string("[http]\ntimeout_ms = 20000\nuser_agent = \"probe/2\"\n"
                    "[worker]\nthreads = 4\n"),
        a + "[safety]\nallow_cidrs = [\"127.0.0.0/8\"]\n",
        a + "[geo]\ncity = [\"c.mmdb\"]\n", a + "[resolver]\nmode = \"all\"\n",
        std::string("[http]\ntimeout_ms = 20000\nuser_agent = \"probe/1\"\n"
                    "proxy = \"socks5://192.0.2.8:1080\"\n"
                    "[worker]\nthreads = 4\n"),
        a + "[politeness]\nmax_per_host = 5\n", a + "dns_only = true\n"}) {
    SCOPED_TRACE(changed);
    Result<Config> other = Parse(changed);
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    EXPECT_NE(other->digest, ca->digest);
  }
}

TEST(ConfigTest, DigestDistinguishesListBoundaries) {
  Config one = DefaultConfig();
  one.geo.city = {"a\",\"b"};
  Config two = DefaultConfig();
  two.geo.city = {"a", "b"};
  EXPECT_NE(ConfigDigest(one), ConfigDigest(two));
}

TEST(ConfigTest, LoadConfigFileResolvesGeoAgainstItsDirectory) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("hl_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "conf");
  std::string file = (dir / "conf" / "h.toml").string();
  std::ofstream(file) << "[geo]\ncountry = [\"../geo/c.mmdb\"]\n"
                         "[run]\ndata_dir = \"data\"\n";
  Result<Config> c = LoadConfigFile(file);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->geo.country,
            std::vector<std::string>{(dir / "geo" / "c.mmdb").string()});
  EXPECT_EQ(c->geo.asn, DefaultConfig().geo.asn);  // not in the file
  EXPECT_EQ(c->run.data_dir, "data");
}

TEST(ConfigTest, LoadConfigFileNamesAMissingFile) {
  Result<Config> c = LoadConfigFile("/nonexistent/hostlocator.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/hostlocator.toml"));
}

TEST(ConfigTest, ParseErrorsUseTheOriginGivenByLoadConfigFile) {
  std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("hl_config_bad_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(file) << "[http]\ntimeout = 1\n";
  Result<Config> c = LoadConfigFile(file.string());
  std::filesystem::remove(file);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(),
              HasSubstr(file.string() + ":2:1: unknown key \"http.timeout\""));
}

}  // namespace
}  // namespace hl
