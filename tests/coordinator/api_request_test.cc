// The API's request parsing from tables: durations, bearer headers, JSON URL
// lists, cursors, results queries and the role of each endpoint.
#include "coordinator/api_request.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hl::coordinator {
namespace {

TEST(ApiRequestTest, ParsesDurations) {
  struct Case {
    std::string text;
    int64_t ms;  // -1: an error
  } cases[] = {
      {"0", 0},        {"500ms", 500},    {"30s", 30000},
      {"15m", 900000}, {"12h", 43200000}, {"7d", 604800000},
      {"0s", 0},       {"30", -1},        {"", -1},
      {"d", -1},       {"-1d", -1},       {"1.5h", -1},
      {"10w", -1},     {"1 d", -1},       {"99999999999999999999d", -1},
  };
  for (const auto& c : cases) {
    auto ms = ParseDurationMs(c.text);
    if (c.ms < 0) {
      EXPECT_FALSE(ms.ok()) << c.text;
    } else {
      ASSERT_TRUE(ms.ok()) << c.text;
      EXPECT_EQ(*ms, c.ms) << c.text;
    }
  }
}

TEST(ApiRequestTest, ReadsBearerSecrets) {
  struct Case {
    std::string header;
    std::optional<std::string> secret;
  } cases[] = {
      {"Bearer abc", "abc"},       {"bearer abc", "abc"},
      {"Bearer abc  ", "abc"},     {"Bearer ", std::nullopt},
      {"Basic abc", std::nullopt}, {"", std::nullopt},
      {"Bearerabc", std::nullopt},
  };
  for (const auto& c : cases) {
    auto secret = BearerSecret(c.header);
    EXPECT_EQ(secret.has_value(), c.secret.has_value()) << c.header;
    if (secret && c.secret) {
      EXPECT_EQ(std::string(*secret), *c.secret);
    }
  }
}

TEST(ApiRequestTest, TurnsJsonListsIntoNumberedLines) {
  struct Case {
    std::string body;
    std::optional<std::string> text;
  } cases[] = {
      {R"({"urls": ["http://a.test/", "b"]})", "http://a.test/\nb\n"},
      {R"(["x", "y", "z"])", "x\ny\nz\n"},
      {R"({"urls": []})", ""},
      {R"({"urls": ["a\nb"]})", std::nullopt},
      {R"({"urls": [1]})", std::nullopt},
      {R"({"list": ["a"]})", std::nullopt},
      {R"("a")", std::nullopt},
      {"not json", std::nullopt},
  };
  for (const auto& c : cases) {
    auto text = UrlListFromJson(c.body);
    EXPECT_EQ(text.ok(), c.text.has_value()) << c.body;
    if (text.ok() && c.text) {
      EXPECT_EQ(*text, *c.text);
    }
  }
}

TEST(ApiRequestTest, CursorsRoundTripAndBadOnesAreRefused) {
  for (ResultCursor c : {ResultCursor{1, 0}, ResultCursor{7, 123456},
                         ResultCursor{UINT64_MAX, UINT64_MAX}}) {
    auto decoded = DecodeCursor(EncodeCursor(c));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, c);
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "abc", std::string(32, 'g'),
                                std::string(31, '0'), std::string(33, '0')}) {
    EXPECT_FALSE(DecodeCursor(bad).ok()) << bad;
  }
}

TEST(ApiRequestTest, ParsesResultsQueries) {
  const std::string cursor = EncodeCursor({3, 40});
  struct Case {
    QueryParams params;
    bool ok;
    uint64_t run_id;
    std::string country;
    std::string status;
    size_t limit;
    ResultCursor from;
  } cases[] = {
      {{}, true, 0, "", "", 100, {0, 0}},
      {{{"batch", "3"},
        {"country", "de"},
        {"status", "located"},
        {"limit", "5"}},
       true,
       3,
       "DE",
       "located",
       5,
       {3, 0}},
      {{{"batch", "3"}, {"cursor", cursor}}, true, 3, "", "", 100, {3, 40}},
      {{{"cursor", cursor}}, true, 0, "", "", 100, {3, 40}},
      {{{"batch", "4"}, {"cursor", cursor}}, false, 0, "", "", 0, {}},
      {{{"batch", "0"}}, false, 0, "", "", 0, {}},
      {{{"batch", "x"}}, false, 0, "", "", 0, {}},
      {{{"country", "DEU"}}, false, 0, "", "", 0, {}},
      {{{"status", "pending"}}, false, 0, "", "", 0, {}},
      {{{"limit", "0"}}, false, 0, "", "", 0, {}},
      {{{"limit", "1001"}}, false, 0, "", "", 0, {}},
      {{{"cursor", "zz"}}, false, 0, "", "", 0, {}},
  };
  for (const auto& c : cases) {
    auto q = ParseResultsQuery(c.params);
    ASSERT_EQ(q.ok(), c.ok)
        << (c.params.empty() ? "" : c.params.begin()->first);
    if (!c.ok) continue;
    EXPECT_EQ(q->run_id, c.run_id);
    EXPECT_EQ(q->country, c.country);
    EXPECT_EQ(q->status, c.status);
    EXPECT_EQ(q->limit, c.limit);
    EXPECT_EQ(q->from, c.from);
  }
}

