// An RDAP client (libcurl, blocking, one request at a time): which server
// from the bootstrap, answers cached with a TTL behind RdapCache, and a
// per-server rate limit. Meant for a thread of its own (or a command), not
// for a worker's event loop.
//
// Outcomes: a parsed answer; NotFound for 404 (no record; cached for
// negative_ttl_ms); ResourceExhausted when the local per-server interval
// does not allow a request yet (nothing was sent: ask again later);
// Unavailable for 429 and 503 (the server's Retry-After, in seconds, blocks
// that server until then, else ClientOptions::backoff_ms; a request to a
// blocked server is Unavailable without being sent), connection failures
// and timeouts; DataLoss for a malformed answer or another status;
// FailedPrecondition when the bootstrap knows no server. Only parsed
// answers and 404s are cached; a network answer is cached under the range
// it states (startAddress..endAddress), so it serves every address in it.
// Every message names the URL.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/rdap.h"
#include "common/status.h"

namespace hl::rdap {

// Where answers are kept between lookups. Implementations decide where
// (memory here; the coordinator's RocksDB store implements it too). A body
// of "" records that the server had no such object (404).
class RdapCache {
 public:
  virtual ~RdapCache() = default;
  // The body stored under `key` if it has not expired at `now_ms`.
  virtual std::optional<std::string> Get(const std::string& key,
                                         int64_t now_ms) = 0;
  virtual void Put(const std::string& key, const std::string& body,
                   int64_t expires_ms) = 0;
  // The body of an unexpired network answer whose range holds `ip`.
  // Ranges are assumed not to overlap (the newest wins where they share an
  // end address); a miss only costs a request.
  virtual std::optional<std::string> FindNetwork(const net::IpAddress& ip,
                                                 int64_t now_ms) = 0;
  // Stores a network answer for the range first..last (one family,
  // first <= last).
  virtual void PutNetwork(const net::IpAddress& first,
                          const net::IpAddress& last, const std::string& body,
                          int64_t expires_ms) = 0;
};

// The byte key that orders addresses of one family numerically: '4' or '6'
// and the address bytes. Caches index network ranges by their last address.
std::string AddressKey(const net::IpAddress& ip);

// In memory, unbounded; for one process's lifetime.
class MemoryRdapCache : public RdapCache {
 public:
  std::optional<std::string> Get(const std::string& key,
                                 int64_t now_ms) override;
  void Put(const std::string& key, const std::string& body,
           int64_t expires_ms) override;
  std::optional<std::string> FindNetwork(const net::IpAddress& ip,
                                         int64_t now_ms) override;
  void PutNetwork(const net::IpAddress& first, const net::IpAddress& last,
                  const std::string& body, int64_t expires_ms) override;

 private:
  struct Range {
    std::string first_key;
    std::string body;
    int64_t expires_ms;
  };
  std::map<std::string, std::pair<std::string, int64_t>> entries_;
  std::map<std::string, Range> networks_;  // by AddressKey(last)
};

struct ClientOptions {
  uint32_t timeout_ms = 10000;            // whole request
  int64_t ttl_ms = 24 * 3600 * 1000;      // how long an answer is reused
  int64_t negative_ttl_ms = 3600 * 1000;  // how long a 404 is reused
  // Least time between two requests to one server (by base URL).
  uint32_t min_interval_ms = 1000;
  // How long a server stays blocked after 429/503 without Retry-After.
  uint32_t backoff_ms = 60000;
  uint32_t max_body_bytes = 1 << 20;  // a larger answer is DataLoss
};

// The three lookups, as an interface so that callers can be tested from
// tables (coordinator/enricher.h).
class Lookup {
 public:
  virtual ~Lookup() = default;
  virtual Result<Network> LookupIp(const net::IpAddress& ip) = 0;
  virtual Result<Autnum> LookupAsn(uint32_t asn) = 0;
  virtual Result<Domain> LookupDomain(const std::string& domain) = 0;
};

class Client : public Lookup {
 public:
  // `cache` must outlive the client.
  Client(Bootstrap bootstrap, RdapCache* cache, Clock clock,
         ClientOptions options = {});

  // GET <base>ip/<address>.
  Result<Network> LookupIp(const net::IpAddress& ip) override;
  // GET <base>autnum/<asn>.
  Result<Autnum> LookupAsn(uint32_t asn) override;
  // GET <base>domain/<name> (an A-label name).
  Result<Domain> LookupDomain(const std::string& domain) override;

  const Bootstrap& bootstrap() const { return bootstrap_; }

 private:
  // The body of GET base + path, from the cache or the server; a 404 is
  // cached as such.
  Result<std::string> Fetch(const std::string& base, const std::string& path);

  Bootstrap bootstrap_;
  RdapCache* cache_;
  Clock clock_;
  ClientOptions options_;
  // Per base URL: the earliest time of its next request by the interval,
  // and until when a 429/503 blocks it.
  std::map<std::string, int64_t> next_allowed_ms_;
  std::map<std::string, int64_t> blocked_until_ms_;
};

// IANA's bootstrap files, published at https://data.iana.org/rdap/.
inline constexpr char kIanaBootstrapUrl[] = "https://data.iana.org/rdap/";

// One registry file fetched and checked.
struct FetchedRegistry {
  Registry registry;
  std::string publication;
};

// Fetches BASE/ipv4.json, ipv6.json, asn.json and dns.json, checks each
// (Bootstrap::Add) and, only when all four are good, replaces the files of
// `dir` (created when missing) and its SOURCES.md (where and when they
// were fetched, each file's publication): each written to a temporary file
// in `dir`, synced, then renamed over the old one, so a reader sees an old
// or a new file, never a torn one. On any error nothing in `dir` changes;
// the message names the URL (404, malformed JSON, a registry that is not
// IANA's format, no connection).
Result<std::vector<FetchedRegistry>> RefreshBootstrap(
    const std::string& base_url, const std::string& dir, uint32_t timeout_ms,
    int64_t now_ms);

}  // namespace hl::rdap
