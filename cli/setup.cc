#include "cli/setup.h"

#include <cstdio>

#include "coordinator/export_evidence.h"

namespace hl::cli {

void PrintError(const std::string& message) {
  std::fprintf(stderr, "hostlocator: %s\n", message.c_str());
}

Result<SigningKey> LocalSigningKey(const std::string& path,
                                   const Config& config,
                                   const std::string& data_dir) {
  const std::string file = !path.empty() ? path
                           : !config.coordinator.signing_key_file.empty()
                               ? config.coordinator.signing_key_file
                               : coordinator::DefaultSigningKeyPath(data_dir);
  bool created = false;
  auto key = LoadOrCreateSigningKey(file, &created);
  if (key.ok() && created) {
    std::fprintf(stderr,
                 "hostlocator: created the export signing key %s (mode "
                 "0600) and %s; key fingerprint %s\n",
                 file.c_str(), PublicKeyPathFor(file).c_str(),
                 SigningKeyFingerprint(key->public_raw()).c_str());
  }
  return key;
}

}  // namespace hl::cli
