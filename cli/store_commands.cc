// `hostlocator purge`, `backup` and `restore`: retention and copies of a
// local data folder. Each is recorded in the folder's audit log.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "common/process.h"
#include "coordinator/store.h"

namespace hl::cli {
namespace {

struct StoreCommandOptions {
  std::string config;
  std::string data_dir = "hostlocator-data";
  std::string older_than;  // purge: a duration; "": retention_days
  bool dry_run = false;
  std::string to;    // backup
  std::string from;  // restore
};

// Opens an existing data folder; nullptr after printing why not.
std::unique_ptr<coordinator::Store> OpenExisting(const std::string& dir,
                                                 int* exit_code) {
  if (!std::filesystem::is_directory(dir)) {
    PrintError("no data folder at " + dir + "; name it with --data");
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto store = coordinator::Store::Open(dir);
  if (!store.ok()) {
    PrintError(store.status().message());
    *exit_code = kExitFailure;
    return nullptr;
  }
  return std::move(store).value();
}

int Purge(const StoreCommandOptions& options) {
  int64_t age_ms = 0;
  if (!options.older_than.empty()) {
    auto parsed = ParseDurationMs(options.older_than);
    if (!parsed.ok()) {
      PrintError("--older-than: " + parsed.status().message());
      return kExitUsage;
    }
    age_ms = *parsed;
  } else {
    auto config = LoadConfiguration(options.config);
    if (!config.ok()) {
      PrintError(config.status().message());
      return kExitUsage;
    }
    if (config->coordinator.retention_days == 0) {
      PrintError(
          "coordinator.retention_days is 0 (keep everything); give "
          "--older-than DURATION (e.g. 90d) or set retention_days");
      return kExitUsage;
    }
    age_ms = int64_t{config->coordinator.retention_days} * 86400 * 1000;
  }
  int exit_code = kExitOk;
  auto store = OpenExisting(options.data_dir, &exit_code);
  if (!store) return exit_code;
  const int64_t now = SystemClockMs();
  auto counts =
      store->Purge(now - age_ms, options.dry_run, CurrentUserName(), now);
  if (!counts.ok()) {
    PrintError(counts.status().message());
    return kExitFailure;
  }
  std::printf("%s %llu batches, %llu lines, %llu results, %llu URLs\n",
              options.dry_run ? "would purge" : "purged",
              static_cast<unsigned long long>(counts->runs),
              static_cast<unsigned long long>(counts->lines),
              static_cast<unsigned long long>(counts->results),
              static_cast<unsigned long long>(counts->jobs));
  return kExitOk;
}

int Backup(const StoreCommandOptions& options) {
  int exit_code = kExitOk;
  auto store = OpenExisting(options.data_dir, &exit_code);
  if (!store) return exit_code;
  Status s = store->Checkpoint(options.to, CurrentUserName(), SystemClockMs());
  if (!s.ok()) {
    PrintError(s.message());
    return s.code() == StatusCode::kFailedPrecondition ? kExitUsage
                                                       : kExitFailure;
  }
  std::printf("backed up %s to %s\n", options.data_dir.c_str(),
              options.to.c_str());
  return kExitOk;
}

int Restore(const StoreCommandOptions& options) {
  auto store = coordinator::Store::Restore(options.from, options.data_dir);
  if (!store.ok()) {
    PrintError(store.status().message());
    return store.status().code() == StatusCode::kFailedPrecondition
               ? kExitUsage
               : kExitFailure;
  }
  auto audited = (*store)->AppendAudit(CurrentUserName(), "restore",
                                       "from " + options.from, SystemClockMs());
  if (!audited.ok()) {
    PrintError(audited.status().message());
    return kExitFailure;
  }
  std::printf("restored %s into %s\n", options.from.c_str(),
              options.data_dir.c_str());
  return kExitOk;
}

}  // namespace

void AddStoreCommands(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<StoreCommandOptions>();
  CLI::App* purge = app.add_subcommand(
      "purge",
      "Delete batches, their lines and results older than a duration (and "
      "URLs no remaining batch refers to) from a data folder; recorded in "
      "its audit log.");
  purge->add_option("--data", options->data_dir, "data folder")->required();
  purge->add_option("--older-than", options->older_than,
                    "age, e.g. 90d, 12h, 2w (default: "
                    "coordinator.retention_days)");
  purge->add_flag("--dry-run", options->dry_run,
                  "only count what would be deleted");
  purge->add_option("-c,--config", options->config,
                    "configuration file (for coordinator.retention_days)");
  purge->callback([options, exit_code] { *exit_code = Purge(*options); });

  CLI::App* backup = app.add_subcommand(
      "backup",
      "Copy a data folder consistently (a RocksDB checkpoint) to a new "
      "folder; recorded in its audit log.");
  backup->add_option("--data", options->data_dir, "data folder")->required();
  backup->add_option("--to", options->to, "new folder for the copy")
      ->required();
  backup->callback([options, exit_code] { *exit_code = Backup(*options); });

  CLI::App* restore = app.add_subcommand(
      "restore",
      "Make a data folder from a backup; the target must be missing or "
      "empty.");
  restore->add_option("--from", options->from, "folder a backup wrote")
      ->required();
  restore->add_option("--data", options->data_dir, "new data folder")
      ->required();
  restore->callback([options, exit_code] { *exit_code = Restore(*options); });
}

}  // namespace hl::cli
