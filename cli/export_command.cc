// `hostlocator export`: the lines of a run from a local data folder, as CSV
// or JSON Lines, through the same formatter as the run's reports.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/record_json.h"
#include "coordinator/reports.h"
#include "coordinator/store.h"

namespace hl::cli {
namespace {

namespace pb = ::hostlocator::v1;

struct ExportOptions {
  std::string data_dir = "hostlocator-data";
  std::string format = "jsonl";
  std::string output = "-";
  uint64_t run_id = 0;  // 0: the newest run
};

int Export(const ExportOptions& options) {
  if (!std::filesystem::is_directory(options.data_dir)) {
    PrintError("no data folder at " + options.data_dir +
               "; name the folder of an earlier run with --data");
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
  std::ofstream file;
  if (options.output != "-") {
    file.open(options.output, std::ios::out | std::ios::trunc);
    if (!file) {
      PrintError("cannot write " + options.output);
      return kExitFailure;
    }
  }
  std::ostream& out = options.output == "-" ? std::cout : file;
  const bool csv = options.format == "csv";
  if (csv) out << coordinator::CsvHeader() << "\n";
  // Lines are formatted into one reused buffer, written in blocks.
  std::string text;
  const auto flush = [&] {
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    text.clear();
    return out ? Status::Ok() : Unavailable("writing the export failed");
  };
  Status s = (*store)->ForEachLine(
      run->run_id(), [&](const pb::LineRecord& line) -> Status {
        std::optional<pb::Observation> obs;
        if (line.job_id() != 0) {
          auto latest = (*store)->LatestResult(line.job_id());
          if (!latest.ok()) return latest.status();
          obs = std::move(latest).value();
        }
        const pb::Observation* p = obs ? &*obs : nullptr;
        if (csv) {
          coordinator::AppendCsvRow(line, p, &text);
        } else {
          AppendResultRecordJson(line, p, &text);
        }
        text += '\n';
        return text.size() < (1 << 16) ? Status::Ok() : flush();
      });
  if (s.ok()) s = flush();
  if (!s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  return kExitOk;
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
  cmd->add_option("--run", options->run_id,
                  "run number (default: the newest run)");
  cmd->add_option("-o,--output", options->output, "output file; - is stdout")
      ->capture_default_str();
  cmd->callback([options, exit_code] { *exit_code = Export(*options); });
}

}  // namespace hl::cli
