// `hostlocator submit|status|results` and the --server side of `export`:
// the coordinator's API from the command line. status and results read
// either the API (--server) or a local store (--data) and print through the
// same formatter, from the same JSON body (coordinator/queries.h).
#include "cli/client_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "common/evidence.h"
#include "coordinator/export_evidence.h"
#include "coordinator/queries.h"

namespace hl::cli {
namespace {

using Json = nlohmann::ordered_json;
using Query = std::multimap<std::string, std::string>;

int ExitOf(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument ||
                 status.code() == StatusCode::kNotFound
             ? kExitUsage
             : kExitFailure;
}

int Report(const Status& status) {
  PrintError(status.message());
  return ExitOf(status);
}

// Where status and results come from: exactly one of the two.
struct Source {
  std::string server;
  std::string token_file;
  std::string data_dir;
  std::string config;  // with data_dir: its [history] settings
};

void AddSourceOptions(CLI::App* cmd, Source* source) {
  auto* server = cmd->add_option("--server", source->server,
                                 "coordinator API, http(s)://HOST:PORT");
  cmd->add_option("--token-file", source->token_file,
                  "file whose first line is the API token (mode 0600)");
  auto* data = cmd->add_option("--data", source->data_dir,
                               "read a local data folder instead");
  cmd->add_option("-c,--config", source->config,
                  "configuration file whose [history] settings apply with "
                  "--data (default: $HOSTLOCATOR_CONFIG, else the defaults)");
  server->excludes(data);
  data->excludes(server);
}

// The opened source: an API client or a local store, opened once.
struct Backend {
  std::unique_ptr<ApiClient> client;
  std::unique_ptr<coordinator::Store> store;
  HistorySettings history;  // with store
};

Result<Backend> Open(const Source& source) {
  Backend backend;
  if (!source.server.empty()) {
    if (source.token_file.empty()) {
      return InvalidArgument("--server needs --token-file");
    }
    auto client = ApiClient::Create(source.server, source.token_file);
    if (!client.ok()) return client.status();
    backend.client = std::move(client).value();
    return backend;
  }
  if (source.data_dir.empty()) {
    return InvalidArgument(
        "name the coordinator with --server or a local data folder with "
        "--data");
  }
  auto config = LoadConfiguration(source.config);
  if (!config.ok()) return config.status();
  backend.history = config->history;
  auto store = coordinator::Store::Open(source.data_dir);
  if (!store.ok()) return store.status();
  backend.store = std::move(store).value();
  return backend;
}

// Runs `remote` against the API or `local` against the store.
Result<std::string> Fetch(
    Backend& backend,
    const std::function<Result<std::string>(ApiClient&)>& remote,
    const std::function<Result<std::string>(const coordinator::Store&)>&
        local) {
  return backend.client ? remote(*backend.client) : local(*backend.store);
}

Result<Json> ParseBody(const std::string& body) {
  Json doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Unavailable("the server's answer is not the expected JSON");
  }
  return doc;
}

// Prints the JSON document `body` as indented JSON or through `format`.
int PrintDocument(const Result<std::string>& body, bool json,
                  std::string (*format)(const nlohmann::ordered_json&)) {
  if (!body.ok()) return Report(body.status());
  auto doc = ParseBody(*body);
  if (!doc.ok()) return Report(doc.status());
  if (json) {
    std::printf("%s\n", doc->dump(2).c_str());
  } else {
    std::printf("%s", format(*doc).c_str());
  }
  return kExitOk;
}

struct SubmitOptions {
  std::string file;
  Source source;
  std::string case_reference;
  std::string max_age;
  std::string referer;
  std::string user_agent;
  bool no_wait = false;
};

void DrawProgress(const Json& status, bool tty) {
  const auto& states = status["states"];
  const uint64_t lines = status["lines"].get<uint64_t>();
  const uint64_t finished = states["done"].get<uint64_t>() +
                            states["dead"].get<uint64_t>() +
                            states["rejected"].get<uint64_t>();
  const double progress = status["progress"].get<double>();
  if (tty) {
    constexpr int kWidth = 40;
    const int filled = static_cast<int>(progress * kWidth);
    std::printf("\r[%s%s] %5.1f%% %llu/%llu", std::string(filled, '#').c_str(),
                std::string(kWidth - filled, '-').c_str(), progress * 100,
                static_cast<unsigned long long>(finished),
                static_cast<unsigned long long>(lines));
  } else {
    std::printf("progress: %llu/%llu lines finished (%.1f%%)\n",
                static_cast<unsigned long long>(finished),
                static_cast<unsigned long long>(lines), progress * 100);
  }
  std::fflush(stdout);
}

int Submit(const SubmitOptions& o) {
  if (o.source.server.empty() || o.source.token_file.empty()) {
    return Report(InvalidArgument("submit needs --server and --token-file"));
  }
  std::ifstream in(o.file, std::ios::binary);
  if (!in) return Report(InvalidArgument("cannot read " + o.file));
  std::stringstream text;
  text << in.rdbuf();
  auto client = ApiClient::Create(o.source.server, o.source.token_file);
  if (!client.ok()) return Report(client.status());
  Query query;
  if (!o.case_reference.empty()) query.emplace("case", o.case_reference);
  if (!o.max_age.empty()) query.emplace("max_age", o.max_age);
  if (!o.referer.empty()) query.emplace("referer", o.referer);
  if (!o.user_agent.empty()) query.emplace("user_agent", o.user_agent);
  auto body = (*client)->Post("/api/v1/batches", query, text.str(),
                              "text/plain; charset=utf-8");
  if (!body.ok()) return Report(body.status());
  auto ack = ParseBody(*body);
  if (!ack.ok()) return Report(ack.status());
  for (const auto& r : (*ack)["rejections"]) {
    const std::string detail = r["detail"].get<std::string>();
    std::printf("line %llu: rejected (%s)%s%s\n",
                static_cast<unsigned long long>(r["line"].get<uint64_t>()),
                r["reason"].get<std::string>().c_str(),
                detail.empty() ? "" : ": ", detail.c_str());
  }
  const uint64_t batch = (*ack)["batch_id"].get<uint64_t>();
  std::printf(
      "batch %llu: %llu lines, %llu accepted, %llu rejected\n",
      static_cast<unsigned long long>(batch),
      static_cast<unsigned long long>((*ack)["lines"].get<uint64_t>()),
      static_cast<unsigned long long>((*ack)["accepted"].get<uint64_t>()),
      static_cast<unsigned long long>((*ack)["rejected"].get<uint64_t>()));
  std::fflush(stdout);
  if (o.no_wait) return kExitOk;
  const bool tty = ::isatty(STDOUT_FILENO);
  const std::string path = "/api/v1/batches/" + std::to_string(batch);
  std::string last;
  while (true) {
    auto status_body = (*client)->Get(path, {});
    if (!status_body.ok()) return Report(status_body.status());
    auto status = ParseBody(*status_body);
    if (!status.ok()) return Report(status.status());
    const std::string shown = (*status)["states"].dump();
    if (tty || shown != last) DrawProgress(*status, tty);
    last = shown;
    if ((*status)["complete"].get<bool>()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (tty) std::printf("\n");
  std::printf("batch %llu complete\n", static_cast<unsigned long long>(batch));
  return kExitOk;
}

struct StatusOptions {
  uint64_t batch = 0;
  Source source;
};

int PrintStatus(const StatusOptions& o) {
  auto backend = Open(o.source);
  if (!backend.ok()) return Report(backend.status());
  auto body = Fetch(
      *backend,
      [&](ApiClient& client) {
        return client.Get("/api/v1/batches/" + std::to_string(o.batch), {});
      },
      [&](const coordinator::Store& store) -> Result<std::string> {
        auto status =
            coordinator::GetBatchStatus(store, o.batch, SystemClockMs());
        if (!status.ok()) return status.status();
        return coordinator::BatchStatusJson(*status);
      });
  if (!body.ok()) return Report(body.status());
  auto doc = ParseBody(*body);
  if (!doc.ok()) return Report(doc.status());
  std::printf("%s", FormatBatchStatus(*doc).c_str());
  return kExitOk;
}

struct ResultsOptions {
  Source source;
  uint64_t batch = 0;
  std::string country;
  std::string status;
  std::string event;
  std::string state;
};

int PrintResults(const ResultsOptions& o) {
  Query query;
  if (o.batch) query.emplace("batch", std::to_string(o.batch));
  if (!o.country.empty()) query.emplace("country", o.country);
  if (!o.status.empty()) query.emplace("status", o.status);
  if (!o.event.empty()) query.emplace("event", o.event);
  if (!o.state.empty()) query.emplace("state", o.state);
  query.emplace("limit", std::to_string(coordinator::kMaxResultsPage));
  auto backend = Open(o.source);
  if (!backend.ok()) return Report(backend.status());
  while (true) {
    auto body = Fetch(
        *backend,
        [&](ApiClient& client) { return client.Get("/api/v1/results", query); },
        [&](const coordinator::Store& store) -> Result<std::string> {
          auto parsed = coordinator::ParseResultsQuery(query);
          if (!parsed.ok()) return parsed.status();
          return coordinator::ResultsPageJson(store, *parsed, backend->history);
        });
    if (!body.ok()) return Report(body.status());
    auto page = ParseBody(*body);
    if (!page.ok()) return Report(page.status());
    std::printf("%s", FormatResultsPage(*page).c_str());
    const auto& next = (*page)["next_cursor"];
    if (!next.is_string()) return kExitOk;
    query.erase("cursor");
    query.emplace("cursor", next.get<std::string>());
  }
}

struct HistoryOptions {
  Source source;
  std::string subject;  // URL or job number
  bool json = false;
};

int PrintHistory(const HistoryOptions& o) {
  auto backend = Open(o.source);
  if (!backend.ok()) return Report(backend.status());
  const bool is_job =
      o.subject.find_first_not_of("0123456789") == std::string::npos;
  auto body = Fetch(
      *backend,
      [&](ApiClient& client) {
        return client.Get("/api/v1/history",
                          {{is_job ? "job" : "url", o.subject}});
      },
      [&](const coordinator::Store& store) -> Result<std::string> {
        auto job = coordinator::FindHistoryJob(store, o.subject);
        if (!job.ok()) return job.status();
        return coordinator::HistoryJson(store, *job, backend->history);
      });
  return PrintDocument(body, o.json, FormatHistory);
}

struct TakedownOptions {
  Source source;
  uint64_t batch = 0;
  std::string from;
  std::string to;
  bool json = false;
};

int PrintTakedown(const TakedownOptions& o) {
  Query query;
  if (o.batch) query.emplace("batch", std::to_string(o.batch));
  if (!o.from.empty()) query.emplace("from", o.from);
  if (!o.to.empty()) query.emplace("to", o.to);
  auto backend = Open(o.source);
  if (!backend.ok()) return Report(backend.status());
  auto body = Fetch(
      *backend,
      [&](ApiClient& client) {
        return client.Get("/api/v1/reports/takedown", query);
      },
      [&](const coordinator::Store& store) -> Result<std::string> {
        auto params = coordinator::ParseTakedownParams(query);
        if (!params.ok()) return params.status();
        return coordinator::TakedownJson(store, *params, backend->history);
      });
  return PrintDocument(body, o.json, FormatTakedown);
}

// "" for null, else the string.
std::string Text(const nlohmann::ordered_json& v) {
  return v.is_string() ? v.get<std::string>() : "";
}

std::string Joined(const nlohmann::ordered_json& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ",";
    out += v.get<std::string>();
  }
  return out.empty() ? "-" : out;
}

// A duration given in milliseconds (or null: "-").
std::string Duration(const nlohmann::ordered_json& ms) {
  return ms.is_number() ? FormatDuration(ms.get<int64_t>()) : "-";
}

}  // namespace

std::string FormatDuration(int64_t ms) {
  char buf[48];
  const int64_t s = ms / 1000;
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm %llds",
                  static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lldh %lldm",
                  static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd %lldh",
                  static_cast<long long>(s / 86400),
                  static_cast<long long>(s / 3600 % 24));
  }
  return buf;
}

