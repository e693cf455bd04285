#include "coordinator/parking.h"

#include <algorithm>

namespace hl::coordinator {

void ParkingLot::Sleep(const std::string& name, Key& key) {
  if (!key.awake) return;
  awake_.erase({key.jobs.front(), name});
  key.awake = false;
}

void ParkingLot::Park(const std::string& key, uint64_t job_id) {
  Key& k = keys_[key];
  Sleep(key, k);
  // Jobs arrive in id order but for re-queued ones.
  if (k.jobs.empty() || k.jobs.back() < job_id) {
    k.jobs.push_back(job_id);
  } else {
    k.jobs.insert(std::lower_bound(k.jobs.begin(), k.jobs.end(), job_id),
                  job_id);
  }
  ++parked_;
}

void ParkingLot::Wake(const std::string& key) {
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.awake) return;
  it->second.awake = true;
  awake_.emplace(it->second.jobs.front(), key);
}

void ParkingLot::WakeAll() {
  for (auto& [name, key] : keys_) {
    if (key.awake) continue;
    key.awake = true;
    awake_.emplace(key.jobs.front(), name);
  }
}

std::optional<uint64_t> ParkingLot::Next() const {
  if (awake_.empty()) return std::nullopt;
  return awake_.begin()->first;
}

void ParkingLot::TakeNext() {
  if (awake_.empty()) return;
  auto node = awake_.extract(awake_.begin());
  auto it = keys_.find(node.value().second);
  it->second.jobs.pop_front();
  --parked_;
  if (it->second.jobs.empty()) {
    keys_.erase(it);
    return;
  }
  node.value().first = it->second.jobs.front();
  awake_.insert(std::move(node));
}

void ParkingLot::RefuseNext(const std::string& key) {
  if (awake_.empty()) return;
  const auto& [job_id, from] = *awake_.begin();
  if (from == key) {
    Sleep(key, keys_[key]);
    return;
  }
  const uint64_t moved = job_id;
  const std::string former = from;
  TakeNext();
  if (auto it = keys_.find(former); it != keys_.end()) {
    Sleep(former, it->second);
  }
  Park(key, moved);
}

void ParkingLot::Clear() {
  keys_.clear();
  awake_.clear();
  parked_ = 0;
}

}  // namespace hl::coordinator
