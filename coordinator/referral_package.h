// Referral packages: the lines of a batch grouped by the jurisdiction they
// are referred to, one folder per hosting country plus one for the lines
// that cannot be attributed, each with a CSV, a JSON and a self-contained
// HTML report (docs/reports.md describes the files).
//
//   DIR/index.html, DIR/index.json        every package, its counts, its
//                                         referral targets and files
//   DIR/CC/CC.csv, CC.json, CC.html       lines whose primary jurisdiction
//                                         (verdict.jurisdiction) is CC
//   DIR/unattributed/unattributed.*       rejected, unresolved, erroneous,
//                                         not attributable lines
//
// A line belongs to the package of each of its primary countries (a URL on
// addresses in several countries is in each), else to "unattributed".
// Grouping and filtering are pure (PackageKeys, PassesFilter); the writer
// only streams. Every byte of a package file goes through one
// PackageFileSink, so a chain or signature over records can be applied
// where the sink is made (PackageOptions::sink_factory).
//
// The HTML shows outside values as escaped text only, reported URLs and
// names defanged (coordinator/html_text.h), no link to a reported site, no
// image, no script; its Content-Security-Policy allows only its own inline
// style (by hash).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/history.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"

namespace hl::coordinator {

class Store;
namespace pb = ::hostlocator::v1;

// The package of lines without a primary country.
inline constexpr std::string_view kUnattributed = "unattributed";

// Which lines go into the packages. Empty sets select everything.
struct PackageFilter {
  // checked_at of the line's result in [checked_from_ms, checked_to_ms);
  // a set bound excludes lines without a result (rejected, dead).
  int64_t checked_from_ms = std::numeric_limits<int64_t>::min();
  int64_t checked_to_ms = std::numeric_limits<int64_t>::max();
  std::set<std::string> countries;  // package keys: ISO codes, "unattributed"
  std::set<std::string> statuses;   // LineStatus values (reports.h)
  bool has_date_range() const {
    return checked_from_ms != std::numeric_limits<int64_t>::min() ||
           checked_to_ms != std::numeric_limits<int64_t>::max();
  }
};

// The packages of a line, sorted: the ISO codes of
// verdict.jurisdiction.primary_countries (verdict.hosting_countries for
// results written before the jurisdiction rules), else {"unattributed"}.
// `obs` is null for rejected lines and lines without a result.
std::vector<std::string> PackageKeys(const pb::LineRecord& line,
                                     const pb::Observation* obs);

// True when the line passes the status and date bounds of `filter` (the
// country set applies to PackageKeys, see SelectedKeys).
bool PassesFilter(const PackageFilter& filter, const pb::LineRecord& line,
                  const pb::Observation* obs);

// The keys of `keys` that `filter` selects.
std::vector<std::string> SelectedKeys(const PackageFilter& filter,
                                      const std::vector<std::string>& keys);

// The filter of a command line or API request. `from` and `to` are
// ParseUtcTime forms (coordinator/api_request.h) or "" (no bound); `from` is
// inclusive, `to` exclusive, except that a date alone given to `to` includes
// that whole day. `countries` are ISO codes or "unattributed"; `statuses`
// LineStatus values. InvalidArgument with a message naming the value and the
// accepted forms.
Result<PackageFilter> MakePackageFilter(
    std::string_view from, std::string_view to,
    const std::vector<std::string>& countries,
    const std::vector<std::string>& statuses);

// One finished package file.
struct PackageFile {
  std::string path;  // relative to the package set's folder
  uint64_t bytes = 0;
  std::string sha256;  // hex
};

// Where the bytes of one package file go, in file order. For the CSV and
// JSON files Write is called once per record (a CSV row; a JSON result
// record without the ",\n" between records) with `record` true, and for the
// text around records with `record` false. The HTML and index files come in
// blocks, all with `record` false (they are covered whole by the SHA-256 that
// index.json lists). Finish flushes and describes the file. The evidence chain
// (hash-chained records, a signed manifest) wraps this interface.
class PackageFileSink {
 public:
  virtual ~PackageFileSink() = default;
  virtual Status Write(std::string_view bytes, bool record) = 0;
  virtual Result<PackageFile> Finish() = 0;
};

// Makes the sink of file `relative_path` under folder `dir`.
using PackageSinkFactory =
    std::function<Result<std::unique_ptr<PackageFileSink>>(
        const std::string& dir, const std::string& relative_path)>;

// The default: a plain file, SHA-256 computed while written.
Result<std::unique_ptr<PackageFileSink>> MakeFilePackageSink(
    const std::string& dir, const std::string& relative_path);

struct PackageOptions {
  PackageFilter filter;
  int64_t generated_at_ms = 0;
  std::string tool_version;
  // The batches the lines come from (header of every package).
  std::vector<pb::RunRecord> runs;
  // Remove what `dir` holds first (the run's own folder); otherwise a
  // non-empty `dir` is refused, so no package of an earlier export lingers.
  bool replace = false;
  PackageSinkFactory sink_factory = MakeFilePackageSink;
  // Judges each result's data ages (StaleData, common/history.h): stale
  // sources get a banner in the package and the index, and a line in the
  // URL's evidence. Not judged when unset.
  std::optional<HistorySettings> history;
};

// The lines whose results were judged with stale data of one role.
struct StaleTally {
  uint64_t lines = 0;
  StaleSource oldest;  // the oldest such source at its check
};
// Adds one line's stale sources to `tally` (by role).
void TallyStale(const std::vector<StaleSource>& stale,
                std::map<std::string, StaleTally>* tally);

struct PackageSummary {
  std::string key;  // ISO code or "unattributed"
  uint64_t lines = 0;
  uint64_t urls = 0;  // distinct jobs
  std::map<std::string, uint64_t> by_status;
  std::map<std::string, uint64_t> by_attribution;
  std::map<std::string, uint64_t> by_confidence;
  std::map<std::string, uint64_t> networks;   // "AS64500 Org" -> lines
  std::map<std::string, uint64_t> providers;  // "Name (cdn, US)" -> lines
  // Referral targets of the package's own country, and of other routes
  // (redirectors, the other countries of several_countries lines), each
  // with its line count, in first-seen order.
  std::vector<std::pair<pb::ReferralTarget, uint64_t>> targets;
  std::vector<std::pair<pb::ReferralTarget, uint64_t>> secondary_targets;
  // Secondary jurisdictions: "role country" -> lines.
  std::map<std::string, uint64_t> secondary;
  // "who: contact (source)", e.g. provider and registrar abuse channels.
  std::set<std::string> abuse_contacts;
  bool directory_unverified = false;
  std::string referral_warning;             // of the first unverified line
  std::map<std::string, StaleTally> stale;  // by role
  std::vector<PackageFile> files;
};

struct PackageSetSummary {
  std::vector<PackageSummary> packages;  // sorted by key, unattributed last
  uint64_t lines_seen = 0;               // lines offered
  uint64_t lines_selected = 0;           // lines in at least one package
  uint64_t lines_pending = 0;            // without an outcome yet (skipped)
  std::vector<PackageFile> index_files;
  std::map<std::string, StaleTally> stale;  // of the selected lines, by role
  // The data sources the selected lines' results cite, each once, by role
  // and SHA-256 (a DataSourceSet, coordinator/queries.h).
  std::map<std::pair<std::string, std::string>, pb::DataSource> data_sources;
};

class ReferralPackageWriter {
 public:
  // Creates `dir` (see PackageOptions::replace).
  static Result<std::unique_ptr<ReferralPackageWriter>> Create(
      const std::string& dir, PackageOptions options);
  ~ReferralPackageWriter();

