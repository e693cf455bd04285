#include "coordinator/export_evidence.h"

#include <stdlib.h>

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
  file_name_ = name;
  chain_.emplace(ChainFor(name));
  header_lines_ = header_lines;
  return Status::Ok();
}

void ExportEvidence::Update(std::string_view bytes,
                            const evidence::LineChain::LineFn& on_line) {
  chain_->Update(bytes, on_line);
}

evidence::LineChain ExportEvidence::ChainFor(const std::string& name,
                                             bool file_digest) const {
  return evidence::LineChain(
      evidence::ChainSeed({manifest_.export_id, manifest_.batch_id,
                           manifest_.parameters, name}),
      file_digest);
}

Status ExportEvidence::ListFile(const std::string& name,
                                const evidence::LineChain& chain,
                                uint64_t records, std::string sha256) {
  if (chain.partial_line()) {
    return FailedPrecondition(name + " ends in a cut line");
  }
  evidence::ManifestFile& file = manifest_.files.emplace_back();
  file.name = name;
  file.lines = chain.lines();
  file.records = records;
  file.bytes = chain.bytes();
  file.sha256 = std::move(sha256);
  file.chain_head = chain.head();
  return Status::Ok();
}

Status ExportEvidence::CloseFile() {
  const uint64_t lines = chain_->lines();
  Status s = ListFile(file_name_, *chain_,
                      lines > header_lines_ ? lines - header_lines_ : 0,
                      chain_->FileSha256());
  chain_.reset();
  return s;
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

Result<std::string> WritePackageManifest(const std::string& dir,
                                         std::string_view text) {
  const std::string path =
      (std::filesystem::path(dir) / kPackageManifestName).string();
  std::ofstream out(path, std::ios::out | std::ios::trunc | std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return Unavailable("cannot write " + path);
  return path;
}

std::string PackageParameters(std::string_view from, std::string_view to,
                              const std::vector<std::string>& countries,
                              const std::vector<std::string>& statuses) {
  std::string out = "by=jurisdiction";
  const auto add = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    out += ' ';
    out += name;
    out += '=';
    out += value;
  };
  add("from", from);
  add("to", to);
  for (const auto& c : countries) add("country", c);
  for (const auto& st : statuses) add("status", st);
  return out;
}

// Chains one package file on its way to `inner`, its chain values (when
// kept) to `chain_out` as FILE.chain.
class PackageSetEvidence::ChainingSink : public PackageFileSink {
 public:
  ChainingSink(PackageSetEvidence* owner, std::string path,
               std::unique_ptr<PackageFileSink> inner,
               std::unique_ptr<PackageFileSink> chain_out)
      : owner_(owner),
        path_(std::move(path)),
        inner_(std::move(inner)),
        chain_out_(std::move(chain_out)),
        chain_(owner->evidence_->ChainFor(path_, /*file_digest=*/false)) {}

  Status Write(std::string_view bytes, bool record) override {
    HL_RETURN_IF_ERROR(inner_->Write(bytes, record));
    records_ += record ? 1 : 0;
    if (!chain_out_) {
      chain_.Update(bytes);
      return Status::Ok();
    }
    chain_.Update(bytes, [this](uint64_t, const std::string& hex) {
      chain_text_ += hex;
      chain_text_ += '\n';
    });
    return chain_text_.size() >= kChainBlock ? FlushChain() : Status::Ok();
  }

  Result<PackageFile> Finish() override {
    auto file = inner_->Finish();
    if (!file.ok()) return file.status();
    if (chain_out_) {
      HL_RETURN_IF_ERROR(FlushChain());
      auto chain_file = chain_out_->Finish();
      if (!chain_file.ok()) return chain_file.status();
    }
    HL_RETURN_IF_ERROR(
        owner_->evidence_->ListFile(path_, chain_, records_, file->sha256));
    --owner_->open_files_;
    return file;
  }

 private:
  static constexpr size_t kChainBlock = 1 << 16;

  Status FlushChain() {
    Status s = chain_out_->Write(chain_text_, false);
    chain_text_.clear();
    return s;
  }

  PackageSetEvidence* owner_;
  std::string path_;
  std::unique_ptr<PackageFileSink> inner_;
  std::unique_ptr<PackageFileSink> chain_out_;
  evidence::LineChain chain_;
  std::string chain_text_;
  uint64_t records_ = 0;
};

PackageSetEvidence::PackageSetEvidence(const pb::RunRecord& run,
                                       std::string parameters,
                                       std::string exported_by, int64_t now_ms,
                                       bool chain_files)
    : evidence_(std::make_unique<ExportEvidence>(
          run, std::move(parameters), std::move(exported_by), now_ms)),
      chain_files_(chain_files) {}

PackageSetEvidence::~PackageSetEvidence() = default;

const std::string& PackageSetEvidence::export_id() const {
  return evidence_->export_id();
}

PackageSinkFactory PackageSetEvidence::Wrap(PackageSinkFactory inner) {
  return
      [this, inner = std::move(inner)](
          const std::string& dir,
          const std::string& path) -> Result<std::unique_ptr<PackageFileSink>> {
        auto sink = inner(dir, path);
        if (!sink.ok()) return sink.status();
        std::unique_ptr<PackageFileSink> chain_out;
        if (chain_files_) {
          auto made = inner(dir, path + std::string(evidence::kChainSuffix));
          if (!made.ok()) return made.status();
          chain_out = std::move(made).value();
        }
        ++open_files_;
        return std::unique_ptr<PackageFileSink>(new ChainingSink(
            this, path, std::move(sink).value(), std::move(chain_out)));
      };
}

Result<std::string> PackageSetEvidence::Finish(const PackageSetSummary& set,
                                               Store* store,
                                               const SigningKey& key,
                                               int64_t now_ms) {
  if (open_files_ != 0) {
    return FailedPrecondition("a referral package file is still open");
  }
  for (const auto& [id, source] : set.data_sources) {
    evidence_->sources()->try_emplace(id, source);
  }
  return evidence_->Finish(store, key, now_ms);
}

Result<SignedPackageSet> SignedReferralPackages(
    Store* store, const pb::RunRecord& run, PackageOptions options,
    std::string parameters, std::string exported_by, const SigningKey& key,
    int64_t now_ms, const std::function<bool(const std::string&)>& keep) {
  char work[] = "/tmp/hostlocator-package-XXXXXX";
  if (::mkdtemp(work) == nullptr) {
    return Unavailable("cannot create a temporary folder in /tmp");
  }
  SignedPackageSet out;
  PackageSetEvidence evidence(run, std::move(parameters),
                              std::move(exported_by), now_ms,
                              /*chain_files=*/true);
  out.export_id = evidence.export_id();
  options.replace = true;
  options.sink_factory =
      evidence.Wrap(MakeMemoryPackageSinks(&out.files, keep));
  auto written = WriteReferralPackages(*store, run, work, std::move(options));
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  if (!written.ok()) return written.status();
  auto manifest = evidence.Finish(*written, store, key, now_ms);
  if (!manifest.ok()) return manifest.status();
  out.files[kPackageManifestName] = *std::move(manifest);
  out.summary = *std::move(written);
  return out;
}

}  // namespace hl::coordinator
