// The stable JSON form of results (docs/result-format.md is its reference).
//
// Field names are a contract: they are only ever added, never renamed or
// removed. Objects keep the documented field order (nlohmann::ordered_json;
// it converts to nlohmann::json where the order does not matter).
// Conventions:
// - every documented key is always present; a value the observation does
//   not have (unknown country, no answer, stage not run) is null, never "";
// - times are RFC 3339 UTC strings with milliseconds;
// - byte strings are lower-case hex (digests) or base64 (raw DNS answers);
// - HTTP headers are an array of [name, value] pairs, in the order and
//   with the repeats the server sent.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/proto/hostlocator.pb.h"

namespace hl {

// The whole observation, as printed by `hostlocator lookup`.
nlohmann::ordered_json ObservationToJson(
    const hostlocator::v1::Observation& obs);

// One line of the results file: the input line's fields, then the
// observation's. A rejected line (line.rejection set) has status
// "rejected", error class "rejected", its reason, and null observation
// fields; `obs` is then ignored. A line without rejection and without
// observation (obs == nullptr) has null observation fields, status
// included.
nlohmann::ordered_json ResultRecordJson(
    const hostlocator::v1::LineRecord& line,
    const hostlocator::v1::Observation* obs);

// RFC 3339 UTC with milliseconds, e.g. "2026-11-29T02:01:32.123Z". Exact
// for the years 0000 to 9999 (negative values are before 1970).
std::string FormatRfc3339Ms(int64_t unix_ms);

// Lower-case hex of `bytes`.
std::string HexLower(std::string_view bytes);

// Standard base64 with padding (RFC 4648, section 4) of `bytes`.
std::string Base64(std::string_view bytes);

}  // namespace hl
