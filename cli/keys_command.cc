// `hostlocator keys generate`: CURVE key files for the coordinator and the
// workers (common/curve.h).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/curve.h"

namespace hl::cli {
namespace {

struct KeysOptions {
  std::string out;
  std::string name;
};

int Generate(const KeysOptions& options) {
  auto pair = WriteCurveKeyFiles(options.out, options.name);
  if (!pair.ok()) {
    PrintError(pair.status().message());
    return pair.status().code() == StatusCode::kInvalidArgument ||
                   pair.status().code() == StatusCode::kAlreadyExists
               ? kExitUsage
               : kExitFailure;
  }
  std::printf(
      "wrote %s/%s.key (secret, mode 0600) and %s/%s.pub (public key %s, "
      "fingerprint %s)\n",
      options.out.c_str(), options.name.c_str(), options.out.c_str(),
      options.name.c_str(), pair->public_z85.c_str(),
      KeyFingerprint(pair->public_z85).c_str());
  return kExitOk;
}

}  // namespace

void AddKeysCommand(CLI::App& app, int* exit_code) {
  CLI::App* keys = app.add_subcommand(
      "keys", "CURVE keys for the links between coordinator and workers");
  keys->require_subcommand(1);
  auto options = std::make_shared<KeysOptions>();
  CLI::App* generate = keys->add_subcommand(
      "generate",
      "Write NAME.key (secret, mode 0600) and NAME.pub (Z85 public key) in "
      "DIR. The coordinator's NAME.pub goes to every worker "
      "(worker.coordinator_public_key_file); each worker's NAME.pub goes to "
      "the coordinator (coordinator.authorized_keys).");
  generate->add_option("--out", options->out, "directory for the key files")
      ->required();
  generate
      ->add_option("--name", options->name,
                   "key name, e.g. coordinator or worker-1")
      ->required();
  generate->callback([options, exit_code] { *exit_code = Generate(*options); });
}

}  // namespace hl::cli
