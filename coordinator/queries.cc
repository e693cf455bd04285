#include "coordinator/queries.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/record_json.h"
#include "coordinator/reports.h"

namespace hl::coordinator {
namespace {

// Ends a line scan early without an error.
Status Stop() { return {StatusCode::kResourceExhausted, "stop"}; }
bool Stopped(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted && s.message() == "stop";
}

// The outcome of a line: its newest result, or none when rejected or dead.
// Returns false for a line whose job has no outcome yet.
Result<bool> Outcome(const Store& store, const pb::LineRecord& line,
                     std::optional<pb::Observation>* obs) {
  obs->reset();
  if (line.job_id() == 0) return true;
  auto latest = store.LatestResult(line.job_id());
  if (!latest.ok()) return latest.status();
  *obs = std::move(latest).value();
  if (obs->has_value()) return true;
  auto job = store.GetJob(line.job_id());
  if (!job.ok()) return job.status();
  return job->state() == pb::JOB_STATE_DEAD;
}

}  // namespace

Result<BatchStatus> GetBatchStatus(const Store& store, uint64_t run_id) {
  auto run = store.GetRun(run_id);
  if (!run.ok()) return run.status();
  BatchStatus status;
  status.run = *std::move(run);
  Status s = store.ForEachLine(run_id, [&](const pb::LineRecord& line) {
    if (line.job_id() == 0) {
      ++status.rejected;
      return Status::Ok();
    }
    auto job = store.GetJob(line.job_id());
    if (!job.ok()) return job.status();
    switch (job->state()) {
      case pb::JOB_STATE_DONE:
        ++status.done;
        break;
      case pb::JOB_STATE_DEAD:
        ++status.dead;
        break;
      case pb::JOB_STATE_LEASED:
        ++status.in_flight;
        break;
      default:
        ++status.pending;
        break;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return status;
}

std::string BatchStatusJson(const BatchStatus& status) {
  const pb::RunRecord& run = status.run;
  const uint64_t lines = status.rejected + status.pending + status.in_flight +
                         status.done + status.dead;
  const uint64_t finished = status.rejected + status.done + status.dead;
  nlohmann::ordered_json doc = {
      {"batch_id", run.run_id()},
      {"submitter", run.submitter()},
      {"case_reference", run.case_reference()},
      {"submitted_at", FormatRfc3339Ms(run.started_unix_ms())},
      {"ingest_complete", run.ingest_complete()},
      {"lines", lines},
      {"states",
       {{"rejected", status.rejected},
        {"pending", status.pending},
        {"in_flight", status.in_flight},
        {"done", status.done},
        {"dead", status.dead}}},
      {"progress", lines == 0 ? 1.0 : static_cast<double>(finished) / lines},
      {"complete", status.complete()},
  };
  if (run.has_max_result_age_ms()) {
    doc["max_result_age_ms"] = run.max_result_age_ms();
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> ResultsPageJson(const Store& store,
                                    const ResultsQuery& query) {
  uint64_t last_run = query.run_id;
  if (last_run == 0) {
    auto latest = store.LatestRun();
    if (!latest.ok() && latest.status().code() != StatusCode::kNotFound) {
      return latest.status();
    }
    last_run = latest.ok() ? latest->run_id() : 0;
  }
  std::string body = "{\"records\":[";
  size_t count = 0;
  std::optional<ResultCursor> next;
  std::optional<pb::Observation> obs;
  for (uint64_t run_id = std::max<uint64_t>(query.from.run_id, 1);
       run_id <= last_run && !next; ++run_id) {
    const uint64_t from = run_id == query.from.run_id ? query.from.line : 0;
    Status s = store.ForEachLine(
        run_id,
        [&](const pb::LineRecord& line) -> Status {
          if (count == query.limit) {
            next = ResultCursor{run_id, line.line()};
            return Stop();
          }
          auto has_outcome = Outcome(store, line, &obs);
          if (!has_outcome.ok()) return has_outcome.status();
          if (!*has_outcome) return Status::Ok();
          const pb::Observation* p = obs ? &*obs : nullptr;
          if (!query.status.empty() && LineStatus(line, p) != query.status) {
            return Status::Ok();
          }
          if (!query.country.empty()) {
            if (p == nullptr) return Status::Ok();
            const auto& countries = p->verdict().hosting_countries();
            if (std::find(countries.begin(), countries.end(), query.country) ==
                countries.end()) {
              return Status::Ok();
            }
          }
          if (count++) body += ',';
          AppendResultRecordJson(line, p, &body);
          return Status::Ok();
        },
        from);
    if (!s.ok() && !Stopped(s)) return s;
  }
  body += "],\"next_cursor\":";
  body += next ? "\"" + EncodeCursor(*next) + "\"" : "null";
  body += "}";
  return body;
}

Result<bool> AppendExportChunk(const Store& store, uint64_t run_id,
                               ExportFormat format, size_t min_bytes,
                               uint64_t* next_line, std::string* out,
                               DataSourceSet* sources) {
  const bool csv = format == ExportFormat::kCsv;
  const size_t start = out->size();
  if (csv && *next_line == 0) *out += CsvHeader() + "\n";
  bool ended = true;
  std::optional<pb::Observation> obs;
  Status s = store.ForEachLine(
      run_id,
      [&](const pb::LineRecord& line) -> Status {
        if (out->size() - start >= min_bytes) {
          *next_line = line.line();
          ended = false;
          return Stop();
        }
        auto has_outcome = Outcome(store, line, &obs);
        if (!has_outcome.ok()) return has_outcome.status();
        const pb::Observation* p = obs ? &*obs : nullptr;
        if (p != nullptr && sources != nullptr) {
          for (const pb::DataSource& d : p->data_sources()) {
            sources->try_emplace({d.role(), d.sha256()}, d);
          }
        }
        if (csv) {
          AppendCsvRow(line, p, out);
        } else {
          AppendResultRecordJson(line, p, out);
        }
        *out += '\n';
        return Status::Ok();
      },
      *next_line);
  if (!s.ok() && !Stopped(s)) return s;
  if (ended) *next_line = UINT64_MAX;
  return ended;
}

}  // namespace hl::coordinator
