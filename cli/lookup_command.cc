// `hostlocator lookup URL`: one URL through the probing engine, no
// coordinator, the whole observation printed as JSON.
#include <cstdio>
#include <optional>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/net/url.h"
#include "common/record_json.h"
#include "common/request_context.h"

namespace hl::cli {
namespace {

namespace pb = ::hostlocator::v1;

struct LookupOptions {
  std::string url;
  std::string config;
  std::string referer;
  std::string user_agent;
};

int Lookup(const LookupOptions& options) {
  auto normalized = net::NormalizeUrl(options.url);
  if (!normalized.ok()) {
    PrintError("rejected (" +
               std::string(net::UrlRejectionReason(normalized.error().reason)) +
               "): " + normalized.error().detail);
    return kExitUsage;
  }
  auto context = MakeRequestContext(options.referer, options.user_agent);
  if (!context.ok()) {
    PrintError("rejected (" + context.error().reason +
               "): " + context.error().detail);
    return kExitUsage;
  }
  auto config = LoadConfiguration(options.config);
  if (!config.ok()) {
    PrintError(config.status().message());
    return kExitUsage;
  }
  auto data = LoadProbeData(*config);
  if (!data.ok()) {
    PrintError(data.status().message());
    return kExitUsage;
  }
  auto loop = worker::EventLoop::Create();
  if (!loop.ok()) {
    PrintError(loop.status().message());
    return kExitFailure;
  }
  auto prober = MakeProberFactory(*config, *data, "lookup")(loop->get());
  if (!prober.ok()) {
    PrintError(prober.status().message());
    return kExitUsage;
  }
  std::optional<pb::Observation> observation;
  (*prober)->Probe(normalized->url, *context, [&](pb::Observation obs) {
    obs.MergeFromString((*prober)->data_sources());
    observation = std::move(obs);
  });
  if (Status s = (*loop)->RunUntil([&] { return observation.has_value(); });
      !s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  std::printf("%s\n", ObservationToJson(*observation).dump(2).c_str());
  return kExitOk;
}

}  // namespace

void AddLookupCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<LookupOptions>();
  CLI::App* cmd = app.add_subcommand(
      "lookup",
      "Locate one URL now, without a coordinator, and print the whole "
      "observation as JSON.");
  cmd->add_option("url", options->url, "the URL to locate")->required();
  cmd->add_option("-c,--config", options->config,
                  "configuration file (default: $HOSTLOCATOR_CONFIG, else "
                  "built-in defaults)");
  cmd->add_option("--referer", options->referer,
                  "Referer to send (an http or https URL)");
  cmd->add_option("--user-agent", options->user_agent,
                  "User-Agent to send (default: http.user_agent)");
  cmd->callback([options, exit_code] { *exit_code = Lookup(*options); });
}

}  // namespace hl::cli
