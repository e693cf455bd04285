#include "common/daemon_cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace hl {

void AddLogLevelOption(CLI::App& app, std::string* level) {
  app.add_option("--log-level", *level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

std::optional<int> ParseDaemonCommandLine(CLI::App& app, int argc, char** argv,
                                          const std::string& logger,
                                          const std::string& level) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt(logger));
  spdlog::set_level(spdlog::level::from_str(level));
  return std::nullopt;
}

}  // namespace hl
