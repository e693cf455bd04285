// The probing engine for one URL: DNS (c-ares), geolocation (MMDB), one
// HEAD pinned to one resolved address (libcurl), redirects hop by hop,
// providers, then the verdict; every stage asynchronous on one EventLoop.
//
// Pinning rule: the first A address in answer order, else the first AAAA.
// The other addresses are geolocated too. Every connect goes through the
// TargetPolicy (after DNS, at socket-open time), so DNS rebinding cannot
// reach a private address. No response body byte is ever accepted:
// HEAD (CURLOPT_NOBODY), and a write callback that counts and aborts.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/geo/geo.h"
#include "common/proto/hostlocator.pb.h"
#include "common/provider.h"
#include "common/referral.h"
#include "worker/event_loop.h"

namespace hl::worker {

namespace pb = ::hostlocator::v1;

struct ProberContext {
  std::string tool_version;
  std::string config_digest;
  std::string worker_name;
};

// Every URL in flight on one EventLoop (one per thread). The GeoLocator and
// the ProviderTable are loaded once at start-up and shared (read-only).
class Prober {
 public:
  // The observation is handed over as an rvalue: the callback reads it in
  // place or moves it out, and no layer between makes a message of its own.
  using Done = std::function<void(pb::Observation&&)>;

  // Fails (kInvalidArgument) without a geolocator or a provider table, and
  // with the DnsResolver's or HttpProber's start-up errors. `loop` must
  // outlive the prober.
  static Result<std::unique_ptr<Prober>> Create(
      const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
      std::shared_ptr<const ProviderTable> providers, ProberContext context,
      Clock clock, EventLoop* loop,
      std::shared_ptr<const ReferralRouting> referrals = nullptr);
  // Abandons every probe in flight: their callbacks never run.
  ~Prober();

  // Never fails: every failure is an observation with an error class. A
  // URL NormalizeUrl rejects is status "error", class "invalid_url", and is
  // not probed; an .onion host is not resolved; an IP-literal host is its
  // own only address. The HEAD goes to the pinned address whenever DNS gave
  // one, after a politeness slot for (host, pinned address) is free
  // ([politeness]); with worker.dns_only there is no HEAD. Redirects are
  // followed hop by hop, each new URL resolved, located and probed like the
  // first (obs.redirects), until a non-redirect answer, a loop,
  // http.max_redirects, worker.probe_timeout_ms or an invalid Location
  // (obs.redirect_error). worker.probe_timeout_ms after the probe started,
  // its outstanding DNS questions, politeness wait and HEAD are cancelled
  // (DnsResolver::Cancel, PolitenessGate::Withdraw/Release,
  // HttpProber::Cancel) and it finishes at once with what it learned, the
  // stage cut short recorded as "probe_timeout" in the request's dns.error
  // (A/AAAA not yet answered) or http.error (HEAD waiting or under way);
  // NS/PTR questions cut short are recorded with rcode "CANCELLED".
  // Providers come from hl::DetectProviders (not for .onion hosts); status
  // and verdict then from hl::Conclude, and the referral targets from
  // hl::RouteReferrals when Create was given `referrals`. The HEADs are sent
  // with `context` (recorded in the observation when not empty). The
  // observation carries no data_sources: see data_sources(). `done` runs
  // exactly once, on the loop, never inside Probe; it may destroy the prober
  // (the probes still under way are then abandoned).
  void Probe(const std::string& url, const pb::RequestContext& context,
             Done done);

  size_t in_flight() const;

  // The data sources every observation of this prober cites (geolocation
  // databases, provider signatures, the referral directory), serialized as
  // the `data_sources` fields of an Observation: appended to a serialized
  // observation, or merged into one (MergeFromString), they become its
  // data_sources. Built once, so a probe copies no provenance.
  const std::string& data_sources() const;

  // What is under way on this prober's loop now.
  struct Load {
    size_t probes = 0;  // in_flight()
    size_t dns = 0;     // DNS messages sent, not yet answered
    size_t http = 0;    // HEAD exchanges running
  };
  Load load() const;

 private:
  Prober() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hl::worker
