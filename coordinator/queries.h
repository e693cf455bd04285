// Read-side queries over the Store that the API and `hostlocator
// status|results|export --data` share, so both print the same thing: each
// answers with the exact body the API sends.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/history.h"
#include "common/status.h"
#include "coordinator/api_request.h"
#include "coordinator/store.h"

namespace hl::coordinator {

struct BatchStatus {
  pb::RunRecord run;
  pb::BatchCounts counts;     // Store::LiveCounts
  double finished_per_s = 0;  // over the last ~30 s
  // Ingest finished and every accepted line is done or dead.
  bool complete() const {
    return run.ingest_complete() && counts.pending() == 0 &&
           counts.in_flight() == 0;
  }
};

// The status of batch `run_id` from the store's per-batch counters (no
// line is read); its rate as of `now_ms`.
Result<BatchStatus> GetBatchStatus(const Store& store, uint64_t run_id,
                                   int64_t now_ms);
// The JSON body of GET /api/v1/batches/ID.
std::string BatchStatusJson(const BatchStatus& status);
// The JSON body of GET /api/v1/batches: up to `limit` batches below
// `before_run_id` (UINT64_MAX: from the newest), newest first, each as
// BatchStatusJson, and the cursor of the next page (null at the end).
Result<std::string> BatchListJson(const Store& store, uint64_t before_run_id,
                                  size_t limit, int64_t now_ms);

// The JSON body of GET /api/v1/batches/ID/lines/N: the line's full result
// record and its job's history (null for a rejected line). NotFound for a
// missing batch or line.
Result<std::string> LineDetailJson(const Store& store, uint64_t run_id,
                                   uint64_t line,
                                   const HistorySettings& settings);

// The distinct jobs of batch `run_id` (all of them, or that of `line`
// when it is not 0), for a re-check. NotFound for a missing batch or line;
// InvalidArgument for a rejected line.
Result<std::vector<uint64_t>> BatchJobs(const Store& store, uint64_t run_id,
                                        uint64_t line);

// The outcome of one line: its job's latest check and the summary of the
// job's history (records and reports carry both).
struct LineOutcome {
  // None for a rejected line. A job the coordinator gave up on without any
  // result gets an error observation of class "gave_up" built on read.
  std::optional<pb::Observation> latest;
  std::optional<HistorySummary> history;  // set with a stored `latest`
};
// Reads the outcome of `line` into *out; false for a line whose job has no
// outcome yet. Only a job with more than one check has its whole history
// read; the summary of a single check is taken from the latest result. With
// `settings` null no summary is made and no history read.
Result<bool> ReadOutcome(const Store& store, const pb::LineRecord& line,
                         const HistorySettings* settings, LineOutcome* out);
// ReadOutcome for many lines, through one Store::ResultReader: for lines
// visited in line order (their jobs then come mostly in ascending order).
// A LineOutcome passed again has its observation parsed in place.
class OutcomeReader {
 public:
  OutcomeReader(const Store& store, const HistorySettings* settings)
      : store_(store), settings_(settings), results_(store.NewResultReader()) {}
  Result<bool> Read(const pb::LineRecord& line, LineOutcome* out);

 private:
  const Store& store_;
  const HistorySettings* settings_;
  Store::ResultReader results_;
};

// The JSON body of GET /api/v1/results: {"records": [result records
// (docs/result-format.md)], "next_cursor": "..." or null}. Only lines with
// an outcome are listed (rejected, a stored result, or dead); a line still
// queued is skipped, so page a batch once its status says complete.
Result<std::string> ResultsPageJson(const Store& store,
                                    const ResultsQuery& query,
                                    const HistorySettings& settings);

// The job of `url_or_job`: a job number, or a URL (normalised, probed with
// the default request context). NotFound / InvalidArgument say what to do.
Result<uint64_t> FindHistoryJob(const Store& store,
                                const std::string& url_or_job);
// The JSON body of GET /api/v1/history: the job, every check in order
// (time, state, reason, countries, networks, provider, addresses), the
// events, the summary, the fast-flux evidence (docs/api.md).
Result<std::string> HistoryJson(const Store& store, uint64_t job_id,
                                const HistorySettings& settings);

// The JSON body of GET /api/v1/reports/takedown: per hosting provider the
// URLs seen online, taken down, still online, and the median and 90th
// percentile time to takedown (TakedownByProvider), over the URLs of batch
// query.run_id, or (run_id 0) every URL first seen online in
// [from_ms, to_ms).
Result<std::string> TakedownJson(const Store& store,
                                 const TakedownParams& query,
                                 const HistorySettings& settings);

enum class ExportFormat { kCsv, kJsonl };
// The data sources that exported records cite, each once (by role and
// SHA-256), for the export's manifest.
using DataSourceSet =
    std::map<std::pair<std::string, std::string>, pb::DataSource>;
// Appends the export of batch `run_id` from line `*next_line` on to *out
// until `min_bytes` were appended or the batch ends (then returns true);
// *next_line moves past what was appended. The CSV header comes first when
// *next_line is 0. Memory stays near `min_bytes` whatever the batch's size.
// With `sources`, the data sources of the appended records are added.
Result<bool> AppendExportChunk(const Store& store, uint64_t run_id,
                               ExportFormat format, size_t min_bytes,
                               uint64_t* next_line, std::string* out,
                               const HistorySettings& settings,
                               DataSourceSet* sources = nullptr);

}  // namespace hl::coordinator
