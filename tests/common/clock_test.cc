#include "common/clock.h"

#include <gtest/gtest.h>

namespace hl {
namespace {

TEST(ParseDurationMsTest, Table) {
  struct Case {
    const char* text;
    int64_t want_ms;  // -1: refused
  } cases[] = {
      {"90s", 90'000},
      {"45m", 2'700'000},
      {"12h", 43'200'000},
      {"30d", 2'592'000'000},
      {"2w", 1'209'600'000},
      {"0d", 0},
      {"d", -1},
      {"", -1},
      {"10", -1},
      {"1.5d", -1},
      {"-1d", -1},
      {"10y", -1},
      {"99999999999999999d", -1},
  };
  for (const auto& c : cases) {
    auto got = ParseDurationMs(c.text);
    if (c.want_ms < 0) {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << c.text;
      continue;
    }
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want_ms) << c.text;
  }
}

}  // namespace
}  // namespace hl
