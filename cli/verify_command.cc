// `hostlocator verify EXPORT --pubkey KEY`: checks an exported file against
// its signed manifest (common/evidence.h, docs/evidence.md); EXPORT may be
// a referral package folder (every file its packages.manifest lists) or a
// file in one. Exit 0 and one OK line when intact; exit 3 and one message
// naming the file and its first bad line, the bad signature or the other
// key otherwise; exit 2 when a file is missing.
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
#include "coordinator/export_evidence.h"

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

namespace fs = std::filesystem;
using coordinator::kPackageManifestName;

// The manifest of `export_file` when none is named: EXPORT.manifest, else
// the packages.manifest of the package folder it is in (its folder or the
// one above), else EXPORT.manifest (to be reported missing).
std::string DefaultManifest(const std::string& export_file) {
  const std::string beside =
      export_file + std::string(evidence::kManifestSuffix);
  std::error_code ec;
  if (fs::exists(beside, ec)) return beside;
  fs::path dir = fs::absolute(export_file, ec).parent_path();
  for (int up = 0; up < 2 && !dir.empty(); ++up, dir = dir.parent_path()) {
    const fs::path set = dir / kPackageManifestName;
    if (fs::exists(set, ec)) return set.string();
  }
  return beside;
}

// Reads a manifest file; exit code and message when it cannot be one.
std::optional<int> ReadManifest(const std::string& path,
                                const std::string& what, std::string* text) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) {
    PrintError("cannot read the manifest " + path +
               "; it is written beside the export as EXPORT" +
               std::string(evidence::kManifestSuffix) +
               " (a package folder's "
               "is " +
               kPackageManifestName + "), or name it with --manifest");
    return kExitUsage;
  }
  if (size > kMaxManifestBytes) {
    PrintError("verify " + what + ": " + path +
               " is too large to be a manifest");
    return kExitVerifyFailed;
  }
  std::ostringstream read;
  read << in.rdbuf();
  *text = read.str();
  return std::nullopt;
}

// Prints why `options.export_file` failed to verify; the exit code tells a
// file that could not be read from evidence that does not hold.
int VerifyFailed(const VerifyOptions& options, const Status& status) {
  PrintError("verify " + options.export_file + ": " + status.message());
  return status.code() == StatusCode::kUnavailable ? kExitFailure
                                                   : kExitVerifyFailed;
}

// Every file of a package folder's manifest.
int VerifyFolder(const VerifyOptions& options, const std::string& key) {
  const std::string manifest_path =
      options.manifest.empty()
          ? (fs::path(options.export_file) / kPackageManifestName).string()
          : options.manifest;
  std::string text;
  if (auto exit = ReadManifest(manifest_path, options.export_file, &text)) {
    return *exit;
  }
  auto verified = evidence::VerifyFileSet(
      text, key, [&](const std::string& name) -> std::unique_ptr<std::istream> {
        auto in = std::make_unique<std::ifstream>(
            fs::path(options.export_file) / name, std::ios::binary);
        if (!*in) return nullptr;
        return in;
      });
  if (!verified.ok()) return VerifyFailed(options, verified.status());
  uint64_t lines = 0;
  for (const auto& f : verified->files) lines += f.lines;
  std::printf(
      "OK %s: %zu files, %llu lines, batch %llu, export %s, signed %s by key "
      "%s...\n",
      options.export_file.c_str(), verified->files.size(),
      static_cast<unsigned long long>(lines),
      static_cast<unsigned long long>(verified->batch_id),
      verified->export_id.c_str(), verified->created_at.c_str(),
      verified->key_fingerprint.substr(0, 16).c_str());
  return kExitOk;
}

int Verify(const VerifyOptions& options) {
  std::error_code ec;
  if (fs::is_directory(options.export_file, ec)) {
    auto key = ReadSigningPublicKey(options.pubkey);
    if (!key.ok()) {
      PrintError(key.status().message());
      return kExitUsage;
    }
    return VerifyFolder(options, *key);
  }
  const std::string manifest_path = options.manifest.empty()
                                        ? DefaultManifest(options.export_file)
                                        : options.manifest;
  std::ifstream data(options.export_file, std::ios::binary);
  if (!data) {
    PrintError("cannot read the export " + options.export_file);
    return kExitUsage;
  }
  std::string text;
  if (auto exit = ReadManifest(manifest_path, options.export_file, &text)) {
    return *exit;
  }
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
  auto verified = evidence::VerifyExport(
      {.data = &data,
       .chain_index = chain ? &chain : nullptr,
       .manifest_text = text,
       .public_key = *key,
       .file_name =
           fs::path(options.export_file).lexically_normal().generic_string()});
  if (!verified.ok()) return VerifyFailed(options, verified.status());
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
  cmd->add_option("EXPORT", options->export_file,
                  "the exported file, or a referral package folder (every "
                  "file its packages.manifest lists)")
      ->required();
  cmd->add_option("--pubkey", options->pubkey,
                  "the coordinator's Ed25519 public key (PEM), e.g. "
                  "hostlocator-data/signing.pub")
      ->required();
  cmd->add_option("--manifest", options->manifest,
                  "the signed manifest (default: EXPORT.manifest, else the "
                  "packages.manifest of the package folder EXPORT is in)");
  cmd->add_option("--chain", options->chain,
                  "the per-line chain values (default: EXPORT.chain when it "
                  "exists); only used to name the first bad line");
  cmd->callback([options, exit_code] { *exit_code = Verify(*options); });
}

}  // namespace hl::cli
