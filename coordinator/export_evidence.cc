#include "coordinator/export_evidence.h"

#include <filesystem>
#include <fstream>

#include "common/digest.h"
#include "common/record_json.h"
#include "common/version.h"

namespace hl::coordinator {

std::string ExportParameters(ExportFormat format) {
  return format == ExportFormat::kCsv ? "format=csv" : "format=jsonl";
}

std::string ExportFileName(uint64_t batch_id, ExportFormat format) {
  return "batch-" + std::to_string(batch_id) +
         (format == ExportFormat::kCsv ? ".csv" : ".jsonl");
}

std::string DefaultSigningKeyPath(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "signing.key").string();
}

ExportEvidence::ExportEvidence(const pb::RunRecord& run, std::string parameters,
                               std::string exported_by, int64_t now_ms) {
  manifest_.export_id = evidence::NewExportId();
  manifest_.created_at = FormatRfc3339Ms(now_ms);
  manifest_.tool_version = std::string(hl::ToolVersion());
  manifest_.exported_by = std::move(exported_by);
  manifest_.batch_id = run.run_id();
  manifest_.batch = {
      {"submitter", run.submitter()},
      {"case_reference", run.case_reference()},
      {"submitted_at", FormatRfc3339Ms(run.started_unix_ms())},
      {"source", run.source()},
  };
  manifest_.parameters = std::move(parameters);
}

Status ExportEvidence::AddFile(const std::string& name, uint64_t header_lines) {
  if (chain_) HL_RETURN_IF_ERROR(CloseFile());
  manifest_.files.emplace_back().name = name;
  chain_.emplace(evidence::ChainSeed(
      {manifest_.export_id, manifest_.batch_id, manifest_.parameters, name}));
  header_lines_ = header_lines;
  return Status::Ok();
}

void ExportEvidence::Update(std::string_view bytes,
                            const evidence::LineChain::LineFn& on_line) {
  chain_->Update(bytes, on_line);
}

Status ExportEvidence::CloseFile() {
  evidence::ManifestFile& file = manifest_.files.back();
  if (chain_->partial_line()) {
    return FailedPrecondition(file.name + " ends in a cut line");
  }
  file.lines = chain_->lines();
  file.records = file.lines > header_lines_ ? file.lines - header_lines_ : 0;
  file.bytes = chain_->bytes();
  file.sha256 = chain_->FileSha256();
  file.chain_head = chain_->head();
  chain_.reset();
  return Status::Ok();
}

Result<std::string> ExportEvidence::Finish(Store* store, const SigningKey& key,
                                           int64_t now_ms) {
  if (chain_) HL_RETURN_IF_ERROR(CloseFile());
  for (const auto& [id, source] : sources_) {
    manifest_.data_sources.push_back(DataSourceToJson(source));
  }
  manifest_.key_fingerprint = SigningKeyFingerprint(key.public_raw());
  auto text = evidence::SignManifest(manifest_, key);
  if (!text.ok()) return text.status();
  std::string detail = "batch " + std::to_string(manifest_.batch_id) + " " +
                       manifest_.parameters + " export " + manifest_.export_id;
  for (const evidence::ManifestFile& f : manifest_.files) {
    detail += " file " + f.name + " lines " + std::to_string(f.lines) +
              " chain_head " + f.chain_head;
  }
  detail += " manifest_sha256 " + Sha256Hex(*text) + " key " +
            manifest_.key_fingerprint.substr(0, 16);
  auto audited = store->AppendAudit(manifest_.exported_by, "export-signed",
                                    detail, now_ms);
  if (!audited.ok()) return audited.status();
  return text;
}

Result<std::string> SignPackageSet(const std::string& dir,
                                   const PackageSetSummary& set,
                                   const pb::RunRecord& run,
                                   std::string parameters,
                                   std::string exported_by, Store* store,
                                   const SigningKey& key, int64_t now_ms) {
  ExportEvidence evidence(run, std::move(parameters), std::move(exported_by),
                          now_ms);
  std::vector<const PackageFile*> files;
  for (const PackageFile& f : set.index_files) files.push_back(&f);
  for (const PackageSummary& p : set.packages) {
    for (const PackageFile& f : p.files) files.push_back(&f);
  }
  std::string block(1 << 20, '\0');
  for (const PackageFile* f : files) {
    const bool csv = f->path.ends_with(".csv");
    HL_RETURN_IF_ERROR(evidence.AddFile(f->path, csv ? 1 : UINT64_MAX));
    const std::string path = (std::filesystem::path(dir) / f->path).string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return Unavailable("cannot read " + path + " to sign it");
    while (in) {
      in.read(block.data(), static_cast<std::streamsize>(block.size()));
      evidence.Update(std::string_view(block.data(), in.gcount()));
    }
    if (in.bad()) return Unavailable("reading " + path + " failed");
  }
  return evidence.Finish(store, key, now_ms);
}

}  // namespace hl::coordinator
