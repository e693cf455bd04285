// Runtime configuration, read from TOML (config/hostlocator.toml documents
// every key, its unit, range and default).
//
// Contract of ParseConfig:
// - the file is applied over DefaultConfig(); a key left out keeps its
//   default;
// - every key of the file must be known: an unknown key or section, at any
//   level, is an error naming its dotted path and the keys known there;
// - every value is checked for type and range; an error names the dotted
//   key (list items as "key[i]") and says what is expected;
// - messages start with "origin:line:col: " (or "origin: " where no position
//   is known), so the first error is the one clear startup message;
// - resolver servers are stored canonically ("192.0.2.53:53",
//   "[2001:db8::53]:53"), CIDRs in net::Cidr::ToString() form;
// - relative [geo] paths, http.ca_file, providers.file and
//   referral.directory written in the
//   file and rdap.bootstrap_dir resolve against base_dir (the file's directory
//   for LoadConfigFile); defaults not written in the file and
//   run.data_dir/run.output_dir stay as they are, relative to the working
//   directory;
// - digest is set to ConfigDigest() of the result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/geo/geo.h"
#include "common/history.h"
#include "common/net/ip.h"
#include "common/status.h"

namespace hl {

// How several resolver servers share the questions.
enum class ResolverMode {
  kRoundRobin,  // each question to the next server in turn; on a timeout,
                // the next one
  kAll,         // every question to every server; answers compared
};

struct ResolverConfig {
  std::vector<std::string> servers;  // "address:port"; empty = system's
  uint32_t timeout_ms = 2000;        // per try
  uint32_t tries = 2;
  ResolverMode mode = ResolverMode::kRoundRobin;
  // DNS messages in flight at once per worker thread; more wait their turn.
  uint32_t max_in_flight = 256;

  friend bool operator==(const ResolverConfig&,
                         const ResolverConfig&) = default;
};

// The system's CA bundle (Debian's ca-certificates).
inline constexpr char kSystemCaFile[] = "/etc/ssl/certs/ca-certificates.crt";

struct HttpConfig {
  uint32_t connect_timeout_ms = 5000;
  uint32_t timeout_ms = 10000;  // whole HEAD exchange
  std::string user_agent;       // DefaultConfig(): Firefox ESR, Windows
  uint32_t max_header_bytes = 65536;
  uint32_t max_redirects = 10;  // hops followed after the first request
  // PEM file of the CAs that TLS certificates are verified against; "" is
  // the system store (kSystemCaFile). Verification is recorded, never
  // enforced.
  std::string ca_file;
  // HEAD exchanges in flight at once per worker thread.
  uint32_t max_in_flight = 1000;
  // Egress proxy: "http://IP:PORT" (CONNECT tunnel) or "socks5://IP:PORT";
  // "" connects directly. The proxy is handed the pinned address, never
  // the name.
  std::string proxy;
  // With a proxy: probes never connect directly (they fail with
  // "proxy_error" while the proxy is down). Without one: start-up fails.
  // false: a probe the proxy fails is made once more directly.
  bool require_proxy = false;

  friend bool operator==(const HttpConfig&, const HttpConfig&) = default;
};

struct SafetyConfig {
  // CIDRs exempt from the private-target rule. Empty in production; the
  // sandbox internet needs its loopback range here.
  std::vector<net::Cidr> allow_cidrs;

  friend bool operator==(const SafetyConfig&, const SafetyConfig&) = default;
};

// Limits that keep probes polite to the sites and networks they visit.
struct PolitenessConfig {
  uint32_t max_per_host = 4;          // HEAD exchanges in flight per host name
  uint32_t max_per_address = 32;      // ... per IP address
  uint32_t min_host_interval_ms = 0;  // between two starts on one host
  // Fleet-wide caps, enforced by the coordinator when it dispatches: checks
  // in flight at once across all workers; 0 = no cap. Per address counts
  // the addresses of the host's latest result, when one is known.
  uint32_t fleet_max_per_host = 8;
  uint32_t fleet_max_per_domain = 32;
  uint32_t fleet_max_per_address = 64;

