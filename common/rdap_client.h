// An RDAP client (libcurl, blocking, one request at a time): which server
// from the bootstrap, answers cached with a TTL behind RdapCache, and a
// per-server rate limit. Meant for a thread of its own (or a command), not
// for a worker's event loop.
//
// Outcomes: a parsed answer; NotFound for 404 (no record); Unavailable
// (retry later) for 429 and 503 (the server's Retry-After, in seconds,
// blocks that server until then, else ClientOptions::backoff_ms), for a
// request that the local rate limit does not allow yet, and for
// connection failures and timeouts; DataLoss for a malformed answer or
// another status; FailedPrecondition when the bootstrap knows no server.
// Only parsed answers are cached. Every message names the URL.
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
// (memory here; the coordinator's RocksDB can implement it too).
class RdapCache {
 public:
  virtual ~RdapCache() = default;
  // The body stored under `key` if it has not expired at `now_ms`.
  virtual std::optional<std::string> Get(const std::string& key,
                                         int64_t now_ms) = 0;
  virtual void Put(const std::string& key, const std::string& body,
                   int64_t expires_ms) = 0;
};

// In memory, unbounded; for one process's lifetime.
class MemoryRdapCache : public RdapCache {
 public:
  std::optional<std::string> Get(const std::string& key,
                                 int64_t now_ms) override;
  void Put(const std::string& key, const std::string& body,
           int64_t expires_ms) override;

 private:
  std::map<std::string, std::pair<std::string, int64_t>> entries_;
};

struct ClientOptions {
  uint32_t timeout_ms = 10000;        // whole request
  int64_t ttl_ms = 24 * 3600 * 1000;  // how long an answer is reused
  // Least time between two requests to one server (by base URL).
  uint32_t min_interval_ms = 1000;
  // How long a server stays blocked after 429/503 without Retry-After.
  uint32_t backoff_ms = 60000;
  uint32_t max_body_bytes = 1 << 20;  // a larger answer is DataLoss
};

class Client {
 public:
  // `cache` must outlive the client.
  Client(Bootstrap bootstrap, RdapCache* cache, Clock clock,
         ClientOptions options = {});

  // GET <base>ip/<address>.
  Result<Network> LookupIp(const net::IpAddress& ip);
  // GET <base>domain/<name> (an A-label name).
  Result<Domain> LookupDomain(const std::string& domain);

 private:
  // The body of GET base + path, from the cache or the server.
  Result<std::string> Fetch(const std::string& base, const std::string& path);

  Bootstrap bootstrap_;
  RdapCache* cache_;
  Clock clock_;
  ClientOptions options_;
  // Per base URL: the earliest time of its next request.
  std::map<std::string, int64_t> next_allowed_ms_;
};

}  // namespace hl::rdap
