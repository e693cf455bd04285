// The probing engine for one URL: DNS (c-ares), geolocation (MMDB), one
// HEAD pinned to one resolved address (libcurl), then the verdict.
//
// Pinning rule: the first A address in answer order, else the first AAAA.
// The other addresses are geolocated too. Every connect goes through the
// TargetPolicy (after DNS, at socket-open time), so DNS rebinding cannot
// reach a private address. No response body byte is ever accepted:
// HEAD (CURLOPT_NOBODY), and a write callback that counts and aborts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/geo/geo.h"
#include "common/net/ip.h"
#include "common/net/url.h"
#include "common/proto/hostlocator.pb.h"

namespace hl::worker {

namespace pb = ::hostlocator::v1;

// Milliseconds since the Unix epoch; injected so tests control time.
using Clock = std::function<int64_t()>;
int64_t SystemClockMs();

// Resolves a host name: CNAME chain, A then AAAA with TTLs, every query
// recorded (resolver, rcode, time, raw answer). NXDOMAIN, SERVFAIL and
// timeouts end in DnsObservation.error with classes "nxdomain", "servfail",
// "dns_timeout", "dns_refused", "no_address"; never an exception.
// One instance per thread.
class DnsResolver {
 public:
  static Result<std::unique_ptr<DnsResolver>> Create(
      const ResolverConfig& config, Clock clock);
  ~DnsResolver();
  pb::DnsObservation Resolve(const std::string& host);

 private:
  DnsResolver() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends one HEAD for `url` to `pinned` (the TLS name and Host header stay
// the URL's host). Records status, version, kept headers (server, location,
// via, content-type, content-length), the SHA-256 of the raw header block,
// the connected address, body_bytes (0). Error classes: "connection_refused",
// "refused_private_target", "http_timeout", "tls_error",
// "header_too_large", "body_received", "http_error". One instance per
// thread.
class HttpProber {
 public:
  HttpProber(const HttpConfig& config, net::TargetPolicy policy);
  ~HttpProber();
  pb::HttpObservation Head(const net::NormalizedUrl& url,
                           const net::IpAddress& pinned);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ProberContext {
  std::string tool_version;
  std::string config_digest;
  std::string worker_name;
};

// The whole pipeline for one normalised URL; one instance per thread. The
// GeoLocator is shared (read-only).
class Prober {
 public:
  static Result<std::unique_ptr<Prober>> Create(
      const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
      ProberContext context, Clock clock);
  ~Prober();

  // Never fails: every failure is an observation with an error class.
  pb::Observation Probe(const std::string& url);

 private:
  Prober() = default;
  Config config_;
  std::shared_ptr<const geo::GeoLocator> geo_;
  ProberContext context_;
  Clock clock_;
  std::unique_ptr<DnsResolver> resolver_;
  std::unique_ptr<HttpProber> http_;
  net::TargetPolicy policy_;
};

}  // namespace hl::worker