TEST(ApiRequestTest, ParsesHistoryFiltersOfResults) {
  auto q = ParseResultsQuery({{"event", "moved"}, {"state", "down"}});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->event, "moved");
  EXPECT_EQ(q->state, "down");
  EXPECT_EQ(ParseResultsQuery({{"event", "back_up"}})->event, "back_up");
  EXPECT_EQ(ParseResultsQuery({{"state", "unreachable"}})->state,
            "unreachable");
  EXPECT_FALSE(ParseResultsQuery({{"event", "online"}}).ok());
  EXPECT_FALSE(ParseResultsQuery({{"state", "gone"}}).ok());
}

TEST(ApiRequestTest, ParsesUtcTimes) {
  struct Case {
    std::string text;
    bool ok;
    int64_t ms;
  };
  const std::vector<Case> cases = {
      {"2027-01-15", true, 1'800'000'000'000 - 8 * 3'600'000},
      {"2027-01-15T08:00:00Z", true, 1'800'000'000'000},
      {"2027-01-15T08:00:00.5Z", true, 1'800'000'000'500},
      {"2027-01-15T08:00:00.123Z", true, 1'800'000'000'123},
      {"2027-01-15T08:00:00.1239Z", true, 1'800'000'000'123},
      {"1970-01-01", true, 0},
      {"2024-02-29", true, 1'709'164'800'000},
      {"2027-02-30", false, 0},
      {"2026-11-2", false, 0},
      {"2027-01-15T24:00:00Z", false, 0},
      {"2027-01-15T08:00:00", false, 0},
      {"2027-01-15T08:00:00+01:00", false, 0},
      {"2027-01-15T08:00:00.Z", false, 0},
      {"15.01.2027", false, 0},
      {"", false, 0},
  };
  for (const auto& c : cases) {
    auto ms = ParseUtcTime(c.text);
    ASSERT_EQ(ms.ok(), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(*ms, c.ms) << c.text;
    }
  }
}

TEST(ApiRequestTest, ParsesTakedownParameters) {
  auto all = ParseTakedownParams({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->run_id, 0u);
  EXPECT_EQ(all->from_ms, 0);
  EXPECT_EQ(all->to_ms, INT64_MAX);
  EXPECT_EQ(ParseTakedownParams({{"batch", "4"}})->run_id, 4u);
  auto range =
      ParseTakedownParams({{"from", "2027-01-15"}, {"to", "2027-01-16"}});
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->to_ms - range->from_ms, 86'400'000);
  EXPECT_FALSE(
      ParseTakedownParams({{"batch", "4"}, {"from", "2027-01-15"}}).ok());
  EXPECT_FALSE(
      ParseTakedownParams({{"from", "2027-01-16"}, {"to", "2027-01-15"}}).ok());
  EXPECT_FALSE(ParseTakedownParams({{"batch", "0"}}).ok());
}

TEST(ApiRequestTest, ParsesSubmitParameters) {
  auto p = ParseSubmitParams({{"case", "R-1"},
                              {"max_age", "2h"},
                              {"referer", "https://r.test/"},
                              {"user_agent", "UA"}});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->case_reference, "R-1");
  EXPECT_EQ(p->max_result_age_ms, 7200000);
  EXPECT_EQ(p->referer, "https://r.test/");
  EXPECT_EQ(p->user_agent, "UA");
  EXPECT_EQ(ParseSubmitParams({})->max_result_age_ms, -1);
  EXPECT_FALSE(ParseSubmitParams({{"max_age", "soon"}}).ok());
}

TEST(ApiRequestTest, EachEndpointNeedsItsRole) {
  struct Case {
    std::string method, path;
    std::optional<Role> role;
  } cases[] = {
      {"GET", "/api/v1/health", std::nullopt},
      {"POST", "/api/v1/batches", Role::kSubmit},
      {"GET", "/api/v1/batches/3", Role::kRead},
      {"GET", "/api/v1/batches/3/export", Role::kExport},
      {"GET", "/api/v1/batches/3/referrals/DE.html", Role::kExport},
      {"GET", "/api/v1/batches/3/referrals/index.json", Role::kExport},
      {"GET", "/api/v1/results", Role::kRead},
      {"GET", "/api/v1/history", Role::kRead},
      {"GET", "/api/v1/reports/takedown", Role::kRead},
      {"GET", "/metrics", Role::kRead},
      {"GET", "/anything/else", Role::kRead},
      {"POST", "/api/v1/batches/3", Role::kRead},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(RequiredRole(c.method, c.path), c.role) << c.method << c.path;
  }
}

}  // namespace
}  // namespace hl::coordinator
