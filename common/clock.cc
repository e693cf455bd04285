#include "common/clock.h"

#include <charconv>
#include <chrono>
#include <string>

namespace hl {

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<int64_t> ParseDurationMs(std::string_view text) {
  const auto invalid = [&] {
    return InvalidArgument("\"" + std::string(text) +
                           "\" is not a duration; write a whole number and "
                           "a unit: s, m, h, d or w (e.g. 90d)");
  };
  if (text.size() < 2) return invalid();
  int64_t unit_ms = 0;
  switch (text.back()) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = 60 * 1000;
      break;
    case 'h':
      unit_ms = 3600 * 1000;
      break;
    case 'd':
      unit_ms = 86400 * 1000;
      break;
    case 'w':
      unit_ms = 7 * 86400 * 1000;
      break;
    default:
      return invalid();
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  int64_t count = 0;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (ec != std::errc() || end != digits.data() + digits.size() || count < 0 ||
      count > INT64_MAX / unit_ms) {
    return invalid();
  }
  return count * unit_ms;
}

}  // namespace hl
