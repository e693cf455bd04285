// The pure parts of the HTTP API: parameters, cursors, JSON URL lists and
// the role each endpoint needs. No I/O; table-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "coordinator/tokens.h"

namespace hl::coordinator {

// Query parameters as the HTTP library hands them over.
using QueryParams = std::multimap<std::string, std::string>;

// "0", "500ms", "30s", "15m", "12h", "7d" -> milliseconds. A number
// without a unit is an error (except 0).
Result<int64_t> ParseDurationMs(std::string_view text);

// The secret of an "Authorization: Bearer SECRET" header value.
std::optional<std::string_view> BearerSecret(std::string_view header);

// A JSON submission, {"urls": ["...", ...]} or a bare array of strings, as
// the text of a URL list: one entry a line, so line N is the N-th entry.
// An entry holding CR or LF is refused (it would shift the line numbers).
Result<std::string> UrlListFromJson(std::string_view body);

// A position in the results: the next line to return.
struct ResultCursor {
  uint64_t run_id = 0;
  uint64_t line = 0;
  friend bool operator==(const ResultCursor&, const ResultCursor&) = default;
};
// Opaque to clients: 32 hex digits.
std::string EncodeCursor(const ResultCursor& cursor);
Result<ResultCursor> DecodeCursor(std::string_view text);

// The first value of query parameter `key`, or null.
const std::string* Param(const QueryParams& params, const std::string& key);
// Query parameter `key` as a whole number in [min, max], `fallback` when
// absent; InvalidArgument names the parameter and its range.
Result<uint64_t> NumberParam(const QueryParams& params, const std::string& key,
                             uint64_t fallback, uint64_t min, uint64_t max);

// GET /api/v1/results parameters: batch (optional), country (ISO code),
// status (located|unresolved|error|rejected), event (moved|down|back_up:
// the URL's history has one), state (online|down|unreachable: its latest
// conclusive check, common/history.h), cursor, limit.
struct ResultsQuery {
  uint64_t run_id = 0;  // 0: every batch, oldest first
  std::string country;  // upper case; "" any
  std::string status;   // "" any
  std::string event;    // "" any
  std::string state;    // "" any
  ResultCursor from;
  size_t limit = 100;
};
inline constexpr size_t kMaxResultsPage = 1000;
Result<ResultsQuery> ParseResultsQuery(const QueryParams& params);

// A time parameter: "YYYY-MM-DD" (midnight UTC) or RFC 3339 UTC
// "YYYY-MM-DDTHH:MM:SSZ" (fraction allowed) -> Unix milliseconds.
Result<int64_t> ParseUtcTime(std::string_view text);

// GET /api/v1/reports/takedown parameters: batch, or from/to (times as
// ParseUtcTime; from inclusive, to exclusive). Neither: every URL.
struct TakedownParams {
  uint64_t run_id = 0;
  int64_t from_ms = 0;
  int64_t to_ms = INT64_MAX;
};
Result<TakedownParams> ParseTakedownParams(const QueryParams& params);

// Submission parameters: case, referer, user_agent, max_age.
struct SubmitParams {
  std::string case_reference;
  std::string referer;
  std::string user_agent;
  int64_t max_result_age_ms = -1;  // -1: the configured default
};
Result<SubmitParams> ParseSubmitParams(const QueryParams& params);

// The role an endpoint needs; nullopt for one open to all (health).
// `path` has no query string.
std::optional<Role> RequiredRole(std::string_view method,
                                 std::string_view path);

}  // namespace hl::coordinator