  friend bool operator==(const PolitenessConfig&,
                         const PolitenessConfig&) = default;
};

struct ProvidersConfig {
  // The provider signatures file (config/providers.toml documents its
  // format). DefaultConfig(): providers.toml in the shipped configuration
  // directory (kDefaultConfigDir).
  std::string file;

  friend bool operator==(const ProvidersConfig&,
                         const ProvidersConfig&) = default;
};

struct ReferralConfig {
  // The referral directory (config/referral.toml documents its format).
  // DefaultConfig(): referral.toml in kDefaultConfigDir.
  std::string directory;
  // The hotline's own country, ISO 3166-1 alpha-2 ("DE"); "" when not set
  // (every country is then routed as foreign, with a warning).
  std::string home_country;

  friend bool operator==(const ReferralConfig&,
                         const ReferralConfig&) = default;
};

// RDAP enrichment by the coordinator (coordinator/enricher.h).
struct RdapConfig {
  bool enabled = true;
  // The directory of IANA's four bootstrap files (ipv4.json, ipv6.json,
  // asn.json, dns.json). DefaultConfig(): rdap/ in kDefaultConfigDir.
  std::string bootstrap_dir;
  uint32_t cache_ttl_s = 86400;          // an answer is reused this long
  uint32_t negative_cache_ttl_s = 3600;  // a "no such record" (404) likewise
  uint32_t timeout_ms = 10000;           // one request
  // Least time between two requests to one RDAP server, fleet-wide.
  uint32_t min_interval_ms = 1000;
  // `hostlocator run` waits at most this long after probing for its
  // results' enrichment before writing reports (which then name the
  // results without RDAP facts).
  uint32_t max_wait_s = 120;

  friend bool operator==(const RdapConfig&, const RdapConfig&) = default;
};

struct CoordinatorConfig {
  uint32_t lease_timeout_ms = 120000;
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_liveness = 5;  // missed intervals before a peer is dead
  uint32_t max_attempts = 3;
  // The ZeroMQ endpoint the coordinator daemon's broker binds for workers.
  std::string listen = "tcp://127.0.0.1:5555";
  // CURVE (common/curve.h): the coordinator's secret key file and the worker
  // public keys it accepts (".pub" files, or directories of them). With a
  // secret key every TCP link is encrypted and only those workers get in.
  std::string secret_key_file;
  std::vector<std::string> authorized_keys;
  // Without keys the daemon refuses a non-loopback TCP endpoint unless this
  // is true.
  bool allow_plaintext = false;
  // A batch that sets no maximum result age re-checks URLs whose result is
  // older than this (seconds; 0 = probe every URL again).
  uint32_t max_result_age_s = 86400;
  // Located URLs are checked again this long after their latest check
  // (seconds); 0 = no periodic re-checks.
  uint32_t recheck_interval_s = 0;
  // `hostlocator purge` without --older-than removes what is older than
  // this many days; 0 = keep everything.
  uint32_t retention_days = 0;
  // The Ed25519 key (PEM, mode 0600) that signs export manifests; created
  // with its .pub on the first export when missing. "": signing.key in the
  // data folder.
  std::string signing_key_file;

