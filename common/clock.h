// Injected time: decision logic takes a Clock instead of reading the system
// clock, so tests control time.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "common/status.h"

namespace hl {

// Milliseconds since the Unix epoch.
using Clock = std::function<int64_t()>;

// The system's wall clock.
int64_t SystemClockMs();

// A duration written as a whole number and a unit: "90s", "45m", "12h",
// "30d" or "2w". Returns milliseconds; InvalidArgument (saying what is
// expected) otherwise.
Result<int64_t> ParseDurationMs(std::string_view text);

}  // namespace hl
