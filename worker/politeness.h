// The politeness gate of one worker thread: which waiting HEAD exchanges
// may start now. Pure bookkeeping: no I/O, no clock (time is passed in, in
// milliseconds of one monotonic clock; calls never go back in time).
//
// Rules, for the tickets admitted and not yet released:
// - at most max_per_host per host name and max_per_address per address;
// - two admissions on one host are at least min_host_interval_ms apart;
// - each host's tickets are admitted in the order they were requested (its
//   first waiting ticket holds back the others of that host, whatever held
//   it back); a blocked host or address never holds back another host's
//   tickets;
// - a host waiting for a slot on an address gets it before hosts that
//   started waiting for that address later;
// - Admit returns every ticket these rules allow at now_ms: after it, each
//   host's first waiting ticket is held back by its host's cap, its host's
//   interval or its address's cap.
//
// Cost: Request and Release are O(1) amortised, Withdraw linear in the
// host's waiting tickets and its address's waiting hosts (plus an O(log n)
// timer when min_host_interval_ms > 0); Admit is proportional to the tickets it
// admits plus the hosts and addresses whose state changed since the last
// Admit (released, newly requested, interval ended), never to everything
// waiting. State is kept only for hosts with waiting or admitted tickets or
// a running interval, and for addresses with admitted tickets or hosts
// waiting for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/config.h"

namespace hl::worker {

class PolitenessGate {
 public:
  using Ticket = uint64_t;

  explicit PolitenessGate(const PolitenessConfig& config);
  ~PolitenessGate();
  PolitenessGate(const PolitenessGate&) = delete;
  PolitenessGate& operator=(const PolitenessGate&) = delete;

  // Queues `ticket` for a slot on (host, address) (address as text). It
  // starts no earlier than the next Admit.
  void Request(Ticket ticket, std::string_view host, std::string_view address,
               int64_t now_ms);
  // Frees the slot an admitted ticket held on (host, address). A host or
  // address with no admitted ticket is left as it is.
  void Release(std::string_view host, std::string_view address, int64_t now_ms);
  // Removes the waiting `ticket` of `host` from its queue, as if it had
  // never been requested (the host's next ticket may then start). False
  // when it is not waiting there (unknown, or already admitted: Release
  // frees the slot of an admitted one).
  bool Withdraw(Ticket ticket, std::string_view host, int64_t now_ms);
  // Removes and returns, in request order per host, the waiting tickets
  // that may start at now_ms, taking their slots. Also forgets the idle
  // hosts whose interval has ended by now_ms.
  std::vector<Ticket> Admit(int64_t now_ms);
  // Earliest time at which a host's first waiting ticket, held back by
  // min_host_interval_ms and not by its host's cap, has waited out the
  // interval (an Admit then may still find its address full; a Release
  // will tell). nullopt when no ticket waits for an interval. Exact after
  // an Admit; a Release since may make a host wait for its interval that
  // the next Admit will find.
  std::optional<int64_t> NextIntervalDeadline() const;

  // Tickets requested and not yet admitted.
  size_t waiting() const { return waiting_; }
  // Hosts with state kept; idle hosts are forgotten once their interval
  // has passed (at once without an interval, else by the first Admit at or
  // after its end).
  size_t hosts_tracked() const { return hosts_.size(); }
  // Addresses with admitted tickets or hosts waiting for them.
  size_t addresses_tracked() const { return addresses_.size(); }

 private:
  struct Host;
  struct Address;
  using Timers = std::multimap<int64_t, Host*>;

  Host& FindOrAddHost(std::string_view host);
  Address& FindOrAddAddress(std::string_view address);
  void MarkDirty(Host& host);
  // Sets the host's one timer, replacing any other: `timers` is
  // interval_timers_ or idle_timers_.
  void SetTimer(Host& host, Timers* timers, int64_t deadline);
  void ClearTimer(Host& host);
  // Starts the host's first waiting ticket if the rules allow it now, into
  // `admitted`; else parks the host where the change that frees it will
  // find it (its timer, its address's queue; a host at its cap is found by
  // Release). Returns whether it started.
  bool StartFirst(Host& host, int64_t now_ms, std::vector<Ticket>* admitted);
  // A host with nothing waiting or admitted: forgotten now, or when its
  // interval ends.
  void RetireIdle(Host& host, int64_t now_ms);
  void EraseHost(Host& host);

  const PolitenessConfig config_;
  std::unordered_map<std::string_view, std::unique_ptr<Host>> hosts_;
  std::unordered_map<std::string_view, std::unique_ptr<Address>> addresses_;
  // Hosts with tickets that may start, since a Request made a new first
  // ticket, a Release freed a host slot or their interval ended.
  std::vector<Host*> dirty_hosts_;
  // Addresses with a freed slot and hosts waiting for one.
  std::vector<Address*> dirty_addresses_;
  // Hosts whose first waiting ticket waits for the end of their interval.
  Timers interval_timers_;
  // Idle hosts kept until the end of their interval.
  Timers idle_timers_;
  size_t waiting_ = 0;
};

}  // namespace hl::worker
