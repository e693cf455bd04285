#include "coordinator/queries.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "common/net/url.h"
#include "common/record_json.h"
#include "coordinator/reports.h"

namespace hl::coordinator {
namespace {

// Ends a line scan early without an error.
Status Stop() { return {StatusCode::kResourceExhausted, "stop"}; }
bool Stopped(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted && s.message() == "stop";
}

// Whether the history has an event of kind `name`.
bool HasEvent(const HistorySummary& h, std::string_view name) {
  return std::any_of(h.events.begin(), h.events.end(), [&](const auto& e) {
    return EventKindName(e.kind) == name;
  });
}

// Whether a line with outcome `o` passes the history filters of `query`.
bool HistoryMatches(const ResultsQuery& query, const LineOutcome& o) {
  if (query.event.empty() && query.state.empty()) return true;
  if (!o.history) return false;
  if (!query.event.empty() && !HasEvent(*o.history, query.event)) return false;
  return query.state.empty() || CheckStateName(o.history->state) == query.state;
}

// What the reports show for a job the coordinator gave up on (dead letter:
// coordinator.max_attempts leases ended without a result): status "error",
// class "gave_up", nothing observed, as for a URL the worker could not
// parse. Built when read, never stored.
pb::Observation GaveUpObservation(const pb::JobRecord& job) {
  pb::Observation obs;
  obs.set_url(job.url());
  if (auto url = net::NormalizeUrl(job.url(), false); url.ok()) {
    obs.set_host(url->host);
  }
  if (job.has_context()) *obs.mutable_context() = job.context();
  obs.set_status("error");
  const std::string why =
      std::to_string(job.attempts()) +
      " probes ended without a result; the last: " + job.last_error();
  obs.mutable_error()->set_error_class("gave_up");
  obs.mutable_error()->set_message(why);
  obs.mutable_verdict()->add_reasons(
      "The coordinator gave up on this URL (" + why +
      "), so nothing was observed; submit it again to probe it again.");
  return obs;
}

using Json = nlohmann::ordered_json;

std::string Dump(const Json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Result<bool> ReadOutcome(const Store& store, const pb::LineRecord& line,
                         const HistorySettings* settings, LineOutcome* out) {
  return OutcomeReader(store, settings).Read(line, out);
}

Result<bool> OutcomeReader::Read(const pb::LineRecord& line, LineOutcome* out) {
  out->history.reset();
  if (line.job_id() == 0) {
    out->latest.reset();
    return true;
  }
  if (!out->latest) out->latest.emplace();
  uint32_t check = 0;
  auto found = results_.Latest(line.job_id(), &*out->latest, &check);
  if (!found.ok()) return found.status();
  if (!*found) {
    out->latest.reset();
    auto job = store_.GetJob(line.job_id());
    if (!job.ok()) return job.status();
    if (job->state() != pb::JOB_STATE_DEAD) return false;
    out->latest = GaveUpObservation(*job);
    return true;
  }
  if (settings_ == nullptr) return true;
  if (check == 0) {
    out->history = AnalyseHistory({&*out->latest, 1}, *settings_);
    return true;
  }
  auto checks = store_.History(line.job_id());
  if (!checks.ok()) return checks.status();
  out->history = AnalyseHistory(*checks, *settings_);
  return true;
}

Result<BatchStatus> GetBatchStatus(const Store& store, uint64_t run_id,
                                   int64_t now_ms) {
  auto run = store.GetRun(run_id);
  if (!run.ok()) return run.status();
  auto live = store.LiveCounts(run_id, now_ms);
  if (!live.ok()) return live.status();
  return BatchStatus{*std::move(run), std::move(live->counts),
                     live->finished_per_s};
}

namespace {

Json BatchStatusDoc(const BatchStatus& status) {
  const pb::RunRecord& run = status.run;
  const pb::BatchCounts& c = status.counts;
  const uint64_t lines =
      c.rejected() + c.pending() + c.in_flight() + c.done() + c.dead();
  const uint64_t finished = c.rejected() + c.done() + c.dead();
  const uint64_t left = c.pending() + c.in_flight();
  Json eta = nullptr;
  if (status.complete()) {
    eta = 0;
  } else if (status.finished_per_s > 0) {
    eta = static_cast<int64_t>(
        std::ceil(static_cast<double>(left) / status.finished_per_s));
  }
  Json doc = {
      {"batch_id", run.run_id()},
      {"submitter", run.submitter()},
      {"case_reference", run.case_reference()},
      {"submitted_at", FormatRfc3339Ms(run.started_unix_ms())},
      {"ingest_complete", run.ingest_complete()},
      {"lines", lines},
      {"states",
       {{"rejected", c.rejected()},
        {"pending", c.pending()},
        {"in_flight", c.in_flight()},
        {"done", c.done()},
        {"dead", c.dead()}}},
      {"outcomes",
       {{"located", c.located()},
        {"unresolved", c.unresolved()},
        {"error", c.error()}}},
      {"progress", lines == 0 ? 1.0 : static_cast<double>(finished) / lines},
      {"complete", status.complete()},
      {"finished_per_s", std::round(status.finished_per_s * 10) / 10},
      {"eta_s", std::move(eta)},
  };
  if (run.has_max_result_age_ms()) {
    doc["max_result_age_ms"] = run.max_result_age_ms();
  }
  return doc;
}

}  // namespace

std::string BatchStatusJson(const BatchStatus& status) {
  return Dump(BatchStatusDoc(status));
}

Result<std::string> BatchListJson(const Store& store, uint64_t before_run_id,
                                  size_t limit, int64_t now_ms) {
  auto runs = store.ListRuns(before_run_id, limit + 1);
  if (!runs.ok()) return runs.status();
  Json batches = Json::array();
  for (size_t i = 0; i < runs->size() && i < limit; ++i) {
    const pb::RunRecord& run = (*runs)[i];
    auto live = store.LiveCounts(run.run_id(), now_ms);
    if (!live.ok()) return live.status();
    batches.push_back(
        BatchStatusDoc({run, std::move(live->counts), live->finished_per_s}));
  }
  Json doc = {
      {"batches", std::move(batches)},
      {"next_cursor", runs->size() > limit
                          ? Json(std::to_string((*runs)[limit - 1].run_id()))
                          : Json(nullptr)}};
  return Dump(doc);
}

Result<std::string> LineDetailJson(const Store& store, uint64_t run_id,
                                   uint64_t line,
                                   const HistorySettings& settings) {
  auto run = store.GetRun(run_id);
  if (!run.ok()) return run.status();
  auto record = store.GetLine(run_id, line);
  if (!record.ok()) return record.status();
  if (!*record) {
    return NotFound("batch " + std::to_string(run_id) + " has no line " +
                    std::to_string(line));
  }
  LineOutcome outcome;
  auto read = ReadOutcome(store, **record, &settings, &outcome);
  if (!read.ok()) return read.status();
  std::string text;
  AppendResultRecordJson(**record, outcome.latest ? &*outcome.latest : nullptr,
                         &text, outcome.history ? &*outcome.history : nullptr);
  Json history = nullptr;
  if ((*record)->job_id() != 0) {
    auto body = HistoryJson(store, (*record)->job_id(), settings);
    if (!body.ok()) return body.status();
    history = Json::parse(*body);
  }
  Json doc = {{"line", line},
              {"record", Json::parse(text)},
              {"history", std::move(history)}};
  return Dump(doc);
}

Result<std::vector<uint64_t>> BatchJobs(const Store& store, uint64_t run_id,
                                        uint64_t line) {
  auto run = store.GetRun(run_id);
  if (!run.ok()) return run.status();
  if (line != 0) {
    auto record = store.GetLine(run_id, line);
    if (!record.ok()) return record.status();
    if (!*record) {
      return NotFound("batch " + std::to_string(run_id) + " has no line " +
                      std::to_string(line));
    }
    if ((*record)->job_id() == 0) {
      return InvalidArgument("line " + std::to_string(line) +
                             " was rejected at submission; it has nothing "
                             "to check");
    }
    return std::vector<uint64_t>{(*record)->job_id()};
  }
  std::vector<uint64_t> jobs;
  std::unordered_set<uint64_t> seen;
  HL_RETURN_IF_ERROR(store.ForEachLine(run_id, [&](const pb::LineRecord& l) {
    if (l.job_id() != 0 && seen.insert(l.job_id()).second) {
      jobs.push_back(l.job_id());
    }
    return Status::Ok();
  }));
  return jobs;
}

Result<std::string> ResultsPageJson(const Store& store,
                                    const ResultsQuery& query,
                                    const HistorySettings& settings) {
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
  LineOutcome outcome;
  OutcomeReader outcomes(store, &settings);
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
          auto has_outcome = outcomes.Read(line, &outcome);
          if (!has_outcome.ok()) return has_outcome.status();
          if (!*has_outcome) return Status::Ok();
          const pb::Observation* p =
              outcome.latest ? &*outcome.latest : nullptr;
          if (!query.status.empty() && LineStatus(line, p) != query.status) {
            return Status::Ok();
          }
          if (!HistoryMatches(query, outcome)) return Status::Ok();
          if (!query.country.empty()) {
            if (p == nullptr) return Status::Ok();
            const auto& countries = p->verdict().hosting_countries();
            if (std::find(countries.begin(), countries.end(), query.country) ==
                countries.end()) {
              return Status::Ok();
            }
          }
          if (count++) body += ',';
          AppendResultRecordJson(line, p, &body,
                                 outcome.history ? &*outcome.history : nullptr);
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
                               const HistorySettings& settings,
                               DataSourceSet* sources) {
  const bool csv = format == ExportFormat::kCsv;
  const size_t start = out->size();
  if (csv && *next_line == 0) *out += CsvHeader() + "\n";
  bool ended = true;
  LineOutcome outcome;
  OutcomeReader outcomes(store, &settings);
  Status s = store.ForEachLine(
      run_id,
      [&](const pb::LineRecord& line) -> Status {
        if (out->size() - start >= min_bytes) {
          *next_line = line.line();
          ended = false;
          return Stop();
        }
        auto has_outcome = outcomes.Read(line, &outcome);
        if (!has_outcome.ok()) return has_outcome.status();
        const pb::Observation* p = outcome.latest ? &*outcome.latest : nullptr;
        const HistorySummary* h = outcome.history ? &*outcome.history : nullptr;
        if (p != nullptr && sources != nullptr) {
          for (const pb::DataSource& d : p->data_sources()) {
            sources->try_emplace({d.role(), d.sha256()}, d);
          }
        }
        if (csv) {
          AppendCsvRow(line, p, out, h);
        } else {
          AppendResultRecordJson(line, p, out, h);
        }
        *out += '\n';
        return Status::Ok();
      },
      *next_line);
  if (!s.ok() && !Stopped(s)) return s;
  if (ended) *next_line = UINT64_MAX;
  return ended;
}

Result<uint64_t> FindHistoryJob(const Store& store,
                                const std::string& url_or_job) {
  if (!url_or_job.empty() &&
      url_or_job.find_first_not_of("0123456789") == std::string::npos) {
    const uint64_t id = std::strtoull(url_or_job.c_str(), nullptr, 10);
    auto job = store.GetJob(id);
    if (!job.ok()) return job.status();
    return id;
  }
  auto url = net::NormalizeUrl(url_or_job);
  if (!url.ok()) {
    return InvalidArgument(
        "\"" + url_or_job + "\" is neither a job number nor a URL (" +
        std::string(net::UrlRejectionReason(url.error().reason)) + ")");
  }
  auto id = store.FindJobId(url->url, pb::RequestContext());
  if (!id.ok()) return id.status();
  if (!*id) {
    return NotFound("no checks of " + url->url +
                    " (with the default request context); give the job "
                    "number to see another context's history");
  }
  return **id;
}

Result<std::string> HistoryJson(const Store& store, uint64_t job_id,
                                const HistorySettings& settings) {
  auto job = store.GetJob(job_id);
  if (!job.ok()) return job.status();
  auto checks = store.History(job_id);
  if (!checks.ok()) return checks.status();
  const HistorySummary h = AnalyseHistory(*checks, settings);
  Json rows = Json::array();
  for (size_t i = 0; i < checks->size(); ++i) {
    const pb::Observation& obs = (*checks)[i];
    const CheckClass c = ClassifyCheck(obs);
    const Placement place = PlacementOf(obs);
    Json addresses = Json::array();
    for (const auto& a : obs.dns().addresses()) {
      addresses.push_back({{"ip", a.ip()}, {"ttl", a.ttl()}});
    }
    rows.push_back({{"check", i},
                    {"checked_at", FormatRfc3339Ms(obs.checked_at_unix_ms())},
                    {"status", obs.status()},
                    {"state", CheckStateName(c.state)},
                    {"reason", c.reason},
                    {"countries", place.countries},
                    {"networks", place.networks},
                    {"provider", place.provider.empty() ? Json(nullptr)
                                                        : Json(place.provider)},
                    {"addresses", std::move(addresses)}});
  }
  Json events = Json::array();
  for (const HistoryEvent& e : h.events) {
    Json changes = Json::array();
    for (const Change& c : e.changes) {
      changes.push_back({{"what", c.what}, {"from", c.from}, {"to", c.to}});
    }
    events.push_back({{"kind", EventKindName(e.kind)},
                      {"at", FormatRfc3339Ms(e.at_ms)},
                      {"check", e.check},
                      {"reason", e.reason},
                      {"changes", std::move(changes)}});
  }
  // The summary as result records carry it.
  pb::LineRecord line;
  std::string record;
  const pb::Observation empty;
  AppendResultRecordJson(line, checks->empty() ? &empty : &checks->back(),
                         &record, &h);
  const Json parsed = Json::parse(record);
  Json doc = {
      {"job_id", job_id},
      {"url", job->url()},
      {"checks", std::move(rows)},
      {"events", std::move(events)},
      {"summary", parsed["history"]},
      {"fast_flux",
       {{"suspected", h.fast_flux.suspected},
        {"distinct_addresses", h.fast_flux.distinct_addresses},
        {"max_answer_addresses", h.fast_flux.max_answer_addresses},
        {"min_ttl_s", h.fast_flux.min_ttl_s < 0 ? Json(nullptr)
                                                : Json(h.fast_flux.min_ttl_s)},
        {"networks", h.fast_flux.networks},
        {"countries", h.fast_flux.countries},
        {"evidence", h.fast_flux.evidence}}},
      {"stale_data", parsed["stale_data"]},
      {"warnings", parsed["warnings"]},
  };
  return Dump(doc);
}

Result<std::string> TakedownJson(const Store& store,
                                 const TakedownParams& query,
                                 const HistorySettings& settings) {
  std::vector<HistorySummary> summaries;
  const auto add = [&](uint64_t job_id) -> Status {
    auto checks = store.History(job_id);
    if (!checks.ok()) return checks.status();
    HistorySummary h = AnalyseHistory(*checks, settings);
    if (query.run_id == 0 && (h.provider.empty() ||  // never online
                              h.first_seen_online_ms < query.from_ms ||
                              h.first_seen_online_ms >= query.to_ms)) {
      return Status::Ok();
    }
    summaries.push_back(std::move(h));
    return Status::Ok();
  };
  if (query.run_id != 0) {
    auto run = store.GetRun(query.run_id);
    if (!run.ok()) return run.status();
    std::unordered_set<uint64_t> seen;
    HL_RETURN_IF_ERROR(
        store.ForEachLine(query.run_id, [&](const pb::LineRecord& line) {
          if (line.job_id() == 0 || !seen.insert(line.job_id()).second) {
            return Status::Ok();
          }
          return add(line.job_id());
        }));
  } else {
    HL_RETURN_IF_ERROR(store.ForEachJob([&](const pb::JobRecord& job) {
      return job.checks() == 0 ? Status::Ok() : add(job.job_id());
    }));
  }
  const auto ms_or_null = [](int64_t ms) {
    return ms < 0 ? Json(nullptr) : Json(ms);
  };
  Json providers = Json::array();
  for (const ProviderTakedown& p : TakedownByProvider(summaries)) {
    providers.push_back({{"provider", p.provider},
                         {"urls", p.urls},
                         {"taken_down", p.taken_down},
                         {"still_online", p.still_online},
                         {"median_ms", ms_or_null(p.median_ms)},
                         {"p90_ms", ms_or_null(p.p90_ms)}});
  }
  Json doc = {
      {"batch_id", query.run_id == 0 ? Json(nullptr) : Json(query.run_id)},
      {"from", query.run_id != 0 || query.from_ms == 0
                   ? Json(nullptr)
                   : Json(FormatRfc3339Ms(query.from_ms))},
      {"to", query.run_id != 0 || query.to_ms == INT64_MAX
                 ? Json(nullptr)
                 : Json(FormatRfc3339Ms(query.to_ms))},
      {"urls", summaries.size()},
      {"providers", std::move(providers)},
  };
  return Dump(doc);
}

}  // namespace hl::coordinator
