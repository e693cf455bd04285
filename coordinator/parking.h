// Queued jobs passed over because a fleet-wide politeness cap was full,
// parked in memory by the key whose cap held them back (a host, a
// registrable domain or an address: FleetPoliteness::Refusal), so that
// leasing never looks at them again until that key's count drops. Pure:
// no I/O, no clock; the store (Store::LeasePending) owns one.
//
// Each key holds its jobs in id order (FIFO) and is asleep or awake. A
// key falls asleep when a job of it is refused, whatever the refusing key,
// and is woken when a check counted against it ends (Wake). The jobs of
// awake keys are offered smallest id first across all of them, so one
// hot key's queue does not hold back the others and the queue's order is
// kept among the jobs that may start. A woken key whose head is refused
// again costs one look: leasing work per freed slot does not grow with the
// number of parked jobs.
//
// Liveness: a job is parked only under a key at its cap, so a check
// counted against that key is in flight and its end wakes the key. A key
// put to sleep by another key's refusal wakes when its moved job (which
// counts against it) runs and ends.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

namespace hl::coordinator {

class ParkingLot {
 public:
  // Parks `job_id` under `key` and puts `key` to sleep. A job is parked
  // under one key at a time.
  void Park(const std::string& key, uint64_t job_id);
  // Offers `key`'s jobs again; a key with no parked job is ignored.
  void Wake(const std::string& key);
  void WakeAll();
  // The smallest parked job id among the awake keys.
  std::optional<uint64_t> Next() const;
  // Removes Next() (it was leased, or is no longer queued).
  void TakeNext();
  // Next() was refused because of `key`: it moves under `key`, and both its
  // former key and `key` sleep.
  void RefuseNext(const std::string& key);
  void Clear();
  size_t size() const { return parked_; }

 private:
  struct Key {
    std::deque<uint64_t> jobs;  // ascending
    bool awake = false;
  };
  void Sleep(const std::string& name, Key& key);

  std::unordered_map<std::string, Key> keys_;
  // (first job, key) of every awake key.
  std::set<std::pair<uint64_t, std::string>> awake_;
  size_t parked_ = 0;
};

}  // namespace hl::coordinator
