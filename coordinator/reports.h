// Report files: one formatter serves `run` and `export`.
//
// A run's output folder holds:
//   results.jsonl        one JSON record per input line, in line order
//                        (docs/result-format.md)
//   results.csv          the same lines, flat (CsvHeader() columns)
//   countries.csv        per hosting country: lines, unique URLs, networks
//   referrals/           the referral packages, one per primary
//                        jurisdiction plus "unattributed"
//                        (coordinator/referral_package.h)
//   ATTRIBUTION.txt      the data sources' licence attributions
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/history.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "coordinator/referral_package.h"

namespace hl::coordinator {

namespace pb = ::hostlocator::v1;

// The flat CSV form of one line's outcome.
std::string CsvHeader();
// The CsvHeader() columns of one line appended to *out (no newline). The
// history columns (checks, history_state, moved, down, online_since,
// down_since, fast_flux, warnings) come from `history` and are empty
// without it.
void AppendCsvRow(const pb::LineRecord& line, const pb::Observation* obs,
                  std::string* out, const HistorySummary* history = nullptr);
// `value` appended to *out as one CSV field: RFC 4180 quoting when needed;
// invalid UTF-8 repaired; a leading = + - @ TAB or CR neutralised with ' so
// spreadsheets do not run it as a formula.
void AppendCsvField(std::string_view value, std::string* out);

// "located" | "unresolved" | "error" | "rejected".
std::string LineStatus(const pb::LineRecord& line, const pb::Observation* obs);

struct ReportSummary {
  uint64_t lines = 0;
  std::map<std::string, uint64_t> by_status;
  struct Country {
    uint64_t lines = 0;
    uint64_t jobs = 0;  // distinct jobs among those lines
    std::map<std::string, uint64_t> networks;  // "AS64500 Org" -> lines
  };
  std::map<std::string, Country> by_country;
  std::vector<std::string> files;
  PackageSetSummary packages;
};

class RunReportWriter {
 public:
  // Creates `dir` and opens every file; the referral packages go to
  // dir/referrals/ (replacing what is there) with `packages`.
  static Result<std::unique_ptr<RunReportWriter>> Create(
      const std::string& dir, PackageOptions packages);
  ~RunReportWriter();

  // Lines must come in line order. `obs` is null for rejected lines and for
  // jobs without a result (dead-lettered).
  // `history` summarises the job's checks (ReadOutcome), null with `obs`.
  Status Add(const pb::LineRecord& line, const pb::Observation* obs,
             const HistorySummary* history);
  Result<ReportSummary> Finish();

 private:
  explicit RunReportWriter(std::string dir) : dir_(std::move(dir)) {}
  // Writes the buffered records to results.jsonl and empties the buffer.
  void FlushRecords();

  std::string dir_;
  std::ofstream jsonl_, csv_;
  std::unique_ptr<ReferralPackageWriter> packages_;
  std::set<std::string> attributions_;
  ReportSummary summary_;
  // Reused between lines: results.jsonl records not yet written (flushed
  // in blocks: a stream writes a long record with a system call of its
  // own), the current line's record without history (for the packages),
  // the current CSV row, and a network name.
  std::string records_;
  std::string record_;
  std::string row_;
  std::string network_;
  // Bit per job id: the job's countries are counted. A bit, not a set of
  // ids, so that memory stays flat over millions of jobs (job ids are
  // dense: 1 MB per 8 million).
  std::vector<bool> job_counted_;
};

}  // namespace hl::coordinator
