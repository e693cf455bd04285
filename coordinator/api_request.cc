#include "coordinator/api_request.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "common/utf8.h"

namespace hl::coordinator {
namespace {

std::optional<uint64_t> ParseU64(std::string_view text, int base = 10) {
  uint64_t value = 0;
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

const std::string* Param(const QueryParams& params, const std::string& key) {
  auto it = params.find(key);
  return it == params.end() ? nullptr : &it->second;
}

Result<uint64_t> NumberParam(const QueryParams& params, const std::string& key,
                             uint64_t fallback, uint64_t min, uint64_t max) {
  const std::string* text = Param(params, key);
  if (text == nullptr) return fallback;
  const std::optional<uint64_t> n = ParseU64(*text);
  if (!n || *n < min || *n > max) {
    return InvalidArgument(key + " is a whole number from " +
                           std::to_string(min) + " to " + std::to_string(max) +
                           ", not \"" + *text + "\"");
  }
  return *n;
}

Result<int64_t> ParseDurationMs(std::string_view text) {
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"ms", 1},        {"s", 1000},       {"m", 60'000},
      {"h", 3'600'000}, {"d", 86'400'000},
  };
  if (text == "0") return int64_t{0};
  const size_t digits = text.find_first_not_of("0123456789");
  const auto bad = [&] {
    return InvalidArgument("bad duration \"" + std::string(text) +
                           "\": write a number and a unit (ms, s, m, h, d), "
                           "e.g. 30d, or 0 to probe every URL now");
  };
  if (digits == 0 || digits == std::string_view::npos) return bad();
  const auto number = ParseU64(text.substr(0, digits));
  if (!number) return bad();
  for (const auto& [unit, scale] : kUnits) {
    if (text.substr(digits) != unit) continue;
    if (*number > static_cast<uint64_t>(INT64_MAX / scale)) return bad();
    return static_cast<int64_t>(*number) * scale;
  }
  return bad();
}

std::optional<std::string_view> BearerSecret(std::string_view header) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return std::nullopt;
    }
  }
  std::string_view secret = header.substr(kScheme.size());
  while (!secret.empty() && secret.back() == ' ') secret.remove_suffix(1);
  if (secret.empty()) return std::nullopt;
  return secret;
}

Result<std::string> UrlListFromJson(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) {
    return InvalidArgument("the body is not valid JSON");
  }
  const nlohmann::json* urls = &doc;
  if (doc.is_object() && doc.contains("urls")) urls = &doc["urls"];
  if (!urls->is_array()) {
    return InvalidArgument(
        "expected {\"urls\": [\"...\", ...]} or an array of strings");
  }
  std::string text;
  size_t index = 0;
  for (const auto& entry : *urls) {
    ++index;
    if (!entry.is_string()) {
      return InvalidArgument("entry " + std::to_string(index) +
                             " of the URL list is not a string");
    }
    const auto& url = entry.get_ref<const std::string&>();
    if (url.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("entry " + std::to_string(index) +
                             " of the URL list holds a line break");
    }
    text += url;
    text += '\n';
  }
  return text;
}

std::string EncodeCursor(const ResultCursor& cursor) {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx",
                static_cast<unsigned long long>(cursor.run_id),
                static_cast<unsigned long long>(cursor.line));
  return buf;
}

Result<ResultCursor> DecodeCursor(std::string_view text) {
  const auto run =
      text.size() == 32 ? ParseU64(text.substr(0, 16), 16) : std::nullopt;
  const auto line =
      text.size() == 32 ? ParseU64(text.substr(16), 16) : std::nullopt;
  if (!run || !line) {
    return InvalidArgument(
        "bad cursor: pass the next_cursor of the previous page as it is");
  }
  return ResultCursor{*run, *line};
}

Result<ResultsQuery> ParseResultsQuery(const QueryParams& params) {
  ResultsQuery query;
  if (const auto* batch = Param(params, "batch")) {
    auto id = ParseU64(*batch);
    if (!id || *id == 0) return InvalidArgument("bad batch \"" + *batch + "\"");
    query.run_id = *id;
  }
  if (const auto* country = Param(params, "country")) {
    if (country->size() != 2 || !std::isalpha((*country)[0]) ||
        !std::isalpha((*country)[1])) {
      return InvalidArgument("country is a two-letter ISO code, e.g. DE");
    }
    query.country = {static_cast<char>(std::toupper((*country)[0])),
                     static_cast<char>(std::toupper((*country)[1]))};
  }
  if (const auto* status = Param(params, "status")) {
    if (*status != "located" && *status != "unresolved" && *status != "error" &&
        *status != "rejected") {
      return InvalidArgument(
          "status is one of located, unresolved, error, rejected");
    }
    query.status = *status;
  }
  if (const auto* event = Param(params, "event")) {
    if (*event != "moved" && *event != "down" && *event != "back_up") {
      return InvalidArgument("event is one of moved, down, back_up");
    }
    query.event = *event;
  }
  if (const auto* state = Param(params, "state")) {
    if (*state != "online" && *state != "down" && *state != "unreachable") {
      return InvalidArgument("state is one of online, down, unreachable");
    }
    query.state = *state;
  }
  if (const auto* limit = Param(params, "limit")) {
    auto n = ParseU64(*limit);
    if (!n || *n == 0 || *n > kMaxResultsPage) {
      return InvalidArgument("limit is 1 to " +
                             std::to_string(kMaxResultsPage));
    }
    query.limit = *n;
  }
  if (const auto* cursor = Param(params, "cursor")) {
    auto decoded = DecodeCursor(*cursor);
    if (!decoded.ok()) return decoded.status();
    if (query.run_id != 0 && decoded->run_id != query.run_id) {
      return InvalidArgument("the cursor belongs to another batch");
    }
    query.from = *decoded;
  } else {
    query.from = {query.run_id, 0};
  }
  return query;
}