std::string FormatHistory(const nlohmann::ordered_json& h) {
  std::string out = "job " + std::to_string(h["job_id"].get<uint64_t>()) +
                    ": " + h["url"].get<std::string>() + "\nchecks:\n";
  char line[512];
  for (const auto& c : h["checks"]) {
    std::snprintf(line, sizeof line, "  %s  %-11s %-20s %-6s %s%s%s\n",
                  c["checked_at"].get<std::string>().c_str(),
                  c["state"].get<std::string>().c_str(),
                  c["reason"].get<std::string>().c_str(),
                  Joined(c["countries"]).c_str(), Joined(c["networks"]).c_str(),
                  c["provider"].is_string() ? " " : "",
                  Text(c["provider"]).empty()
                      ? ""
                      : ("[" + Text(c["provider"]) + "]").c_str());
    out += line;
  }
  out += "events:\n";
  for (const auto& e : h["events"]) {
    out +=
        "  " + e["at"].get<std::string>() + "  " + e["kind"].get<std::string>();
    if (!e["reason"].get<std::string>().empty() && e["kind"] == "down") {
      out += " (" + e["reason"].get<std::string>() + ")";
    }
    std::string changes;
    for (const auto& c : e["changes"]) {
      if (!changes.empty()) changes += "; ";
      changes += c["what"].get<std::string>() + " " +
                 (Text(c["from"]).empty() ? "-" : Text(c["from"])) + " -> " +
                 (Text(c["to"]).empty() ? "-" : Text(c["to"]));
    }
    if (!changes.empty()) out += ": " + changes;
    out += "\n";
  }
  const auto& s = h["summary"];
  out += "summary: " + s["state"].get<std::string>() + ", " +
         std::to_string(s["checks"].get<uint64_t>()) + " checks, moved " +
         std::to_string(s["moved"].get<uint64_t>()) + ", down " +
         std::to_string(s["down"].get<uint64_t>()) + ", online " +
         Duration(s["online_ms"]) + ", time to takedown " +
         Duration(s["time_to_takedown_ms"]) + "\n";
  const auto& flux = h["fast_flux"];
  out += std::string("fast flux: ") +
         (flux["suspected"].get<bool>() ? "suspected" : "not suspected");
  for (const auto& e : flux["evidence"]) {
    out += "; " + e.get<std::string>();
  }
  out += "\n";
  for (const auto& w : h["warnings"]) out += w.get<std::string>() + "\n";
  return out;
}

