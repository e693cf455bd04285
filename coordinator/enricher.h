// RDAP enrichment of stored results, coordinator-side and fleet-wide.
//
// A result stored while rdap.enabled is set carries rdap.state "pending"
// and has an `enrich` entry in the store (written in the result's
// WriteBatch, so it survives restarts). The enricher takes pending
// results in (job, check) order, asks RDAP about the final hop - the
// network of each address (at most kMaxEnrichedAddresses), the registry
// entry of each address's AS, the registrable domain's registration - and
// stores what it learned beside the result (Enrichment: a small record;
// the result itself is never rewritten), dropping the `enrich` entry in
// the same WriteBatch. Every read of the result applies that record
// (ApplyEnrichment, common/verdict.h: countries, registration, the
// jurisdiction decided again). Answers come from the store's RDAP cache
// when fresh, so one question serves every result of a network or domain.
//
// A lookup the local per-server interval refuses (ResourceExhausted)
// leaves the result pending for a later pass; every other failure (no
// server in the bootstrap, timeout, 429/503, malformed answer) becomes a
// note "rdap: ... unavailable: why" and the result is completed with what
// was learned: RDAP never fails a probe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/proto/hostlocator.pb.h"
#include "common/rdap_client.h"
#include "common/status.h"
#include "coordinator/rdap_cache.h"
#include "coordinator/store.h"

namespace hl::coordinator {

inline constexpr size_t kMaxEnrichedAddresses = 8;

// What to ask RDAP about an observation.
struct EnrichmentPlan {
  struct Address {
    std::string ip;
    uint32_t asn = 0;  // from geolocation; 0: unknown, not asked
  };
  // The final hop's addresses, in the order recorded, unique.
  std::vector<Address> addresses;
  // The final hop's registrable domain (verdict.jurisdiction); "" for an
  // IP literal or a name without one.
  std::string domain;
};
// The final hop is the last redirect, or the observation itself without
// one (as common/verdict.h FinalHopOf).
EnrichmentPlan PlanEnrichment(const pb::EnrichmentSource& source);

// The answers to a plan: one entry per planned address, in plan order.
struct EnrichmentFacts {
  struct Address {
    std::string ip;
    uint32_t asn = 0;
    Result<rdap::Network> network = NotFound("not asked");
    Result<rdap::Autnum> autnum = NotFound("not asked");  // when asn != 0
  };
  std::vector<Address> addresses;
  std::optional<Result<rdap::Domain>> domain;  // when the plan has one
  std::string bootstrap;  // the bootstrap files' publication dates
};

// The stored enrichment of an observation from `facts`: an Observation
// holding rdap (networks, notes, state, enriched_unix_ms = now_ms,
// bootstrap) and, from a domain answer, registration (its domain, else
// `domain`: the plan's). A NotFound answer is a fact (no record: the
// country stays unknown); any other error is a note. State: "complete"
// when no lookup failed, "unavailable" when every lookup failed, else
// "partial". ApplyEnrichment (common/verdict.h) writes it into the
// observation. Pure.
pb::Observation Enrichment(const EnrichmentFacts& facts,
                           const std::string& domain, int64_t now_ms);

// One pass over pending results (I/O: the store and the lookups).
class Enricher {
 public:
  // `store` and `lookup` must outlive the enricher. `bootstrap` describes
  // the bootstrap in use (recorded on each result).
  Enricher(Store* store, rdap::Lookup* lookup, Clock clock,
           std::string bootstrap);

  struct StepOutcome {
    uint64_t completed = 0;  // results rewritten
    uint64_t deferred = 0;   // left pending: a server's interval not over
  };
  // Enriches up to `max` pending results, continuing after the last one
  // the previous step read, and writes their enrichments in one
  // WriteBatch. A step starts earlier only for results stored behind that
  // point since (Store::TakeEnrichmentFloor) and, once a step reaches the
  // end of the index, at the first result deferred on the way. So a pass
  // reads each pending entry once and never walks past the entries
  // completed before (a walk from the start would read every deletion
  // since the index was last compacted, once per step), and a deferred
  // result does not hold back the ones after it. Each question (network,
  // AS, domain) is asked once per step, whatever the results sharing it.
  Result<StepOutcome> Step(size_t max = 64);

 private:
  Store* store_;
  rdap::Lookup* lookup_;
  Clock clock_;
  std::string bootstrap_;
  using Position = std::pair<uint64_t, uint32_t>;  // (job, check)
  static constexpr Position kNoRetry = {UINT64_MAX, UINT32_MAX};
  // Where the next step starts (inclusive).
  Position next_ = {0, 0};
  // The first result deferred in this pass; kNoRetry: none.
  Position retry_ = kNoRetry;
};

// The enricher on its own thread, with the store-backed cache and the
// libcurl client built from config [rdap]. Polls the store while idle
// (every 100 ms) and after a deferral (every 20 ms).
class EnrichmentService {
 public:
  // Null (and OK) when rdap.enabled is false. Errors: the bootstrap
  // directory cannot be read or is invalid.
  static Result<std::unique_ptr<EnrichmentService>> Start(Store* store,
                                                          const Config& config);
  ~EnrichmentService();  // stops the thread; pending results stay pending

  uint64_t completed() const { return completed_.load(); }

 private:
  EnrichmentService() = default;
  void Loop();

  Store* store_ = nullptr;
  std::unique_ptr<StoreRdapCache> cache_;
  std::unique_ptr<rdap::Client> client_;
  std::unique_ptr<Enricher> enricher_;
  std::atomic<uint64_t> completed_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// "ipv4 2019-06-07T19:00:02Z, ipv6 ..., asn ..., dns ...".
std::string DescribeBootstrap(const rdap::Bootstrap& bootstrap);

}  // namespace hl::coordinator
