#include "worker/politeness.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace hl::worker {

// Invariants between calls:
// - a host is in hosts_ while it has waiting or admitted tickets, or (idle)
//   until idle_timers_ forgets it;
// - a host is in at most one of: dirty_hosts_ (flag `dirty`), its first
//   ticket's address's `waiting_hosts` (flag `waits_for_address`), or
//   interval_timers_; idle hosts only in idle_timers_;
// - a host parked on its address has passed its host cap and interval
//   checks, and neither can fail again before it starts (its admitted
//   count only falls, its last start stays);
// - after an Admit, every address with a free slot has no waiting hosts;
//   until the next Admit, only Release frees slots, and it marks the
//   address dirty.
struct PolitenessGate::Host {
  struct Waiting {
    Ticket ticket;
    std::string address;
  };
  std::string name;
  std::deque<Waiting> queue;
  uint32_t admitted = 0;
  std::optional<int64_t> last_start;
  bool dirty = false;
  bool waits_for_address = false;
  Timers* timers = nullptr;  // interval_timers_, idle_timers_ or none
  Timers::iterator timer;
};

struct PolitenessGate::Address {
  std::string name;
  uint32_t admitted = 0;
  bool dirty = false;
  // Hosts whose first waiting ticket waits for a slot here, in the order
  // they started waiting.
  std::deque<Host*> waiting_hosts;
};

PolitenessGate::PolitenessGate(const PolitenessConfig& config)
    : config_(config) {}

PolitenessGate::~PolitenessGate() = default;

PolitenessGate::Host& PolitenessGate::FindOrAddHost(std::string_view host) {
  auto it = hosts_.find(host);
  if (it != hosts_.end()) return *it->second;
  auto state = std::make_unique<Host>();
  state->name = std::string(host);
  Host& ref = *state;
  hosts_.emplace(ref.name, std::move(state));
  return ref;
}

PolitenessGate::Address& PolitenessGate::FindOrAddAddress(
    std::string_view address) {
  auto it = addresses_.find(address);
  if (it != addresses_.end()) return *it->second;
  auto state = std::make_unique<Address>();
  state->name = std::string(address);
  Address& ref = *state;
  addresses_.emplace(ref.name, std::move(state));
  return ref;
}

void PolitenessGate::MarkDirty(Host& host) {
  if (host.dirty || host.waits_for_address) return;
  host.dirty = true;
  dirty_hosts_.push_back(&host);
}

void PolitenessGate::SetTimer(Host& host, Timers* timers, int64_t deadline) {
  ClearTimer(host);
  host.timers = timers;
  host.timer = timers->emplace(deadline, &host);
}

void PolitenessGate::ClearTimer(Host& host) {
  if (host.timers == nullptr) return;
  host.timers->erase(host.timer);
  host.timers = nullptr;
}

void PolitenessGate::Request(Ticket ticket, std::string_view host,
                             std::string_view address, int64_t /*now_ms*/) {
  Host& state = FindOrAddHost(host);
  state.queue.push_back({ticket, std::string(address)});
  ++waiting_;
  if (state.queue.size() > 1) return;  // behind a first ticket, parked
  if (state.timers == &idle_timers_) ClearTimer(state);
  MarkDirty(state);
}

void PolitenessGate::Release(std::string_view host, std::string_view address,
                             int64_t now_ms) {
  if (auto it = addresses_.find(address);
      it != addresses_.end() && it->second->admitted > 0) {
    Address& state = *it->second;
    --state.admitted;
    if (!state.waiting_hosts.empty()) {
      if (!state.dirty) {
        state.dirty = true;
        dirty_addresses_.push_back(&state);
      }
    } else if (state.admitted == 0 && !state.dirty) {
      addresses_.erase(it);  // a dirty one is forgotten by Admit
    }
  }
  if (auto it = hosts_.find(host);
      it != hosts_.end() && it->second->admitted > 0) {
    Host& state = *it->second;
    --state.admitted;
    if (!state.queue.empty()) {
      MarkDirty(state);
    } else if (state.admitted == 0 && !state.dirty) {
      RetireIdle(state, now_ms);  // a dirty one (withdrawn) by Admit
    }
  }
}