  friend bool operator==(const CoordinatorConfig&,
                         const CoordinatorConfig&) = default;
};

struct WorkerConfig {
  uint32_t threads = 0;  // event-loop threads; 0 = one per core
  // URLs in flight at once per thread.
  uint32_t max_in_flight = 1000;
  // Jobs a thread asks for beyond max_in_flight, queued so that a probe
  // that ends is followed at once: those it completes in this time at its
  // recent rate, at most max_in_flight (worker::LeaseAheadJobs). 0: none.
  uint32_t lease_ahead_ms = 0;
  bool dns_only = false;  // resolve and locate, no HTTP
  // Time for one URL, redirects included: a hard deadline (the prober
  // cancels what is under way and records "probe_timeout"); besides, a hop
  // starts only when its slowest case (SlowestRequestMs) still ends within
  // this time since the probe started; otherwise the chain ends with
  // redirect_error "probe_timeout".
  uint32_t probe_timeout_ms = 45000;
  // CURVE for `hostlocator-worker`: this worker's secret key file and the
  // coordinator's public key file; both or neither.
  std::string secret_key_file;
  std::string coordinator_public_key_file;
  // Without keys the worker refuses a non-loopback coordinator unless this
  // is true.
  bool allow_plaintext = false;

  friend bool operator==(const WorkerConfig&, const WorkerConfig&) = default;
};

// The coordinator daemon's HTTP API (coordinator/api.h, docs/api.md).
struct ApiConfig {
  std::string address = "127.0.0.1";  // loopback unless told otherwise
  uint32_t port = 8480;
  // Named tokens with roles (`hostlocator tokens add`), mode 0600. Empty:
  // the daemon serves no API.
  std::string tokens_file;
  // Both set: HTTPS; both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  uint32_t max_request_mb = 256;  // larger requests get 413
  uint32_t threads = 8;           // request threads

  friend bool operator==(const ApiConfig&, const ApiConfig&) = default;
};

struct RunConfig {
  std::string data_dir = "hostlocator-data";
  std::string output_dir = "hostlocator-out";

  friend bool operator==(const RunConfig&, const RunConfig&) = default;
};

struct Config {
  ResolverConfig resolver;
  HttpConfig http;
  SafetyConfig safety;
  PolitenessConfig politeness;
  geo::GeoConfig geo;
  ProvidersConfig providers;
  ReferralConfig referral;
  RdapConfig rdap;
  CoordinatorConfig coordinator;
  WorkerConfig worker;
  ApiConfig api;
  RunConfig run;
  // [history]: fast-flux thresholds and data ages (common/history.h).
  HistorySettings history;
  // SHA-256 (hex) of the canonical form of the effective configuration;
  // recorded in every result.
  std::string digest;
};

// The slowest one request of a probe can take, in milliseconds: A and AAAA
// (resolver.timeout_ms x tries), then NS and PTR beside the HEAD (as long
// again) or the HEAD (http.timeout_ms, twice when a failed proxy is passed
// by without require_proxy), whichever is longer. Not included: CNAME
// targets asked again, and waits for an in-flight or politeness slot.
uint64_t SlowestRequestMs(const Config& config);

// The directory of the shipped configuration and data files (the
// repository's config/ unless the build sets HL_CONFIG_DIR otherwise).
extern const char kDefaultConfigDir[];

// Defaults, as documented in config/hostlocator.toml, digest included. The
// [geo] paths are relative to the repository root; providers.file is in
// kDefaultConfigDir.
Config DefaultConfig();

// SHA-256 (lower-case hex) of a canonical serialisation of every field of
// `config` except digest, in a fixed order. Equal configurations give equal
// digests whatever the layout of the files they came from. Callers that
// change a Config after parsing set digest = ConfigDigest(config) again.
std::string ConfigDigest(const Config& config);

// Parses TOML text over the defaults. `origin` names the source in messages.
// Relative paths in [geo] resolve against `base_dir`.
Result<Config> ParseConfig(std::string_view toml_text,
                           const std::string& origin,
                           const std::string& base_dir);
// Reads and parses the file at `path`; `origin` is `path`, base_dir its
// directory.
Result<Config> LoadConfigFile(const std::string& path);
// The configuration of a command or daemon: LoadConfigFile(path) when
// `path` is set, else of $HOSTLOCATOR_CONFIG when set, else DefaultConfig().
Result<Config> LoadConfiguration(const std::string& path);

}  // namespace hl
