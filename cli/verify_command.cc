// `hostlocator verify EXPORT --pubkey KEY`: checks an exported file against
// its signed manifest (common/evidence.h, docs/evidence.md). Exit 0 and one
// OK line when intact; exit 3 and one message naming the first bad line,
// the bad signature or the other key otherwise; exit 2 when a file is
// missing.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/evidence.h"
#include "common/signing.h"

namespace hl::cli {
namespace {

// A manifest lists files, not lines: anything larger is not one.
constexpr std::uintmax_t kMaxManifestBytes = 16 << 20;

struct VerifyOptions {
  std::string export_file;
  std::string pubkey;
  std::string manifest;  // "": EXPORT.manifest
  std::string chain;     // "": EXPORT.chain when it exists
};

int Verify(const VerifyOptions& options) {
  const std::string manifest_path =
      options.manifest.empty()
          ? options.export_file + std::string(evidence::kManifestSuffix)
          : options.manifest;
  std::ifstream data(options.export_file, std::ios::binary);
  if (!data) {
    PrintError("cannot read the export " + options.export_file);
    return kExitUsage;
  }
  std::error_code ec;
  const auto manifest_size = std::filesystem::file_size(manifest_path, ec);
  std::ifstream manifest_in(manifest_path, std::ios::binary);
  if (ec || !manifest_in) {
    PrintError("cannot read the manifest " + manifest_path +
               "; it is written beside the export as EXPORT" +
               std::string(evidence::kManifestSuffix) +
               ", or name it with --manifest");
    return kExitUsage;
  }
  if (manifest_size > kMaxManifestBytes) {
    PrintError("verify " + options.export_file + ": " + manifest_path +
               " is too large to be a manifest");
    return kExitVerifyFailed;
  }
  std::ostringstream manifest;
  manifest << manifest_in.rdbuf();
  auto key = ReadSigningPublicKey(options.pubkey);
  if (!key.ok()) {
    PrintError(key.status().message());
    return kExitUsage;
  }
  const std::string chain_path =
      options.chain.empty()
          ? options.export_file + std::string(evidence::kChainSuffix)
          : options.chain;
  std::ifstream chain(chain_path);
  if (!options.chain.empty() && !chain) {
    PrintError("cannot read the chain file " + chain_path);
    return kExitUsage;
  }
  const std::string text = manifest.str();
  auto verified = evidence::VerifyExport(
      {.data = &data,
       .chain_index = chain ? &chain : nullptr,
       .manifest_text = text,
       .public_key = *key,
       .file_name = std::filesystem::path(options.export_file)
                        .lexically_normal()
                        .generic_string()});
  if (!verified.ok()) {
    PrintError("verify " + options.export_file + ": " +
               verified.status().message());
    return verified.status().code() == StatusCode::kUnavailable
               ? kExitFailure
               : kExitVerifyFailed;
  }
  std::printf(
      "%s\n",
      evidence::DescribeVerified(*verified, options.export_file).c_str());
  return kExitOk;
}

}  // namespace

void AddVerifyCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check an exported file against its signed manifest: exit 0 when "
      "intact, 3 naming the first bad line, a bad signature or another key.");
  cmd->add_option("EXPORT", options->export_file, "the exported file")
      ->required();
  cmd->add_option("--pubkey", options->pubkey,
                  "the coordinator's Ed25519 public key (PEM), e.g. "
                  "hostlocator-data/signing.pub")
      ->required();
  cmd->add_option("--manifest", options->manifest,
                  "the signed manifest (default: EXPORT.manifest)");
  cmd->add_option("--chain", options->chain,
                  "the per-line chain values (default: EXPORT.chain when it "
                  "exists); only used to name the first bad line");
  cmd->callback([options, exit_code] { *exit_code = Verify(*options); });
}

}  // namespace hl::cli
