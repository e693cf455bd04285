// Scheduling decisions of the coordinator, kept free of I/O so they are
// tested from tables of cases: whether a submitted URL's known result is
// fresh enough, and the fleet-wide politeness caps applied when jobs are
// dispatched (across all workers; worker/politeness.h stays as a second
// line inside each worker).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "common/proto/hostlocator.pb.h"

namespace hl::coordinator {

namespace pb = ::hostlocator::v1;

// What a new submission does with the job already known for its URL.
enum class KnownJobAction {
  kJoin,     // share the job as it is: its pending or running check, or its
             // fresh result
  kRecheck,  // queue the job for a new check (appended to its history)
};

// The decision for a job in `state` whose latest check finished at
// `last_check_ms` (0: never) for a batch accepting results up to
// `max_age_ms` old (0: probe now). PENDING and LEASED jobs are joined:
// their check has not finished yet, so it is at least as new as the
// submission asks. DONE jobs are re-checked when max_age_ms is 0 or their
// result is older than max_age_ms; DEAD jobs are always re-checked.
KnownJobAction DecideKnownJob(pb::JobState state, int64_t last_check_ms,
                              int64_t max_age_ms, int64_t now_ms);

// Fleet-wide caps on checks in flight at once; 0 means no cap.
struct PolitenessCaps {
  uint32_t per_host = 0;
  uint32_t per_domain = 0;  // per registrable domain (Public Suffix List)
  uint32_t per_address = 0;
};

// The fleet_* caps of config [politeness].
PolitenessCaps PolitenessCapsOf(const Config& config);

// What a job is counted against.
struct DispatchTarget {
  std::string host;
  std::string domain;  // registrable domain; "" for IP literals
  std::vector<std::string> addresses;
};

// Host and registrable domain of a normalised URL (as stored in a job): for
// a URL NormalizeUrl gave, its host and registrable domain, the host of a
// domain read without parsing the URL again. Addresses are left empty. A
// URL that does not parse gives an empty host, which is counted like any
// other. Without `with_domain` the domain is left empty too: with no
// per-domain cap nothing counts it, and its public-suffix lookup is most
// of this function's cost.
DispatchTarget TargetOfUrl(std::string_view normalized_url,
                           bool with_domain = true);

// Counts the checks in flight per host, domain and address, and answers
// whether one more may start. Per-address counting uses what is known
// before the check: the addresses that the host's latest result seen by
// this process answered with (LearnAddresses), bounded to the newest
// kMaxKnownHosts hosts. A host never seen yet is counted per host and
// domain only. Not thread-safe (the broker thread owns it).
class FleetPoliteness {
 public:
  static constexpr size_t kMaxKnownHosts = 100000;

  explicit FleetPoliteness(PolitenessCaps caps) : caps_(caps) {}

  // `target` with the addresses known for its host filled in.
  DispatchTarget Resolve(DispatchTarget target) const;
  // The key of a cap that starting `target` would exceed ("host:NAME",
  // "domain:NAME" or "address:IP"); nullopt when every count stays within
  // its cap. The store parks a refused job under it (coordinator/parking.h).
  std::optional<std::string> Refusal(const DispatchTarget& target) const;
  // True when starting `target` keeps every count within its cap.
  bool Admits(const DispatchTarget& target) const { return !Refusal(target); }
  // The keys of the capped counts `target` is counted against: those whose
  // parked jobs may start once `target` ends.
  std::vector<std::string> KeysOf(const DispatchTarget& target) const;
  void Start(const DispatchTarget& target);
  // Ends a Start; `target` must be the one started.
  void Finish(const DispatchTarget& target);
  // Records the addresses `host` answered with (replacing older ones).
  void LearnAddresses(const std::string& host,
                      std::vector<std::string> addresses);

  uint32_t in_flight_on_host(const std::string& host) const;

 private:
  using Counts = std::unordered_map<std::string, uint32_t>;
  static void Add(Counts& counts, const std::string& key, int delta);
  static bool Below(const Counts& counts, const std::string& key, uint32_t cap);

  PolitenessCaps caps_;
  Counts hosts_;
  Counts domains_;
  Counts addresses_;
  std::unordered_map<std::string, std::vector<std::string>> known_;
  std::deque<std::string> known_order_;  // oldest first, for the bound
};

}  // namespace hl::coordinator
