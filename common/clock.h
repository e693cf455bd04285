// Injected time: decision logic takes a Clock instead of reading the system
// clock, so tests control time.
#pragma once

#include <cstdint>
#include <functional>

namespace hl {

// Milliseconds since the Unix epoch.
using Clock = std::function<int64_t()>;

// The system's wall clock.
int64_t SystemClockMs();

}  // namespace hl
