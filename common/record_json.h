// The stable JSON form of results (docs/result-format.md is its reference).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/proto/hostlocator.pb.h"

namespace hl {

// The whole observation, as printed by `hostlocator lookup`.
nlohmann::json ObservationToJson(const hostlocator::v1::Observation& obs);

// One line of the results file: the input line's fields, then the
// observation's (or the rejection when the line was rejected).
nlohmann::json ResultRecordJson(const hostlocator::v1::LineRecord& line,
                                const hostlocator::v1::Observation* obs);

// RFC 3339 UTC with milliseconds, e.g. "2026-11-29T02:01:32.123Z".
std::string FormatRfc3339Ms(int64_t unix_ms);

}  // namespace hl
