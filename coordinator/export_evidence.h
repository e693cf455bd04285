// The chain of custody of one export (common/evidence.h): fed the bytes the
// export writes or sends, it chains them line by line; at the end it signs
// the manifest with the coordinator's Ed25519 key and writes the chain head
// and the manifest's SHA-256 to the audit log (who exported what). One
// object serves `hostlocator export --data`, the API's streamed export and
// any other exported file (a package adds a file per AddFile).
#pragma once

#include <cstdint>
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

  // Signs the manifest and appends "export-signed" to the audit log as
  // `manifest_.exported_by`. kFailedPrecondition when a file ends in a cut
  // line (an export always ends its lines).
  Result<std::string> Finish(Store* store, const SigningKey& key,
                             int64_t now_ms);

 private:
  Status CloseFile();

  evidence::Manifest manifest_;
  std::optional<evidence::LineChain> chain_;
  uint64_t header_lines_ = 0;
  DataSourceSet sources_;
};

// The name of a package set's manifest in its folder.
inline constexpr char kPackageManifestName[] = "packages.manifest";

// Signs the files of the referral package set `set` written under `dir`
// (the index and every package file, read back and chained line by line,
// named by their path under `dir`; records are counted for the CSV files,
// the JSON and HTML documents list none), audits it like an export and
// returns the signed manifest text (to go to dir/kPackageManifestName).
Result<std::string> SignPackageSet(const std::string& dir,
                                   const PackageSetSummary& set,
                                   const pb::RunRecord& run,
                                   std::string parameters,
                                   std::string exported_by, Store* store,
                                   const SigningKey& key, int64_t now_ms);

}  // namespace hl::coordinator