std::string FormatTakedown(const nlohmann::ordered_json& t) {
  std::string out;
  if (t["batch_id"].is_number()) {
    out += "batch " + std::to_string(t["batch_id"].get<uint64_t>());
  } else {
    out +=
        "URLs first seen online from " +
        (t["from"].is_string() ? t["from"].get<std::string>() : "the start") +
        " to " + (t["to"].is_string() ? t["to"].get<std::string>() : "now");
  }
  out += ": " + std::to_string(t["urls"].get<uint64_t>()) + " URLs\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %6s %10s %12s %10s %10s\n",
                "provider", "urls", "taken down", "still online", "median",
                "p90");
  out += line;
  for (const auto& p : t["providers"]) {
    std::snprintf(
        line, sizeof line, "%-40s %6llu %10llu %12llu %10s %10s\n",
        p["provider"].get<std::string>().c_str(),
        static_cast<unsigned long long>(p["urls"].get<uint64_t>()),
        static_cast<unsigned long long>(p["taken_down"].get<uint64_t>()),
        static_cast<unsigned long long>(p["still_online"].get<uint64_t>()),
        Duration(p["median_ms"]).c_str(), Duration(p["p90_ms"]).c_str());
    out += line;
  }
  return out;
}

std::string FormatBatchStatus(const nlohmann::ordered_json& s) {
  const auto& st = s["states"];
  const auto n = [&](const char* key) {
    return std::to_string(st[key].get<uint64_t>());
  };
  char progress[32];
  std::snprintf(progress, sizeof(progress), "%.1f%%",
                s["progress"].get<double>() * 100);
  std::string out = "batch " + std::to_string(s["batch_id"].get<uint64_t>());
  out += " submitted " + s["submitted_at"].get<std::string>() + " by " +
         s["submitter"].get<std::string>();
  const std::string ref = s["case_reference"].get<std::string>();
  if (!ref.empty()) out += ", case " + ref;
  out += "\n  " + std::to_string(s["lines"].get<uint64_t>()) +
         " lines: " + n("done") + " done, " + n("dead") + " dead, " +
         n("in_flight") + " in flight, " + n("pending") + " pending, " +
         n("rejected") + " rejected\n  " + progress +
         (s["complete"].get<bool>() ? ", complete\n" : ", running\n");
  return out;
}

