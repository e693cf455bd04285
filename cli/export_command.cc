// `hostlocator export`: the lines of a run from a local data folder or the
// coordinator's API, as CSV or JSON Lines, through the API's formatter
// (coordinator/queries.h) either way. Written to a file FILE, the export
// is hash-chained (FILE.chain) and comes with a signed manifest
// (FILE.manifest, docs/evidence.md): from a data folder signed with its
// signing key, through the API by the coordinator. With `--by jurisdiction`,
// the referral packages of a run (coordinator/referral_package.h), each
// file with its FILE.chain and the set's signed packages.manifest: written
// from a data folder, or received from the API as one archive and verified
// against the coordinator's key before anything is written.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "cli/api_client.h"
#include "cli/client_commands.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/clock.h"
#include "common/evidence.h"
#include "common/process.h"
#include "common/signing.h"
#include "common/version.h"
#include "coordinator/export_evidence.h"
#include "coordinator/queries.h"
#include "coordinator/referral_package.h"
#include "coordinator/store.h"

namespace hl::cli {
namespace {

namespace pb = ::hostlocator::v1;

// A package set as received: its manifest verifies with `public_key`, every
// file it lists is intact, and it holds nothing else (the manifest and the
// listed files' .chain aside).
Status CheckPackageSet(const evidence::FileSet& files,
                       const std::string& public_key) {
  auto manifest_file = files.find(coordinator::kPackageManifestName);
  if (manifest_file == files.end()) {
    return DataLoss(std::string("it has no ") +
                    coordinator::kPackageManifestName);
  }
  auto manifest = evidence::VerifyFileSet(
      manifest_file->second, public_key,
      [&](const std::string& name) -> std::unique_ptr<std::istream> {
        auto it = files.find(name);
        if (it == files.end()) return nullptr;
        return std::make_unique<std::istringstream>(it->second);
      });
  if (!manifest.ok()) return manifest.status();
  std::set<std::string> expected = {coordinator::kPackageManifestName};
  for (const auto& f : manifest->files) {
    expected.insert(f.name);
    expected.insert(f.name + std::string(evidence::kChainSuffix));
  }
  for (const auto& [name, data] : files) {
    if (!expected.contains(name)) {
      return DataLoss(name + " is not in the signed manifest");
    }
  }
  return Status::Ok();
}

struct ExportOptions {
  std::string data_dir = "hostlocator-data";
  std::string format = "jsonl";
  std::string output = "-";
  uint64_t run_id = 0;     // 0: the newest run
  std::string server;      // the coordinator's API instead of data_dir
  std::string token_file;  // with server
  // --by jurisdiction: referral packages into package_dir.
  std::string by;
  std::string package_dir;
  std::vector<std::string> countries;
  std::vector<std::string> statuses;
  std::string from;  // checked-at bounds, ParseUtcTime forms
  std::string to;
  std::string config;       // its [history] settings apply to data_dir
  std::string signing_key;  // "": coordinator.signing_key_file, else
                            // DATA/signing.key
  std::string pubkey;       // --by with --server: the key to verify with
};

int ExportPackages(const ExportOptions& options, coordinator::Store& store,
                   const pb::RunRecord& run, const Config& config) {
  auto filter = coordinator::MakePackageFilter(
      options.from, options.to, options.countries, options.statuses);
  if (!filter.ok()) {
    PrintError(filter.status().message());
    return kExitUsage;
  }
  auto key = LocalSigningKey(options.signing_key, config, options.data_dir);
  if (!key.ok()) {
    PrintError(key.status().message());
    return kExitFailure;
  }
  coordinator::PackageSetEvidence evidence(
      run,
      coordinator::PackageParameters(options.from, options.to,
                                     options.countries, options.statuses),
      "cli:" + CurrentUserName(), SystemClockMs(), /*chain_files=*/true);
  coordinator::PackageOptions packages;
  packages.filter = *std::move(filter);
  packages.generated_at_ms = SystemClockMs();
  packages.tool_version = std::string(hl::ToolVersion());
  packages.runs = {run};
  packages.history = config.history;
  packages.sink_factory = evidence.Wrap(coordinator::MakeFilePackageSink);
  auto summary = coordinator::WriteReferralPackages(
      store, run, options.package_dir, std::move(packages));
  if (!summary.ok()) {
    PrintError(summary.status().message());
    return summary.status().code() == StatusCode::kFailedPrecondition
               ? kExitUsage
               : kExitFailure;
  }
  std::printf("batch %llu: %llu of %llu lines in %zu referral packages",
              static_cast<unsigned long long>(run.run_id()),
              static_cast<unsigned long long>(summary->lines_selected),
              static_cast<unsigned long long>(summary->lines_seen),
              summary->packages.size());
  for (const auto& p : summary->packages) {
    std::printf(" %s %llu", p.key.c_str(),
                static_cast<unsigned long long>(p.lines));
  }
  if (summary->lines_pending > 0) {
    std::printf("; %llu lines without a result yet are not included",
                static_cast<unsigned long long>(summary->lines_pending));
  }
  std::printf("\nindex: %s/index.html\n", options.package_dir.c_str());
  auto manifest = evidence.Finish(*summary, &store, *key, SystemClockMs());
  if (!manifest.ok()) {
    PrintError(manifest.status().message());
    return kExitFailure;
  }
  auto manifest_path =
      coordinator::WritePackageManifest(options.package_dir, *manifest);
  if (!manifest_path.ok()) {
    PrintError(manifest_path.status().message());
    return kExitFailure;
  }
  std::printf("signed manifest: %s\n", manifest_path->c_str());
  return kExitOk;
}

// The referral packages through the coordinator's API: the whole set in one
// archive, checked against the coordinator's signing key before any file is
// written.
int ExportPackagesFromServer(const ExportOptions& options) {
  std::error_code ec;
  if (std::filesystem::exists(options.package_dir, ec) &&
      !std::filesystem::is_empty(options.package_dir, ec)) {
    PrintError(options.package_dir +
               " is not empty; name a new folder for the referral packages");
    return kExitUsage;
  }
  auto client = ApiClient::Create(options.server, options.token_file);
  if (!client.ok()) {
    PrintError(client.status().message());
    return kExitUsage;
  }
  // A copy of the coordinator's key the user trusts, else the one it serves.
  Result<std::string> key = InvalidArgument("");
  if (!options.pubkey.empty()) {
    key = ReadSigningPublicKey(options.pubkey);
  } else {
    auto pem = (*client)->Get("/api/v1/signing-key", {});
    key = pem.ok() ? ParseSigningPublicKey(*pem)
                   : Result<std::string>(
                         Status(pem.status().code(),
                                "cannot get the coordinator's signing key (" +
                                    pem.status().message() +
                                    "); give its public key with --pubkey"));
  }
  if (!key.ok()) {
    PrintError(key.status().message());
    return kExitUsage;
  }
  std::multimap<std::string, std::string> query;
  if (!options.from.empty()) query.emplace("from", options.from);
  if (!options.to.empty()) query.emplace("to", options.to);
  for (const auto& c : options.countries) query.emplace("country", c);
  for (const auto& st : options.statuses) query.emplace("status", st);
  auto body =
      (*client)->Get("/api/v1/batches/" + std::to_string(options.run_id) +
                         "/referrals/" + coordinator::kPackageArchiveName,
                     query);
  if (!body.ok()) {
    PrintError(body.status().message());
    return kExitFailure;
  }
  auto files = evidence::ReadTar(*body);
  Status checked = files.ok() ? CheckPackageSet(*files, *key) : files.status();
  if (!checked.ok()) {
    PrintError("the referral packages received from " + options.server +
               " are not what the coordinator signed, nothing was written: " +
               checked.message());
    return kExitVerifyFailed;
  }
  for (const auto& [name, data] : *files) {
    const std::filesystem::path path =
        std::filesystem::path(options.package_dir) / name;
    std::filesystem::create_directories(path.parent_path(), ec);
    std::ofstream out(path, std::ios::out | std::ios::trunc | std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (ec || !out) {
      PrintError("cannot write " + path.string());
      return kExitFailure;
    }
  }
  std::printf(
      "batch %llu: %zu files of referral packages in %s, verified against "
      "the coordinator's signing key %s\nindex: %s/index.html\nsigned "
      "manifest: %s/%s\n",
      static_cast<unsigned long long>(options.run_id), files->size(),
      options.package_dir.c_str(), SigningKeyFingerprint(*key).c_str(),
      options.package_dir.c_str(), options.package_dir.c_str(),
      coordinator::kPackageManifestName);
  return kExitOk;
}

// FILE.chain and FILE.manifest beside an export FILE; none for stdout.
struct EvidenceFiles {
  std::ofstream chain;
  std::string manifest_path;
  bool enabled() const { return !manifest_path.empty(); }
  void OnLine(uint64_t, const std::string& hex) { chain << hex << '\n'; }
};

Status OpenEvidenceFiles(const std::string& output, EvidenceFiles* files) {
  if (output == "-") return Status::Ok();
  const std::string chain = output + std::string(evidence::kChainSuffix);
  files->chain.open(chain, std::ios::out | std::ios::trunc);
  if (!files->chain) return Unavailable("cannot write " + chain);
  files->manifest_path = output + std::string(evidence::kManifestSuffix);
  return Status::Ok();
}

Status WriteManifest(EvidenceFiles& files, const std::string& text) {
  files.chain.close();
  if (!files.chain) return Unavailable("writing the .chain file failed");
  std::ofstream out(files.manifest_path, std::ios::out | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Unavailable("cannot write " + files.manifest_path);
  return Status::Ok();
}

int Export(const ExportOptions& options) {
  const bool packages = !options.by.empty();
  if (packages && options.package_dir.empty()) {
    PrintError("export --by jurisdiction needs --out DIR");
    return kExitUsage;
  }
  if (!packages && (!options.package_dir.empty() ||
                    !options.countries.empty() || !options.statuses.empty() ||
                    !options.from.empty() || !options.to.empty())) {
    PrintError(
        "--out, --country, --status, --from and --to go with --by "
        "jurisdiction");
    return kExitUsage;
  }
  std::ofstream file;
  EvidenceFiles evidence_files;
  if (!packages && options.output != "-") {
    file.open(options.output, std::ios::out | std::ios::trunc);
    if (!file) {
      PrintError("cannot write " + options.output);
      return kExitFailure;
    }
    if (Status s = OpenEvidenceFiles(options.output, &evidence_files);
        !s.ok()) {
      PrintError(s.message());
      return kExitFailure;
    }
  }
  std::ostream& out = options.output == "-" ? std::cout : file;
  if (!options.server.empty()) {
    if (options.token_file.empty() || options.run_id == 0) {
      PrintError("export --server needs --token-file and --run");
      return kExitUsage;
    }
    if (packages) return ExportPackagesFromServer(options);
    std::string manifest;
    Status s = ExportFromServer(
        options.server, options.token_file, options.run_id, options.format, out,
        evidence_files.enabled() ? &evidence_files.chain : nullptr, &manifest);
    if (s.ok() && evidence_files.enabled()) {
      s = WriteManifest(evidence_files, manifest);
    }
    if (!s.ok()) {
      PrintError(s.message());
      return kExitFailure;
    }
    return kExitOk;
  }
  if (!std::filesystem::is_directory(options.data_dir)) {
    PrintError("no data folder at " + options.data_dir +
               "; name the folder of an earlier run with --data");
    return kExitUsage;
  }
  auto config = LoadConfiguration(options.config);
  if (!config.ok()) {
    PrintError(config.status().message());
    return kExitUsage;
  }
  auto store = coordinator::Store::Open(options.data_dir);
  if (!store.ok()) {
    PrintError(store.status().message());
    return kExitFailure;
  }
  auto run =
      options.run_id ? (*store)->GetRun(options.run_id) : (*store)->LatestRun();
  if (!run.ok()) {
    PrintError(run.status().message() + " in " + options.data_dir);
    return kExitUsage;
  }
  if (packages) return ExportPackages(options, **store, *run, *config);
  const auto format = options.format == "csv"
                          ? coordinator::ExportFormat::kCsv
                          : coordinator::ExportFormat::kJsonl;
  std::optional<SigningKey> key;
  if (evidence_files.enabled()) {
    auto loaded =
        LocalSigningKey(options.signing_key, *config, options.data_dir);
    if (!loaded.ok()) {
      PrintError(loaded.status().message());
      return kExitFailure;
    }
    key = *std::move(loaded);
  }
  coordinator::ExportEvidence evidence(
      *run, coordinator::ExportParameters(format), "cli:" + CurrentUserName(),
      SystemClockMs());
  if (Status s =
          evidence.AddFile(coordinator::ExportFileName(run->run_id(), format),
                           format == coordinator::ExportFormat::kCsv ? 1 : 0);
      !s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  const evidence::LineChain::LineFn on_line =
      [&evidence_files](uint64_t line, const std::string& hex) {
        evidence_files.OnLine(line, hex);
      };
  // The API's export, chunk by chunk: the same bytes either way.
  uint64_t next_line = 0;
  std::string text;
  while (true) {
    auto ended = coordinator::AppendExportChunk(
        **store, run->run_id(), format, 1 << 16, &next_line, &text,
        config->history, evidence.sources());
    if (!ended.ok()) {
      PrintError(ended.status().message());
      return kExitFailure;
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (key) evidence.Update(text, on_line);
    text.clear();
    if (!out) {
      PrintError("writing the export failed");
      return kExitFailure;
    }
    if (*ended) break;
  }
  if (!key) return kExitOk;
  auto manifest = evidence.Finish(store->get(), *key, SystemClockMs());
  Status s = manifest.ok() ? WriteManifest(evidence_files, *manifest)
                           : manifest.status();
  if (!s.ok()) {
    PrintError(s.message());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddExportCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write the results of a run (one record per input line), read from a "
      "local data folder (--data) or through the coordinator's API "
      "(--server); with --by jurisdiction, its referral packages (one per "
      "hosting country: CSV, JSON and HTML), signed as one set.");
  cmd->add_option("--data", options->data_dir, "data folder")
      ->capture_default_str();
  cmd->add_option("--format", options->format, "csv or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  cmd->add_option("--server", options->server,
                  "read through the coordinator's API, http(s)://HOST:PORT "
                  "(needs --token-file and --run)");
  cmd->add_option("--token-file", options->token_file,
                  "file whose first line is the API token (mode 0600)");
  cmd->add_option("-c,--config", options->config,
                  "configuration file whose [history] settings apply with "
                  "--data (default: $HOSTLOCATOR_CONFIG, else the defaults)");
  cmd->add_option("--run", options->run_id,
                  "run number (default: the newest run)");
  cmd->add_option("-o,--output", options->output,
                  "output file FILE, written with FILE.chain and the signed "
                  "FILE.manifest (check with `hostlocator verify`); - is "
                  "stdout, without them")
      ->capture_default_str();
  cmd->add_option("--signing-key", options->signing_key,
                  "Ed25519 key that signs the manifest of a local export "
                  "(default: coordinator.signing_key_file of the "
                  "configuration, else signing.key in the data folder, "
                  "created on the first export)");
  cmd->add_option("--pubkey", options->pubkey,
                  "with --by and --server: the coordinator's public key "
                  "(PEM) the received packages must verify with (default: "
                  "the key it serves at /api/v1/signing-key, which needs the "
                  "read role)");
  cmd->add_option("--by", options->by,
                  "jurisdiction: write referral packages into --out")
      ->check(CLI::IsMember({"jurisdiction"}));
  cmd->add_option("--out", options->package_dir,
                  "with --by: a new or empty folder for the packages");
  cmd->add_option("--country", options->countries,
                  "with --by: only these packages (ISO code, or "
                  "unattributed); repeatable");
  cmd->add_option("--status", options->statuses,
                  "with --by: only lines of this status; repeatable")
      ->check(CLI::IsMember({"located", "unresolved", "error", "rejected"}));
  cmd->add_option("--from", options->from,
                  "with --by: only results checked at or after this UTC time "
                  "(YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
  cmd->add_option("--to", options->to,
                  "with --by: only results checked before this UTC time; a "
                  "date alone includes that whole day");
  cmd->callback([options, exit_code] { *exit_code = Export(*options); });
}

}  // namespace hl::cli