bool PolitenessGate::Withdraw(Ticket ticket, std::string_view host_name,
                              int64_t now_ms) {
  auto found = hosts_.find(host_name);
  if (found == hosts_.end()) return false;
  Host& host = *found->second;
  auto waiting = std::find_if(
      host.queue.begin(), host.queue.end(),
      [ticket](const Host::Waiting& w) { return w.ticket == ticket; });
  if (waiting == host.queue.end()) return false;
  const bool first = waiting == host.queue.begin();
  const std::string address_name = std::move(waiting->address);
  host.queue.erase(waiting);
  --waiting_;
  if (!first) return true;
  if (host.waits_for_address) {
    host.waits_for_address = false;
    auto address_it = addresses_.find(address_name);
    assert(address_it != addresses_.end());
    Address& address = *address_it->second;
    std::erase(address.waiting_hosts, &host);
    if (address.admitted == 0 && address.waiting_hosts.empty() &&
        !address.dirty) {
      addresses_.erase(address_it);
    }
  }
  if (!host.queue.empty()) {
    // The next ticket starts when the host's interval ends (its timer
    // stays), else it is tried at the next Admit.
    if (host.timers != &interval_timers_) MarkDirty(host);
    return true;
  }
  // A dirty host is retired by Admit; one with admitted tickets by their
  // Release.
  if (host.admitted == 0 && !host.dirty) {
    ClearTimer(host);
    RetireIdle(host, now_ms);
  }
  return true;
}

void PolitenessGate::RetireIdle(Host& host, int64_t now_ms) {
  assert(host.queue.empty() && host.admitted == 0 && !host.dirty);
  const int64_t end = host.last_start
                          ? *host.last_start + config_.min_host_interval_ms
                          : now_ms;  // never started: nothing to space
  if (end <= now_ms) {
    EraseHost(host);
  } else {
    SetTimer(host, &idle_timers_, end);
  }
}

void PolitenessGate::EraseHost(Host& host) {
  ClearTimer(host);
  hosts_.erase(host.name);
}

bool PolitenessGate::StartFirst(Host& host, int64_t now_ms,
                                std::vector<Ticket>* admitted) {
  if (host.admitted >= config_.max_per_host) return false;
  if (host.last_start.has_value() && config_.min_host_interval_ms > 0) {
    const int64_t end = *host.last_start + config_.min_host_interval_ms;
    if (now_ms < end) {
      SetTimer(host, &interval_timers_, end);
      return false;
    }
  }
  Host::Waiting& first = host.queue.front();
  Address& address = FindOrAddAddress(first.address);
  if (address.admitted >= config_.max_per_address) {
    host.waits_for_address = true;
    address.waiting_hosts.push_back(&host);
    return false;
  }
  ClearTimer(host);
  ++address.admitted;
  ++host.admitted;
  host.last_start = now_ms;
  admitted->push_back(first.ticket);
  host.queue.pop_front();
  --waiting_;
  return true;
}

std::vector<PolitenessGate::Ticket> PolitenessGate::Admit(int64_t now_ms) {
  std::vector<Ticket> admitted;
  while (!idle_timers_.empty() && idle_timers_.begin()->first <= now_ms) {
    EraseHost(*idle_timers_.begin()->second);
  }
  while (!interval_timers_.empty() &&
         interval_timers_.begin()->first <= now_ms) {
    Host& host = *interval_timers_.begin()->second;
    ClearTimer(host);
    MarkDirty(host);
  }
  // Freed address slots go to the hosts that waited for them first; their
  // later tickets join the other dirty hosts.
  std::vector<Address*> addresses;
  addresses.swap(dirty_addresses_);
  for (Address* address : addresses) {
    address->dirty = false;
    while (address->admitted < config_.max_per_address &&
           !address->waiting_hosts.empty()) {
      Host& host = *address->waiting_hosts.front();
      address->waiting_hosts.pop_front();
      host.waits_for_address = false;
      [[maybe_unused]] const bool started = StartFirst(host, now_ms, &admitted);
      assert(started);
      if (!host.queue.empty()) MarkDirty(host);
    }
    // Its waiting hosts may have withdrawn.
    if (address->admitted == 0 && address->waiting_hosts.empty()) {
      addresses_.erase(addresses_.find(address->name));
    }
  }
  std::vector<Host*> hosts;
  hosts.swap(dirty_hosts_);
  for (Host* host : hosts) {
    host->dirty = false;
    while (!host->queue.empty() && StartFirst(*host, now_ms, &admitted)) {
    }
    // Its tickets may have been withdrawn.
    if (host->queue.empty() && host->admitted == 0) RetireIdle(*host, now_ms);
  }
  return admitted;
}

std::optional<int64_t> PolitenessGate::NextIntervalDeadline() const {
  if (interval_timers_.empty()) return std::nullopt;
  return interval_timers_.begin()->first;
}

}  // namespace hl::worker
