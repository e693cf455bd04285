// `hostlocator export`: the lines of a run from a local data folder or the
// coordinator's API, as CSV or JSON Lines, through the API's formatter
// (coordinator/queries.h) either way.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/client_commands.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "coordinator/queries.h"
#include "coordinator/store.h"

namespace hl::cli {
namespace {

namespace pb = ::hostlocator::v1;

struct ExportOptions {
  std::string data_dir = "hostlocator-data";
  std::string format = "jsonl";
  std::string output = "-";
  uint64_t run_id = 0;     // 0: the newest run
  std::string server;      // the coordinator's API instead of data_dir
  std::string token_file;  // with server
  std::string config;      // its [history] settings apply to data_dir
};

int Export(const ExportOptions& options) {
  std::ofstream file;
  if (options.output != "-") {
    file.open(options.output, std::ios::out | std::ios::trunc);
    if (!file) {
      PrintError("cannot write " + options.output);
      return kExitFailure;
    }
  }
  std::ostream& out = options.output == "-" ? std::cout : file;
  if (!options.server.empty()) {
    if (options.token_file.empty() || options.run_id == 0) {
      PrintError("export --server needs --token-file and --run");
      return kExitUsage;
    }
    Status s = ExportFromServer(options.server, options.token_file,
                                options.run_id, options.format, out);
    if (!s.ok()) {
      PrintError(s.message());
      return kExitFailure;
    }
    return kExitOk;
  }
  if (!std::filesystem::is_directory(options.data_dir)) {
    PrintError("no data folder at " + options.data_dir +
               "; name the folder of an earlier run with --data");
    return kExitUsage;
  }
  auto config = LoadConfiguration(options.config);
  if (!config.ok()) {
    PrintError(config.status().message());
    return kExitUsage;
  }
  auto store = coordinator::Store::Open(options.data_dir);
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailure;
  }
  auto run =
      options.run_id ? (*store)->GetRun(options.run_id) : (*store)->LatestRun();
  if (!run.ok()) {
    PrintError(run.status().message() + " in " + options.data_dir);
    return kExitUsage;
  }
  const auto format = options.format == "csv"
                          ? coordinator::ExportFormat::kCsv
                          : coordinator::ExportFormat::kJsonl;
  // The API's export, chunk by chunk: the same bytes either way.
  uint64_t next_line = 0;
  std::string text;
  while (true) {
    auto ended =
        coordinator::AppendExportChunk(**store, run->run_id(), format, 1 << 16,
                                       &next_line, &text, config->history);
    if (!ended.ok()) {
      PrintError(ended.status().message());
      return kExitFailure;
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    text.clear();
    if (!out) {
      PrintError("writing the export failed");
      return kExitFailure;
    }
    if (*ended) return kExitOk;
  }
}

}  // namespace

void AddExportCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write the results of a run (one record per input line) from a local "
      "data folder.");
  cmd->add_option("--data", options->data_dir, "data folder")
      ->capture_default_str();
  cmd->add_option("--format", options->format, "csv or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  cmd->add_option("--server", options->server,
                  "read through the coordinator's API, http(s)://HOST:PORT "
                  "(needs --token-file and --run)");
  cmd->add_option("--token-file", options->token_file,
                  "file whose first line is the API token (mode 0600)");
  cmd->add_option("-c,--config", options->config,
                  "configuration file whose [history] settings apply with "
                  "--data (default: $HOSTLOCATOR_CONFIG, else the defaults)");
  cmd->add_option("--run", options->run_id,
                  "run number (default: the newest run)");
  cmd->add_option("-o,--output", options->output, "output file; - is stdout")
      ->capture_default_str();
  cmd->callback([options, exit_code] { *exit_code = Export(*options); });
}

}  // namespace hl::cli