Result<int64_t> ParseUtcTime(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgument("bad time \"" + ToValidUtf8(text) +
                           "\": write a UTC date YYYY-MM-DD (2026-11-29) or "
                           "time YYYY-MM-DDTHH:MM:SSZ (2026-11-29T08:30:00Z)");
  };
  const auto digits = [&](size_t at, size_t n) -> std::optional<uint64_t> {
    if (at + n > text.size()) return std::nullopt;
    return ParseU64(text.substr(at, n));
  };
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
  if (text.size() < 10 || text[4] != '-' || text[7] != '-' || !y || !mo || !d) {
    return bad();
  }
  using namespace std::chrono;
  const year_month_day date{year(static_cast<int>(*y)),
                            month(static_cast<unsigned>(*mo)),
                            day(static_cast<unsigned>(*d))};
  if (!date.ok()) return bad();
  int64_t ms =
      duration_cast<milliseconds>(sys_days(date).time_since_epoch()).count();
  if (text.size() == 10) return ms;
  const auto h = digits(11, 2), mi = digits(14, 2), s = digits(17, 2);
  if (text.size() < 20 || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z' || !h || !mi || !s || *h > 23 ||
      *mi > 59 || *s > 60) {
    return bad();
  }
  std::string_view fraction = text.substr(19, text.size() - 20);
  int64_t frac_ms = 0;
  if (!fraction.empty()) {
    if (fraction[0] != '.' || fraction.size() < 2) return bad();
    fraction.remove_prefix(1);
    const auto f = ParseU64(fraction.substr(0, 3));
    if (!f || !ParseU64(fraction)) return bad();
    frac_ms = static_cast<int64_t>(*f);
    for (size_t n = std::min<size_t>(fraction.size(), 3); n < 3; ++n) {
      frac_ms *= 10;
    }
  }
  return ms + static_cast<int64_t>((*h * 60 + *mi) * 60 + *s) * 1000 + frac_ms;
}

Result<TakedownParams> ParseTakedownParams(const QueryParams& params) {
  TakedownParams out;
  if (const auto* batch = Param(params, "batch")) {
    auto id = ParseU64(*batch);
    if (!id || *id == 0) return InvalidArgument("bad batch \"" + *batch + "\"");
    out.run_id = *id;
  }
  for (const auto& [key, field] :
       {std::pair{"from", &out.from_ms}, std::pair{"to", &out.to_ms}}) {
    if (const auto* v = Param(params, key)) {
      if (out.run_id != 0) {
        return InvalidArgument("give a batch or a time range, not both");
      }
      auto ms = ParseUtcTime(*v);
      if (!ms.ok()) return ms.status();
      *field = *ms;
    }
  }
  if (out.from_ms >= out.to_ms) {
    return InvalidArgument("the time range is empty: from must be before to");
  }
  return out;
}

Result<SubmitParams> ParseSubmitParams(const QueryParams& params) {
  SubmitParams out;
  if (const auto* v = Param(params, "case")) out.case_reference = *v;
  if (const auto* v = Param(params, "referer")) out.referer = *v;
  if (const auto* v = Param(params, "user_agent")) out.user_agent = *v;
  if (const auto* v = Param(params, "max_age")) {
    auto ms = ParseDurationMs(*v);
    if (!ms.ok()) return ms.status();
    out.max_result_age_ms = *ms;
  }
  return out;
}

std::optional<Role> RequiredRole(std::string_view method,
                                 std::string_view path) {
  constexpr std::string_view kBatches = "/api/v1/batches";
  if (path == "/api/v1/health") return std::nullopt;
  if (path == "/api/v1/session") return Role::kAnyToken;
  if (method == "POST" && (path == kBatches || path.ends_with("/recheck"))) {
    return Role::kSubmit;
  }
  if (path.starts_with(kBatches) &&
      (path.ends_with("/export") ||
       path.find("/referrals/") != std::string_view::npos)) {
    return Role::kExport;
  }
  if (path.starts_with("/api/v1/exports/")) return Role::kExport;
  // Status, results and metrics. (A path no handler serves is answered 404
  // by the server before any token check.)
  return Role::kRead;
}

}  // namespace hl::coordinator
