// The stable JSON form of results (docs/result-format.md is its reference).
//
// Field names are a contract: they are only ever added, never renamed or
// removed. Objects keep the documented field order. Records are written by
// a streaming writer straight into a string; ObservationToJson parses that
// text back into nlohmann::ordered_json (which converts to nlohmann::json
// where the order does not matter).
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
#include <string_view>

#include "common/digest.h"
#include "common/history.h"
#include "common/proto/hostlocator.pb.h"

namespace hl {

// One line of the results file, appended to *out as compact JSON (no
// whitespace, no newline; the escapes and number forms of nlohmann's
// dump(), so the files stay byte-identical to earlier ones): the input line's
// fields, then the observation's. A rejected line (line.rejection set) has
// status "rejected", error class "rejected", its reason, and null
// observation fields; `obs` is then ignored. A line without rejection and
// without observation (obs == nullptr) has null observation fields, status
// included. Text is repaired by the ToValidUtf8 rules and escaped per
// RFC 8259; *out is only appended to, so one buffer can serve many records.
// `history` (AnalyseHistory of the job's checks, `obs` the latest) fills
// the last fields, "history", "stale_data" and "warnings"; they are null
// without it.
void AppendResultRecordJson(const hostlocator::v1::LineRecord& line,
                            const hostlocator::v1::Observation* obs,
                            std::string* out,
                            const HistorySummary* history = nullptr);

// AppendResultRecordJson in two parts, so that one serialization of a line
// serves records with and without its history: the head is the record up
// to its history fields (no closing brace), the tail those fields and the
// closing brace. Head then tail appends exactly AppendResultRecordJson's
// text.
void AppendResultRecordHead(const hostlocator::v1::LineRecord& line,
                            const hostlocator::v1::Observation* obs,
                            std::string* out);
void AppendResultRecordTail(const HistorySummary* history, std::string* out);

// The whole observation, as printed by `hostlocator lookup`: the same
// writer's text parsed back (for printing and tests, not for bulk output).
nlohmann::ordered_json ObservationToJson(
    const hostlocator::v1::Observation& obs);

// A data source (MMDB, provider signatures, referral directory) as it
// appears in a record's "data_sources".
nlohmann::ordered_json DataSourceToJson(const hostlocator::v1::DataSource& d);

// RFC 3339 UTC with milliseconds, e.g. "2026-11-29T02:01:32.123Z". Exact
// for the years 0000 to 9999 (negative values are before 1970).
std::string FormatRfc3339Ms(int64_t unix_ms);
// FormatRfc3339Ms(unix_ms) appended to *out.
void AppendRfc3339Ms(int64_t unix_ms, std::string* out);

}  // namespace hl
