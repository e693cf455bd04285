// The `hostlocator` command: wires the subcommands to CLI11.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/client_commands.h"
#include "cli/commands.h"
#include "common/process.h"
#include "common/version.h"

int main(int argc, char** argv) {
  // Before anything is read: no command leaves a core file behind.
  if (hl::Status status = hl::DisableCoreDumps(); !status.ok()) {
    std::fprintf(stderr, "hostlocator: cannot disable core dumps: %s\n",
                 status.message().c_str());
    return hl::cli::kExitFailure;
  }
  CLI::App app{
      "hostlocator: where is a reported URL hosted, and which jurisdiction "
      "does it fall under? No content is ever downloaded.",
      "hostlocator"};
  app.set_version_flag("--version", std::string(hl::ToolVersion()));
  app.footer(
      "Exit codes: 0 every input line ended with an outcome; 1 runtime "
      "failure; 2 bad command line, configuration or missing data; 130 "
      "interrupted (rerun the same command to resume).");
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level,
                 "diagnostics on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  // Diagnostics go to stderr; stdout carries only verdicts and reports.
  spdlog::set_default_logger(spdlog::stderr_color_mt("hostlocator"));
  app.parse_complete_callback(
      [&] { spdlog::set_level(spdlog::level::from_str(log_level)); });
  int exit_code = hl::cli::kExitOk;
  hl::cli::AddRunCommand(app, &exit_code);
  hl::cli::AddLookupCommand(app, &exit_code);
  hl::cli::AddExportCommand(app, &exit_code);
  hl::cli::AddGeodbCommand(app, &exit_code);
  hl::cli::AddTokensCommand(app, &exit_code);
  hl::cli::AddClientCommands(app, &exit_code);
  hl::cli::AddKeysCommand(app, &exit_code);
  hl::cli::AddRdapCommand(app, &exit_code);
  hl::cli::AddVerifyCommand(app, &exit_code);
  hl::cli::AddStoreCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? hl::cli::kExitOk : hl::cli::kExitUsage;
  }
  return exit_code;
}
