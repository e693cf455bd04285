// `hostlocator keys generate`: CURVE key files for the coordinator and the
// workers (common/curve.h), or with --signing the Ed25519 key that signs
// export manifests (common/signing.h).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/curve.h"
#include "common/signing.h"

namespace hl::cli {
namespace {

struct KeysOptions {
  std::string out;
  std::string name;
  bool signing = false;
};

int ExitCodeOf(const Status& status) {
  PrintError(status.message());
  return status.code() == StatusCode::kInvalidArgument ||
                 status.code() == StatusCode::kAlreadyExists
             ? kExitUsage
             : kExitFailure;
}

int GenerateSigning(const KeysOptions& options) {
  auto key = WriteSigningKeyFiles(options.out, options.name);
  if (!key.ok()) return ExitCodeOf(key.status());
  std::printf(
      "wrote %s/%s.key (Ed25519 signing key, mode 0600) and %s/%s.pub "
      "(fingerprint %s); set coordinator.signing_key_file to the .key file "
      "and give investigators the .pub file\n",
      options.out.c_str(), options.name.c_str(), options.out.c_str(),
      options.name.c_str(), SigningKeyFingerprint(key->public_raw()).c_str());
  return kExitOk;
}

int Generate(const KeysOptions& options) {
  if (options.signing) return GenerateSigning(options);
  auto pair = WriteCurveKeyFiles(options.out, options.name);
  if (!pair.ok()) return ExitCodeOf(pair.status());
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
      "keys",
      "CURVE keys for the links between coordinator and workers, or the "
      "key that signs exports");
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
  generate->add_flag(
      "--signing", options->signing,
      "write an Ed25519 signing key for export manifests instead: NAME.key "
      "(PEM, mode 0600) and NAME.pub (PEM), for "
      "coordinator.signing_key_file and `hostlocator verify --pubkey`");
  generate
      ->add_option("--name", options->name,
                   "key name, e.g. coordinator or worker-1")
      ->required();
  generate->callback([options, exit_code] { *exit_code = Generate(*options); });
}

}  // namespace hl::cli
