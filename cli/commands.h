// Each `hostlocator` subcommand registers itself on the CLI11 app. A
// command's callback stores its process exit code in *exit_code (see
// README.md, "Exit codes").
#pragma once

#include <CLI/CLI.hpp>

namespace hl::cli {

// Exit codes shared by all commands.
enum ExitCode : int {
  kExitOk = 0,            // every input line ended with an outcome
  kExitFailure = 1,       // a runtime failure (store, network setup, I/O)
  kExitUsage = 2,         // bad command line or configuration
  kExitVerifyFailed = 3,  // `verify`: the export is not intact
  kExitInterrupted = 130  // SIGINT/SIGTERM; rerun to resume
};

void AddRunCommand(CLI::App& app, int* exit_code);
void AddLookupCommand(CLI::App& app, int* exit_code);
void AddExportCommand(CLI::App& app, int* exit_code);
void AddGeodbCommand(CLI::App& app, int* exit_code);
void AddTokensCommand(CLI::App& app, int* exit_code);
void AddKeysCommand(CLI::App& app, int* exit_code);
// rdap refresh
void AddRdapCommand(CLI::App& app, int* exit_code);
void AddVerifyCommand(CLI::App& app, int* exit_code);
// purge, backup, restore
void AddStoreCommands(CLI::App& app, int* exit_code);

}  // namespace hl::cli
