// `hostlocator tokens add|list|revoke`: the API's token file
// (coordinator/tokens.h). A new token's secret is printed once.
#include <cstdio>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "coordinator/tokens.h"

namespace hl::cli {
namespace {

struct TokensOptions {
  std::string file;
  std::string name;
  std::string roles;
};

int Edit(const TokensOptions& o, const std::string& action) {
  auto table = coordinator::TokenTable::Load(o.file, /*missing_ok=*/true);
  if (!table.ok()) {
    PrintError(table.status().message());
    return kExitUsage;
  }
  if (action == "list") {
    for (const auto& e : table->entries()) {
      std::printf("%s\t%s\n", e.name.c_str(),
                  coordinator::RolesText(e.roles).c_str());
    }
    return kExitOk;
  }
  std::string secret;
  if (action == "add") {
    auto roles = coordinator::ParseRoles(o.roles);
    if (!roles.ok()) {
      PrintError(roles.status().message());
      return kExitUsage;
    }
    auto added = table->Add(o.name, *roles, SystemClockMs());
    if (!added.ok()) {
      PrintError(added.status().message());
      return kExitUsage;
    }
    secret = *std::move(added);
  } else if (Status s = table->Revoke(o.name); !s.ok()) {
    PrintError(s.message());
    return kExitUsage;
  }
  if (Status s = table->Save(o.file); !s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  if (!secret.empty()) {
    // The only time the secret is shown: the file keeps its hash.
    std::printf("%s\n", secret.c_str());
  }
  return kExitOk;
}

}  // namespace

void AddTokensCommand(CLI::App& app, int* exit_code) {
  CLI::App* tokens =
      app.add_subcommand("tokens", "Manage the API's tokens file.");
  tokens->require_subcommand(1);
  for (const char* action : {"add", "list", "revoke"}) {
    auto o = std::make_shared<TokensOptions>();
    CLI::App* cmd = tokens->add_subcommand(
        action, std::string(action) == "add"
                    ? "Add a token and print its secret (shown only once)."
                : std::string(action) == "list"
                    ? "List the tokens' names and roles."
                    : "Remove a token.");
    if (std::string(action) != "list") {
      cmd->add_option("NAME", o->name, "token name")->required();
    }
    if (std::string(action) == "add") {
      cmd->add_option("--roles", o->roles,
                      "comma-separated: submit, read, export, admin")
          ->required();
    }
    cmd->add_option("--file", o->file, "tokens file (mode 0600)")->required();
    cmd->callback([o, exit_code, action] { *exit_code = Edit(*o, action); });
  }
}

}  // namespace hl::cli
