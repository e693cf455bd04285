// The `hostlocator` command: wires the subcommands to CLI11.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "hostlocator: where is a reported URL hosted, and which jurisdiction "
      "does it fall under? No content is ever downloaded.",
      "hostlocator"};
  app.set_version_flag("--version", HL_VERSION);
  app.require_subcommand(1);
  int exit_code = hl::cli::kExitOk;
  hl::cli::AddRunCommand(app, &exit_code);
  hl::cli::AddLookupCommand(app, &exit_code);
  hl::cli::AddExportCommand(app, &exit_code);
  hl::cli::AddGeodbCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? hl::cli::kExitOk : hl::cli::kExitUsage;
  }
  return exit_code;
}
