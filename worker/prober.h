// The probing engine for one URL: DNS (c-ares), geolocation (MMDB), one
// HEAD pinned to one resolved address (libcurl), then the verdict.
//
// Pinning rule: the first A address in answer order, else the first AAAA.
// The other addresses are geolocated too. Every connect goes through the
// TargetPolicy (after DNS, at socket-open time), so DNS rebinding cannot
// reach a private address. No response body byte is ever accepted:
// HEAD (CURLOPT_NOBODY), and a write callback that counts and aborts.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/geo/geo.h"
#include "common/net/ip.h"
#include "common/net/url.h"
#include "common/proto/hostlocator.pb.h"
#include "common/provider.h"

namespace hl::worker {

namespace pb = ::hostlocator::v1;

// Resolves a host name: CNAME chain, A then AAAA with TTLs, every query
// recorded (resolver, rcode, time, raw answer). NXDOMAIN, SERVFAIL and
// timeouts end in DnsObservation.error with classes "nxdomain", "servfail",
// "dns_timeout", "dns_refused", "no_address", "cname_loop" (a loop, or a
// chain of more than kMaxCnameChain CNAMEs), "dns_error" (any other
// failure); never an exception. The error is set only when no address was
// found. One instance per thread.
//
// A and AAAA are asked in parallel (recursion desired). When an answer
// ends at a CNAME whose target has no address in it, the target is asked
// again. Each attempt is one DnsQuery; a query that times out is sent again
// until `tries` attempts, each with the full `timeout_ms` per server (no
// backoff), so an unreachable resolver costs timeout_ms * tries * servers.
// DnsQuery.resolver is the server in use ("address:port") or, with
// several servers, all of them comma-separated in order, because c-ares
// does not report which one answered. Every answer received is recorded
// with its raw bytes; a SERVFAIL, REFUSED or NOTIMP answer is final (the
// next server is not asked); an answer to another question is dropped.
class DnsResolver {
 public:
  // Longest CNAME chain followed (targets after the host).
  static constexpr size_t kMaxCnameChain = 16;

  // Fails (kInvalidArgument) on a server list c-ares does not accept.
  // `clock` stamps DnsQuery.sent_unix_ms.
  static Result<std::unique_ptr<DnsResolver>> Create(
      const ResolverConfig& config, Clock clock);
  ~DnsResolver();
  pb::DnsObservation Resolve(const std::string& host);
  // Asks, all at once, for the NS records of `domain` (skipped when empty)
  // and the PTR record of each of obs->addresses() (at most kMaxPtrLookups),
  // and records the answers in `obs` (ns_domain, ns, ptr, queries). Their
  // failures are recorded in `queries`, never as the observation's error.
  void AddNsAndPtr(const std::string& domain, pb::DnsObservation* obs);

  static constexpr size_t kMaxPtrLookups = 16;

 private:
  DnsResolver() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends one HEAD for `url` to `pinned` (the TLS name and Host header stay
// the URL's host) on a fresh connection, without following redirects or
// using a proxy. The only socket ever opened is to `pinned`, and only when
// the policy permits it. Records status, version, every header of the
// final response (names as sent, in order, repeats kept; bounded by
// max_header_bytes), the SHA-256 of the raw header block (every header
// byte received, interim responses included; with "header_too_large", the
// header lines that fitted in max_header_bytes), the connected address,
// body_bytes (0), and the stage timings (libcurl's CURLINFO_*_TIME_T).
// Error classes: "connection_refused", "refused_private_target",
// "http_timeout", "tls_error", "header_too_large", "body_received",
// "http_error". One instance per thread.
//
// TLS: libcurl's own verification is off, so a bad certificate never stops
// the probe; the prober verifies by itself and records the result. A
// CURLOPT_SSL_CTX_FUNCTION installs SSL_CTX_set_cert_verify_callback, which
// OpenSSL calls during every handshake (whatever the verify mode) with the
// chain exactly as the server sent it, while the connection is alive:
// there the protocol, cipher, the leaf's details and each sent
// certificate's SHA-256 are recorded, and the chain is checked with
// X509_verify_cert (purpose "ssl_server", the URL's host or IP literal as
// the expected name) against the trust store of HttpConfig::ca_file (or
// kSystemCaFile), loaded once and shared by the HttpProbers of the process.
// The callback always accepts.
// HttpObservation.tls is set whenever the server presented a certificate,
// also when the handshake failed after it; an unloadable store leaves
// every probe unverified with the reason in verify_error. TLS sessions are
// not reused, so every probe sees a full handshake.
class HttpProber {
 public:
  HttpProber(const HttpConfig& config, net::TargetPolicy policy);
  ~HttpProber();
  // `context` supplies the Referer (none when empty) and the User-Agent
  // (the configured one when empty); it must outlive the call.
  pb::HttpObservation Head(const net::NormalizedUrl& url,
                           const net::IpAddress& pinned,
                           const pb::RequestContext& context =
                               pb::RequestContext::default_instance());

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
// GeoLocator and the ProviderTable are loaded once at start-up and shared
// (read-only).
class Prober {
 public:
  // Fails (kInvalidArgument) without a geolocator or a provider table.
  static Result<std::unique_ptr<Prober>> Create(
      const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
      std::shared_ptr<const ProviderTable> providers, ProberContext context,
      Clock clock);
  ~Prober();

  // Never fails: every failure is an observation with an error class. A
  // URL NormalizeUrl rejects is status "error", class "invalid_url", and is
  // not probed; an .onion host is not resolved; an IP-literal host is its
  // own only address. The HEAD goes to the pinned address whenever DNS gave
  // one. Providers come from hl::DetectProviders after the HEAD (not for
  // .onion hosts); status and verdict then from hl::Conclude. The HEAD is
  // sent with `context` (recorded in the observation when not empty).
  pb::Observation Probe(const std::string& url,
                        const pb::RequestContext& context =
                            pb::RequestContext::default_instance());

 private:
  Prober() = default;
  // Follows the redirect the observation's HEAD answered, hop by hop, each
  // new URL resolved, located and probed like the first (obs->redirects),
  // until a non-redirect answer, a loop, http.max_redirects or an invalid
  // Location (obs->redirect_error).
  void FollowRedirects(const net::NormalizedUrl& first,
                       const pb::RequestContext& context, pb::Observation* obs);
  std::shared_ptr<const geo::GeoLocator> geo_;
  std::shared_ptr<const ProviderTable> providers_;
  ProberContext context_;
  Clock clock_;
  std::unique_ptr<DnsResolver> resolver_;
  std::unique_ptr<HttpProber> http_;
  net::TargetPolicy policy_;
  uint32_t max_redirects_ = 0;
};

}  // namespace hl::worker
