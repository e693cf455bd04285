// The chain of custody of one export (common/evidence.h): fed the bytes the
// export writes or sends, it chains them line by line; at the end it signs
// the manifest with the coordinator's Ed25519 key and writes the chain head
// and the manifest's SHA-256 to the audit log (who exported what). One
// object serves `hostlocator export --data`, the API's streamed export and
// any other exported file (a package adds a file per AddFile).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/evidence.h"
#include "common/signing.h"
#include "common/status.h"
#include "coordinator/queries.h"
#include "coordinator/referral_package.h"
#include "coordinator/store.h"

namespace hl::coordinator {

// "format=jsonl" or "format=csv": the export parameters of a batch export.
std::string ExportParameters(ExportFormat format);
// "batch-N.jsonl" / "batch-N.csv": the file's name in the manifest.
std::string ExportFileName(uint64_t batch_id, ExportFormat format);

// The default signing key of a data folder: DATA/signing.key.
std::string DefaultSigningKeyPath(const std::string& data_dir);

class ExportEvidence {
 public:
  // `parameters` are the export's (ExportParameters for a batch export);
  // `exported_by` names who asked (an API token, "cli:USER").
  ExportEvidence(const pb::RunRecord& run, std::string parameters,
                 std::string exported_by, int64_t now_ms);

  const std::string& export_id() const { return manifest_.export_id; }
  // Starts the next file of the export; `header_lines` of its lines are
  // not records (1 for CSV). Fails when the previous file ends in a cut
  // line.
  Status AddFile(const std::string& name, uint64_t header_lines);
  // Bytes of the current file, in order; `on_line` gets each completed
  // line's chain value (what FILE.chain holds).
  void Update(std::string_view bytes,
              const evidence::LineChain::LineFn& on_line = nullptr);
  // Where the records' data sources are collected (AppendExportChunk).
  DataSourceSet* sources() { return &sources_; }
  // The chain value of the current file's last line, and its line count.
  const std::string& head() const { return chain_->head(); }
  uint64_t lines() const { return chain_->lines(); }

  // Lists a file chained elsewhere (a file of a package set, written
  // alongside others): `chain` must be ChainFor(name) fed the whole file,
  // `sha256` the file's SHA-256 (hex).
  Status ListFile(const std::string& name, const evidence::LineChain& chain,
                  uint64_t records, std::string sha256);
  // A fresh chain of file `name` of this export (LineChain's `file_digest`).
  evidence::LineChain ChainFor(const std::string& name,
                               bool file_digest = true) const;

  // Signs the manifest and appends "export-signed" to the audit log as
  // `manifest_.exported_by`. kFailedPrecondition when a file ends in a cut
  // line (an export always ends its lines).
  Result<std::string> Finish(Store* store, const SigningKey& key,
                             int64_t now_ms);

 private:
  Status CloseFile();

  evidence::Manifest manifest_;
  std::string file_name_;  // of the current file (AddFile)
  std::optional<evidence::LineChain> chain_;
  uint64_t header_lines_ = 0;
  DataSourceSet sources_;
};

// The name of a package set's manifest in its folder.
inline constexpr char kPackageManifestName[] = "packages.manifest";

// Writes `text` to dir/kPackageManifestName; returns that path.
Result<std::string> WritePackageManifest(const std::string& dir,
                                         std::string_view text);

// "by=jurisdiction" and the filters of a package export as given (from, to,
// each country, each status), the parameters its manifest names.
std::string PackageParameters(std::string_view from, std::string_view to,
                              const std::vector<std::string>& countries,
                              const std::vector<std::string>& statuses);

// The chain of custody of one referral package set, taken while the
// package writer writes it (one pass, no second read): Wrap puts a chaining
// sink in front of every file sink, so each file is chained line by line as
// its bytes go out and, with `chain_files`, its chain values go to
// FILE.chain through the same inner factory. The manifest lists the SHA-256
// that the inner sink's Finish reports (each byte is digested once for the
// file, once for its chain). Files are listed in the
// manifest in the order they are finished, by their path under the set's
// folder; `records` counts the writes the writer marks as records (CSV rows,
// JSON result records; none for HTML and the index). Finish adds the data
// sources the set's records cite (PackageSetSummary::data_sources), signs
// and audits like ExportEvidence.
class PackageSetEvidence {
 public:
  PackageSetEvidence(const pb::RunRecord& run, std::string parameters,
                     std::string exported_by, int64_t now_ms, bool chain_files);
  ~PackageSetEvidence();

  const std::string& export_id() const;
  // A factory for PackageOptions::sink_factory. The factory refers to this
  // object, which must outlive the writer.
  PackageSinkFactory Wrap(PackageSinkFactory inner);
  // Signs the files finished so far. kFailedPrecondition when one is still
  // open or ends in a cut line.
  Result<std::string> Finish(const PackageSetSummary& set, Store* store,
                             const SigningKey& key, int64_t now_ms);

 private:
  class ChainingSink;
  std::unique_ptr<ExportEvidence> evidence_;
  bool chain_files_;
  uint64_t open_files_ = 0;
};

// The name under which the API serves a whole package set as a ustar
// archive (evidence::WriteTar).
inline constexpr char kPackageArchiveName[] = "packages.tar";

// A signed package set held in memory (the API's downloads).
struct SignedPackageSet {
  std::string export_id;
  // The files `keep` selected, by path: package files, their FILE.chain,
  // and kPackageManifestName (always kept).
  evidence::FileSet files;
  PackageSetSummary summary;
};
// Batch `run`'s referral packages (WriteReferralPackages with `options`;
// its sink_factory is replaced), chained and signed as one set by
// `exported_by` with its FILE.chain files; the HTML work files go to a
// temporary folder that is removed.
Result<SignedPackageSet> SignedReferralPackages(
    Store* store, const pb::RunRecord& run, PackageOptions options,
    std::string parameters, std::string exported_by, const SigningKey& key,
    int64_t now_ms, const std::function<bool(const std::string&)>& keep);

}  // namespace hl::coordinator