  // Lines in line order; `obs` is the line's result, null for rejected and
  // dead-lettered lines. Lines the filter refuses are counted only.
  // `record` is the line's AppendResultRecordJson text without history
  // (common/record_json.h) when the caller has it already; empty, it is
  // written here.
  Status Add(const pb::LineRecord& line, const pb::Observation* obs,
             std::string_view record = {});
  // A line whose job has no outcome yet: counted, in no package.
  void AddPending() { ++set_.lines_pending; }
  // Writes the HTML reports and the index.
  Result<PackageSetSummary> Finish();

 private:
  struct Package;
  ReferralPackageWriter(std::string dir, PackageOptions options);
  Result<Package*> GetPackage(const std::string& key);

  std::string dir_;
  PackageOptions options_;
  std::map<std::string, std::unique_ptr<Package>> packages_;
  PackageSetSummary set_;
  std::set<std::string> attributions_;
  // Bit per job id: its URL is counted (a job's lines share its result, so
  // its packages are the same for each of them).
  std::vector<bool> job_counted_;
  // Reused between lines: the line's referral CSV row, JSON record, HTML
  // URL row and evidence block.
  std::string csv_row_, record_, html_row_, evidence_;
};

// The packages of batch `run`'s lines in `store` (each line's newest
// result), written to `dir`.
Result<PackageSetSummary> WriteReferralPackages(const Store& store,
                                                const pb::RunRecord& run,
                                                const std::string& dir,
                                                PackageOptions options);

// The path under the set's folder of a package file named as the API names
// it: "index.json", "index.html", "KEY.EXT" (KEY an ISO code or
// "unattributed", EXT csv, json or html: "KEY/KEY.EXT"), any of these with
// ".chain", and "packages.manifest". InvalidArgument for another name.
Result<std::string> PackageFilePath(std::string_view file);

// Sinks that keep in memory, in (*files)[path], the files `keep` selects,
// and only digest the others (the API's downloads).
PackageSinkFactory MakeMemoryPackageSinks(
    std::map<std::string, std::string>* files,
    std::function<bool(const std::string& path)> keep);

}  // namespace hl::coordinator
