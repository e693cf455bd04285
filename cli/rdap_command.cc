// `hostlocator rdap refresh`: replaces the RDAP bootstrap files with IANA's
// current ones. A thin layer over rdap::RefreshBootstrap.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/rdap_client.h"

namespace hl::cli {
namespace {

struct RefreshOptions {
  std::string config;
  std::string base_url = rdap::kIanaBootstrapUrl;
  std::string dir;  // "": rdap.bootstrap_dir
};

int Refresh(const RefreshOptions& options) {
  auto config = LoadConfiguration(options.config);
  if (!config.ok()) {
    PrintError(config.status().message());
    return kExitUsage;
  }
  const std::string dir =
      options.dir.empty() ? config->rdap.bootstrap_dir : options.dir;
  auto fetched = rdap::RefreshBootstrap(
      options.base_url, dir, config->rdap.timeout_ms, SystemClockMs());
  if (!fetched.ok()) {
    PrintError("rdap refresh: " + fetched.status().message());
    return kExitFailure;
  }
  for (const rdap::FetchedRegistry& f : *fetched) {
    std::printf("%s/%s.json: publication %s\n", dir.c_str(),
                std::string(rdap::RegistryName(f.registry)).c_str(),
                f.publication.c_str());
  }
  return kExitOk;
}

}  // namespace

void AddRdapCommand(CLI::App& app, int* exit_code) {
  CLI::App* rdap = app.add_subcommand(
      "rdap",
      "RDAP data: the bootstrap files that say which registry "
      "server answers for an address, an AS or a domain.");
  rdap->require_subcommand(1);
  auto options = std::make_shared<RefreshOptions>();
  CLI::App* refresh = rdap->add_subcommand(
      "refresh",
      "Fetch IANA's four bootstrap files (ipv4, ipv6, asn, dns), check "
      "them and replace those of rdap.bootstrap_dir (nothing is replaced "
      "unless all four are good).");
  refresh->add_option("-c,--config", options->config,
                      "configuration file (default: $HOSTLOCATOR_CONFIG, "
                      "else built-in defaults)");
  refresh
      ->add_option("--base-url", options->base_url,
                   "where the files are published")
      ->capture_default_str();
  refresh->add_option("--dir", options->dir,
                      "directory to write (default: rdap.bootstrap_dir)");
  refresh->callback([options, exit_code] { *exit_code = Refresh(*options); });
}

}  // namespace hl::cli
