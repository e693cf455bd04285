// `hostlocator geodb`: builds the project's MMDB files from CSV range lists
// and describes MMDB files. A thin layer over common/geo.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/geo/csv_import.h"
#include "common/geo/geo.h"

namespace hl::cli {
namespace {

struct BuildArgs {
  std::string kind;  // "asn" | "country"
  std::string out;
  std::string type;
  uint64_t build_epoch = 0;  // 0 = now
  std::vector<std::string> inputs;
};

std::string Rfc3339(int64_t epoch) {
  const auto t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(epoch);
  }
  return buf;
}

int RunBuild(const BuildArgs& a) {
  const geo::CsvKind kind =
      a.kind == "asn" ? geo::CsvKind::kAsn : geo::CsvKind::kCountry;
  const std::string type = !a.type.empty() ? a.type : "hostlocator-" + a.kind;
  const auto start = std::chrono::steady_clock::now();
  Result<geo::CsvBuildStats> stats =
      geo::BuildMmdbFromCsv(kind, a.inputs, a.out, type, a.build_epoch);
  if (!stats.ok()) {
    std::cerr << "hostlocator geodb build: " << stats.error().message() << "\n";
    return kExitFailure;
  }
  const std::chrono::duration<double> took =
      std::chrono::steady_clock::now() - start;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", took.count());
  std::cout << "wrote " << a.out << " (database type " << type
            << "): " << stats->rows << " rows, " << stats->networks
            << " networks in " << seconds << " s\n";
  return kExitOk;
}

int RunInfo(const std::vector<std::string>& files) {
  int rc = kExitOk;
  for (const std::string& path : files) {
    Result<std::unique_ptr<geo::MmdbFile>> f = geo::MmdbFile::Open(path);
    if (!f.ok()) {
      std::cerr << "hostlocator geodb info: " << f.error().message() << "\n";
      rc = kExitFailure;
      continue;
    }
    const geo::MmdbMetadata& m = (*f)->metadata();
    std::cout << path << "\n"
              << "  database type: " << m.database_type << "\n"
              << "  built:         " << Rfc3339(m.build_epoch) << "\n"
              << "  ip version:    " << m.ip_version << "\n"
              << "  nodes:         " << m.node_count << " (" << m.record_size
              << "-bit records)\n"
              << "  format:        " << m.format_major << "." << m.format_minor
              << "\n";
    if (!m.languages.empty()) {
      std::cout << "  languages:    ";
      for (const std::string& l : m.languages) std::cout << " " << l;
      std::cout << "\n";
    }
    if (!m.description.empty()) {
      std::cout << "  description:   " << m.description << "\n";
    }
    std::cout << "  attribution:   "
              << geo::AttributionFor(m.database_type, path) << "\n";
  }
  return rc;
}

}  // namespace

void AddGeodbCommand(CLI::App& app, int* exit_code) {
  CLI::App* geodb = app.add_subcommand(
      "geodb", "Build and inspect the geolocation databases (MMDB files)");
  geodb->require_subcommand(1);

  auto args = std::make_shared<BuildArgs>();
  CLI::App* build = geodb->add_subcommand(
      "build",
      "Build an MMDB file from CSV range lists (the @ip-location-db "
      "formats)");
  build->footer(
      "CSV rows, without a header line (RFC 4180 quoting):\n"
      "  asn:      first_ip,last_ip,autonomous_system_number,"
      "autonomous_system_organization\n"
      "  country:  first_ip,last_ip,country_code\n"
      "Addresses are IPv4 or IPv6 text, or IPv4 as decimal integers (the\n"
      "\"-num\" files). IPv4 and IPv6 rows go into one IPv6 database; a later\n"
      "row wins where ranges overlap. A malformed row stops the build with\n"
      "FILE:LINE and the reason, and nothing is written.\n\n"
      "Example (what scripts/fetch-geodata.sh runs):\n"
      "  hostlocator geodb build --kind asn --out data/geo/asn.mmdb \\\n"
      "      asn-ipv4.csv asn-ipv6.csv");
  build->add_option("--kind", args->kind, "What the CSV rows hold")
      ->required()
      ->check(CLI::IsMember({"asn", "country"}));
  build
      ->add_option("--out", args->out,
                   "The MMDB file to write (replaced atomically)")
      ->required();
  build->add_option(
      "--type", args->type,
      "The database_type metadata; it decides the attribution shown in "
      "reports (hostlocator-asn: ASN data of @ip-location-db/asn; "
      "hostlocator-test*/hostlocator-sandbox*: synthetic fixtures). "
      "Default: hostlocator-asn or hostlocator-country by --kind");
  build->add_option("--build-epoch", args->build_epoch,
                    "The build_epoch metadata, in seconds since 1970: the "
                    "date of the data, which results cite (default: now)");
  build->add_option("csv", args->inputs, "CSV files, read in order")
      ->required();
  build->callback([args, exit_code] { *exit_code = RunBuild(*args); });

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* info = geodb->add_subcommand(
      "info",
      "Print the metadata of MMDB files: database type, build date "
      "(RFC 3339, UTC), IP version, node count and the attribution");
  info->add_option("file", *files, "MMDB files")->required();
  info->callback([files, exit_code] { *exit_code = RunInfo(*files); });
}

}  // namespace hl::cli
