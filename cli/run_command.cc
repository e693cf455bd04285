// `hostlocator run`: the embedded default. Coordinator and workers in one
// process over inproc://, RocksDB in a local data folder.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "common/process.h"
#include "common/verdict.h"
#include "common/verdict_line.h"
#include "common/version.h"
#include "coordinator/broker.h"
#include "coordinator/enricher.h"
#include "coordinator/export_evidence.h"
#include "coordinator/ingest.h"
#include "coordinator/queries.h"
#include "coordinator/report_follower.h"
#include "coordinator/reports.h"
#include "coordinator/retention.h"
#include "coordinator/store.h"
#include "worker/worker.h"
#include "worker/worker_stats.h"

namespace hl::cli {
namespace {

namespace pb = ::hostlocator::v1;

std::atomic<bool> g_interrupted{false};

void OnSignal(int) {
  g_interrupted.store(true);
  // A second signal ends the process at once.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

struct RunOptions {
  std::string input;
  std::string config;
  std::string data_dir;
  std::string output_dir;
  uint32_t threads = 0;
  uint32_t in_flight = 0;
  bool dns_only = false;
  std::string referer;     // the batch's, for lines without their own
  std::string user_agent;  // likewise
  bool validate_only = false;
  bool quiet = false;
};

void PrintRejection(const coordinator::Rejection& rejection) {
  std::printf("line %llu: rejected (%s)%s%s\n",
              static_cast<unsigned long long>(rejection.line),
              rejection.reason.c_str(), rejection.detail.empty() ? "" : ": ",
              rejection.detail.c_str());
}

coordinator::BatchSpec SpecOf(const RunOptions& options,
                              const std::string& config_digest) {
  coordinator::BatchSpec spec;
  spec.source = options.input;
  spec.submitter = CurrentUserName();
  spec.referer = options.referer;
  spec.user_agent = options.user_agent;
  spec.config_digest = config_digest;
  return spec;
}

int ValidateOnly(const RunOptions& options) {
  auto reader = coordinator::InputReader::Open(options.input);
  if (!reader.ok()) {
    PrintError(reader.status().message());
    return kExitUsage;
  }
  uint64_t rejected = 0;
  auto accepted =
      coordinator::ValidateBatch(**reader, SpecOf(options, ""),
                                 [&](const coordinator::Rejection& rejection) {
                                   ++rejected;
                                   PrintRejection(rejection);
                                 });
  if (!accepted.ok()) {
    PrintError(accepted.status().message());
    return kExitFailure;
  }
  std::printf("validated %llu URL lines: %llu accepted, %llu rejected\n",
              static_cast<unsigned long long>(*accepted + rejected),
              static_cast<unsigned long long>(*accepted),
              static_cast<unsigned long long>(rejected));
  return kExitOk;
}

// The run's reports, written while the probes run: a ReportFollower hands
// each line to the RunReportWriter once its outcome is final, in a folder
// named DIR.partial that becomes DIR only when every file is written and
// the referral packages are signed as one set with the local signing key
// (docs/evidence.md). Destroyed before Commit (interrupted, or failed), it
// removes the partial folder: no report of an unfinished run is left.
class RunReports {
 public:
  static Result<std::unique_ptr<RunReports>> Start(coordinator::Store& store,
                                                   const pb::RunRecord& run,
                                                   const std::string& dir,
                                                   const Config& config,
                                                   bool await_enrichment) {
    std::unique_ptr<RunReports> r(new RunReports(run, dir));
    auto key = LocalSigningKey("", config, config.run.data_dir);
    if (!key.ok()) return key.status();
    r->key_ = *std::move(key);
    std::error_code ec;
    std::filesystem::remove_all(r->partial_, ec);
    if (ec) {
      return FailedPrecondition("cannot remove " + r->partial_ + ": " +
                                ec.message());
    }
    coordinator::PackageOptions packages;
    packages.generated_at_ms = SystemClockMs();
    packages.tool_version = std::string(hl::ToolVersion());
    packages.runs = {run};
    packages.history = config.history;
    packages.sink_factory = r->evidence_.Wrap(coordinator::MakeFilePackageSink);
    auto writer =
        coordinator::RunReportWriter::Create(r->partial_, std::move(packages));
    if (!writer.ok()) return writer.status();
    r->writer_ = std::move(writer).value();
    coordinator::RunReportWriter* w = r->writer_.get();
    r->follower_ = std::make_unique<coordinator::ReportFollower>(
        store, run.run_id(), &config.history,
        coordinator::ReportFollower::Options{
            .await_enrichment = await_enrichment,
            // The reports take the core only when the probes leave it:
            // on one core their work would otherwise delay the broker's
            // and the worker's turns.
            .nice = 10},
        [w](const pb::LineRecord& line, const pb::Observation* obs,
            const HistorySummary* history) {
          return w->Add(line, obs, history);
        });
    r->follower_->Start();
    return r;
  }

  ~RunReports() {
    follower_.reset();
    writer_.reset();
    if (!committed_) {
      std::error_code ignored;
      std::filesystem::remove_all(partial_, ignored);
    }
  }

  // The probes and the RDAP enrichment are over: writes the lines left,
  // finishes and signs the files and moves the folder into place (a
  // folder of that name is replaced).
  Result<coordinator::ReportSummary> Commit(coordinator::Store& store) {
    HL_RETURN_IF_ERROR(follower_->Finish());
    auto summary = writer_->Finish();
    if (!summary.ok()) return summary.status();
    auto manifest =
        evidence_.Finish(summary->packages, &store, *key_, SystemClockMs());
    if (!manifest.ok()) return manifest.status();
    auto path = coordinator::WritePackageManifest(
        (std::filesystem::path(partial_) / "referrals").string(), *manifest);
    if (!path.ok()) return path.status();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (!ec) std::filesystem::rename(partial_, dir_, ec);
    if (ec) {
      return FailedPrecondition("cannot move " + partial_ + " to " + dir_ +
                                ": " + ec.message());
    }
    committed_ = true;
    for (std::string& file : summary->files)
      file.replace(0, partial_.size(), dir_);
    summary->files.push_back(dir_ + path->substr(partial_.size()));
    return summary;
  }

 private:
  RunReports(const pb::RunRecord& run, const std::string& dir)
      : dir_(dir),
        partial_(dir + ".partial"),
        evidence_(run, "by=jurisdiction", "cli:" + CurrentUserName(),
                  SystemClockMs(), /*chain_files=*/true) {}

  const std::string dir_;
  const std::string partial_;
  std::optional<SigningKey> key_;  // set by Start
  coordinator::PackageSetEvidence evidence_;
  std::unique_ptr<coordinator::RunReportWriter> writer_;
  std::unique_ptr<coordinator::ReportFollower> follower_;
  bool committed_ = false;
};

// Waits until no result awaits RDAP enrichment, at most `max_wait_s`
// seconds (or until interrupted). Returns how many still wait.
Result<uint64_t> WaitForEnrichment(const coordinator::Store& store,
                                   uint32_t max_wait_s) {
  const int64_t deadline = worker::SteadyClockMs() + int64_t{max_wait_s} * 1000;
  bool announced = false;
  while (true) {
    auto pending = store.CountPendingEnrichment();
    if (!pending.ok() || *pending == 0 || worker::SteadyClockMs() >= deadline ||
        g_interrupted.load()) {
      return pending;
    }
    if (!announced) {
      std::printf("\nRDAP: enriching %llu results (at most %u s)\n",
                  static_cast<unsigned long long>(*pending), max_wait_s);
      std::fflush(stdout);
      announced = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void PrintSummary(const coordinator::ReportSummary& summary,
                  const std::string& dir) {
  std::printf("\n%llu lines:", static_cast<unsigned long long>(summary.lines));
  for (const auto& [status, count] : summary.by_status) {
    std::printf(" %s %llu", status.c_str(),
                static_cast<unsigned long long>(count));
  }
  std::printf("\nhosting countries:");
  if (summary.by_country.empty()) std::printf(" none");
  for (const auto& [country, stats] : summary.by_country) {
    std::printf(" %s %llu", country.c_str(),
                static_cast<unsigned long long>(stats.lines));
  }
  std::printf(
      "\nresults: %s/results.jsonl\nreports: %s/countries.csv\nreferral "
      "packages: %s/referrals/index.html (%zu packages, signed: "
      "referrals/packages.manifest)\n",
      dir.c_str(), dir.c_str(), dir.c_str(), summary.packages.packages.size());
}

int Run(const RunOptions& options) {
  auto config = LoadConfiguration(options.config);
  if (!config.ok()) {
    PrintError(config.status().message());
    return kExitUsage;
  }
  if (!options.data_dir.empty()) config->run.data_dir = options.data_dir;
  if (!options.output_dir.empty()) config->run.output_dir = options.output_dir;
  if (options.threads) config->worker.threads = options.threads;
  if (options.in_flight) config->worker.max_in_flight = options.in_flight;
  if (options.dns_only) config->worker.dns_only = true;
  config->digest = ConfigDigest(*config);

  auto reader = coordinator::InputReader::Open(options.input);
  if (!reader.ok()) {
    PrintError(reader.status().message());
    return kExitUsage;
  }
  auto data = LoadProbeData(*config);
  if (!data.ok()) {
    PrintError(data.status().message());
    return kExitUsage;
  }
  auto store = coordinator::Store::Open(config->run.data_dir,
                                        coordinator::StorePolicyOf(*config));
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailure;
  }
  auto recovered = (*store)->RecoverLeases(SystemClockMs());
  if (!recovered.ok()) {
    PrintError(recovered.status().message());
    return kExitFailure;
  }
  if (*recovered > 0) {
    std::printf("resuming: %llu interrupted probes re-queued\n",
                static_cast<unsigned long long>(*recovered));
  }
  // Retention applies at the start of each run (the daemon, periodically).
  auto purged =
      coordinator::RetentionSchedule(
          store->get(), config->coordinator.retention_days, SystemClockMs)
          .RunIfDue();
  if (!purged.ok()) {
    PrintError(purged.status().message());
    return kExitFailure;
  }
  auto enrichment =
      coordinator::EnrichmentService::Start(store->get(), *config);
  if (!enrichment.ok()) {
    PrintError(enrichment.status().message());
    return kExitUsage;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  auto ingested = coordinator::IngestBatch(
      **store, **reader, SpecOf(options, config->digest), SystemClockMs(),
      [&](const coordinator::Rejection& rejection) {
        if (!options.quiet) PrintRejection(rejection);
      });
  if (!ingested.ok()) {
    PrintError(ingested.status().message());
    return kExitFailure;
  }
  const pb::RunRecord& run = ingested->run;
  std::printf(
      "run %llu: %llu URL lines, %llu rejected, %llu new URLs to probe, "
      "%llu already known\n",
      static_cast<unsigned long long>(run.run_id()),
      static_cast<unsigned long long>(run.lines()),
      static_cast<unsigned long long>(run.rejected()),
      static_cast<unsigned long long>(ingested->new_jobs),
      static_cast<unsigned long long>(ingested->reused_jobs));

  const std::string dir = (std::filesystem::path(config->run.output_dir) /
                           ("run-" + std::to_string(run.run_id())))
                              .string();
  auto reports = RunReports::Start(**store, run, dir, *config,
                                   /*await_enrichment=*/*enrichment != nullptr);
  if (!reports.ok()) {
    PrintError(reports.status().message());
    return kExitFailure;
  }

  zmq::context_t context;
  const coordinator::BrokerOptions broker_options =
      coordinator::BrokerOptionsFrom(*config, "inproc://hostlocator-broker");
  coordinator::Broker broker(&context, store->get(), broker_options,
                             SystemClockMs);
  if (Status s = broker.Bind(); !s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  const uint64_t to_probe = (*store)->pending_count();
  uint64_t probed = 0;
  const int width = static_cast<int>(std::to_string(to_probe).size());
  broker.set_result_sink([&](const pb::JobRecord&, std::string_view stored) {
    ++probed;
    if (options.quiet) return;
    std::printf(
        "[%*llu/%llu] %s\n", width, static_cast<unsigned long long>(probed),
        static_cast<unsigned long long>(to_probe), VerdictLine(stored).c_str());
    std::fflush(stdout);
  });

  std::atomic<bool> stop_workers{false};
  std::vector<std::thread> workers;
  const uint32_t threads = WorkerThreads(*config);
  std::vector<Status> worker_status(threads);
  // The threads' figures travel in their heartbeats as a daemon worker's do.
  worker::WorkerStatsBoard stats("embedded", threads);
  for (uint32_t i = 0; i < threads; ++i) {
    workers.emplace_back([&, i] {
      const std::string name = "embedded-" + std::to_string(i + 1);
      worker::WorkerOptions wo;
      wo.endpoint = broker_options.endpoint;
      wo.name = name;
      wo.stats = &stats;
      wo.stats_slot = i;
      wo.capacity = config->worker.max_in_flight;
      wo.lease_ahead_ms = config->worker.lease_ahead_ms;
      wo.heartbeat_interval_ms = broker_options.heartbeat_interval_ms;
      wo.heartbeat_liveness = broker_options.heartbeat_liveness;
      worker::Worker w(&context, wo, MakeProberFactory(*config, *data, name),
                       worker::SteadyClockMs);
      worker_status[i] = w.Run(stop_workers);
    });
  }
  Status served = broker.Run(g_interrupted, /*until_drained=*/true);
  // Workers finish the probes under way; their results are still stored.
  stop_workers.store(true);
  if (served.ok()) {
    served =
        broker.Drain(SystemClockMs() + config->coordinator.lease_timeout_ms);
  }
  for (auto& t : workers) t.join();
  for (const Status& s : worker_status) {
    if (!s.ok()) {
      PrintError(s.message());
      return kExitFailure;
    }
  }
  if (!served.ok()) {
    PrintError(served.message());
    return kExitFailure;
  }
  if (g_interrupted.load()) {
    std::printf(
        "\ninterrupted after %llu of %llu probes; rerun the same command "
        "with the same data folder to resume\n",
        static_cast<unsigned long long>(probed),
        static_cast<unsigned long long>(to_probe));
    return kExitInterrupted;
  }
  if (*enrichment) {
    auto pending = WaitForEnrichment(**store, config->rdap.max_wait_s);
    if (!pending.ok()) {
      PrintError(pending.status().message());
      return kExitFailure;
    }
    if (*pending > 0) {
      std::printf(
          "\nRDAP: %llu results still wait for enrichment after %u s "
          "(rdap.max_wait_s); their rdap.state is \"pending\" in the reports "
          "and the coordinator enriches them on its next start\n",
          static_cast<unsigned long long>(*pending), config->rdap.max_wait_s);
    }
    enrichment->reset();
  }
  auto summary = (*reports)->Commit(**store);
  if (!summary.ok()) {
    PrintError(summary.status().message());
    return kExitFailure;
  }
  PrintSummary(*summary, dir);
  return kExitOk;
}

}  // namespace

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Locate every URL of a list: coordinator and workers in this process, "
      "results in a local data folder, reports in the output folder.");
  cmd->add_option("urls", options->input,
                  "URL list: one URL per line (# comments and blank lines "
                  "skipped) or CSV with a 'url' column; - reads stdin")
      ->required();
  cmd->add_option("-c,--config", options->config,
                  "configuration file (default: $HOSTLOCATOR_CONFIG, else "
                  "built-in defaults; see config/hostlocator.toml)");
  cmd->add_option("--data", options->data_dir,
                  "data folder (overrides run.data_dir)");
  cmd->add_option("--out", options->output_dir,
                  "output folder for reports (overrides run.output_dir)");
  cmd->add_option("--threads", options->threads,
                  "worker threads, each an event loop with up to "
                  "worker.max_in_flight URLs in flight (overrides "
                  "worker.threads; default: one per core)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--in-flight", options->in_flight,
                  "URLs in flight per thread (overrides "
                  "worker.max_in_flight)")
      ->check(CLI::Range(1, 20000));
  cmd->add_flag("--dns-only", options->dns_only,
                "resolve and locate only, send no HTTP request (sets "
                "worker.dns_only)");
  cmd->add_option("--referer", options->referer,
                  "Referer sent with every probe of this list, for lines "
                  "without a referer column value (an http or https URL)");
  cmd->add_option("--user-agent", options->user_agent,
                  "User-Agent sent with every probe of this list, for lines "
                  "without a user_agent column value (default: "
                  "http.user_agent)");
  cmd->add_flag("--validate-only", options->validate_only,
                "only check the list: print rejected lines, probe nothing");
  cmd->add_flag("-q,--quiet", options->quiet,
                "no per-URL lines, only the summary");
  cmd->callback([options, exit_code] {
    *exit_code =
        options->validate_only ? ValidateOnly(*options) : Run(*options);
  });
}

}  // namespace hl::cli
