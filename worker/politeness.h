// Placeholder of the politeness gate's interface (the implementation lands
// from branch wt-pol).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace hl::worker {

class PolitenessGate {
 public:
  using Ticket = uint64_t;
  explicit PolitenessGate(const PolitenessConfig& config);
  void Request(Ticket ticket, std::string_view host, std::string_view address,
               int64_t now_ms);
  void Release(std::string_view host, std::string_view address,
               int64_t now_ms);
  std::vector<Ticket> Admit(int64_t now_ms);
  std::optional<int64_t> NextIntervalDeadline() const;
  size_t waiting() const;
  size_t hosts_tracked() const;
};

}  // namespace hl::worker