std::string FormatResultsPage(const nlohmann::ordered_json& page) {
  std::string out;
  for (const auto& record : page["records"]) {
    out +=
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

void AddClientCommands(CLI::App& app, int* exit_code) {
  auto submit = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "submit",
      "Submit a URL list to a coordinator, print the rejected lines and "
      "follow the batch to completion.");
  cmd->add_option("FILE", submit->file, "URL list (text or CSV)")->required();
  cmd->add_option("--server", submit->source.server,
                  "coordinator API, http(s)://HOST:PORT")
      ->required();
  cmd->add_option("--token-file", submit->source.token_file,
                  "file whose first line is the API token (mode 0600)")
      ->required();
  cmd->add_option("--case", submit->case_reference, "case reference");
  cmd->add_option("--max-age", submit->max_age,
                  "re-probe results older than this (e.g. 7d; 0: all now)");
  cmd->add_option("--referer", submit->referer,
                  "Referer for lines without their own");
  cmd->add_option("--user-agent", submit->user_agent,
                  "User-Agent for lines without their own");
  cmd->add_flag("--no-wait", submit->no_wait,
                "return after the acknowledgement");
  cmd->callback([submit, exit_code] { *exit_code = Submit(*submit); });

  auto status = std::make_shared<StatusOptions>();
  cmd = app.add_subcommand("status", "Show a batch's progress.");
  cmd->add_option("BATCH", status->batch, "batch number")->required();
  AddSourceOptions(cmd, &status->source);
  cmd->callback([status, exit_code] { *exit_code = PrintStatus(*status); });

  auto results = std::make_shared<ResultsOptions>();
  cmd = app.add_subcommand(
      "results", "Print result records (JSON Lines) of finished lines.");
  cmd->add_option("--batch", results->batch, "only this batch");
  cmd->add_option("--country", results->country,
                  "only lines hosted in this country (ISO code)");
  cmd->add_option("--status", results->status,
                  "located, unresolved, error or rejected");
  cmd->add_option("--event", results->event,
                  "only URLs whose history has this event: moved, down, "
                  "back_up");
  cmd->add_option("--state", results->state,
                  "only URLs in this state now: online, down, unreachable");
  AddSourceOptions(cmd, &results->source);
  cmd->callback([results, exit_code] { *exit_code = PrintResults(*results); });

  auto history = std::make_shared<HistoryOptions>();
  cmd = app.add_subcommand(
      "history",
      "Print every check of a URL and what changed: moved, down, back up, "
      "time to takedown, fast flux, stale data.");
  cmd->add_option("URL_OR_JOB", history->subject,
                  "the URL as submitted, or its job number")
      ->required();
  cmd->add_flag("--json", history->json, "print the API's JSON");
  AddSourceOptions(cmd, &history->source);
  cmd->callback([history, exit_code] { *exit_code = PrintHistory(*history); });

  auto takedown = std::make_shared<TakedownOptions>();
  cmd = app.add_subcommand(
      "takedown",
      "Time to takedown per hosting provider, over a batch or the URLs first "
      "seen online in a time range.");
  cmd->add_option("--batch", takedown->batch, "the URLs of this batch");
  cmd->add_option("--from", takedown->from,
                  "first seen online from (UTC date or time, inclusive)");
  cmd->add_option("--to", takedown->to,
                  "first seen online before (UTC date or time)");
  cmd->add_flag("--json", takedown->json, "print the API's JSON");
  AddSourceOptions(cmd, &takedown->source);
  cmd->callback(
      [takedown, exit_code] { *exit_code = PrintTakedown(*takedown); });
}

Status ExportFromServer(const std::string& server,
                        const std::string& token_file, uint64_t batch,
                        const std::string& format, std::ostream& out,
                        std::ostream* chain, std::string* manifest) {
  auto client = ApiClient::Create(server, token_file);
  if (!client.ok()) return client.status();
  const auto f = format == "csv" ? coordinator::ExportFormat::kCsv
                                 : coordinator::ExportFormat::kJsonl;
  std::multimap<std::string, std::string> headers;
  std::optional<evidence::LineChain> lines;
  const evidence::LineChain::LineFn on_line =
      [chain](uint64_t, const std::string& hex) { *chain << hex << '\n'; };
  HL_RETURN_IF_ERROR((*client)->GetStream(
      "/api/v1/batches/" + std::to_string(batch) + "/export",
      {{"format", format}},
      [&](const char* data, size_t size) {
        if (chain != nullptr) {
          if (!lines) {
            auto id = headers.find("X-Hostlocator-Export");
            lines.emplace(
                evidence::ChainSeed({id == headers.end() ? "" : id->second,
                                     batch, coordinator::ExportParameters(f),
                                     coordinator::ExportFileName(batch, f)}));
          }
          lines->Update(std::string_view(data, size), on_line);
        }
        out.write(data, static_cast<std::streamsize>(size));
        return static_cast<bool>(out);
      },
      &headers));
  if (chain == nullptr) return Status::Ok();
  auto id = headers.find("X-Hostlocator-Export");
  if (id == headers.end()) {
    return FailedPrecondition(
        "the coordinator at " + server +
        " does not sign exports (no X-Hostlocator-Export header); upgrade it "
        "or export to stdout");
  }
  if (!lines)
    lines.emplace(evidence::ChainSeed({id->second, batch,
                                       coordinator::ExportParameters(f),
                                       coordinator::ExportFileName(batch, f)}));
  auto text = (*client)->Get("/api/v1/exports/" + id->second + "/manifest", {});
  if (!text.ok()) return text.status();
  auto parsed = evidence::ParseManifest(*text);
  if (!parsed.ok()) return parsed.status();
  const evidence::ManifestFile& signed_file = parsed->manifest.files.front();
  if (lines->partial_line() || signed_file.lines != lines->lines() ||
      signed_file.chain_head != lines->head()) {
    return DataLoss("the export received (" + std::to_string(lines->lines()) +
                    " lines) is not what the coordinator signed (" +
                    std::to_string(signed_file.lines) +
                    " lines): it was cut in transit; export again");
  }
  *manifest = *std::move(text);
  return Status::Ok();
}

}  // namespace hl::cli
