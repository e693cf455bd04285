// Chain of custody for exported files (docs/evidence.md has the exact
// construction and a recipe to re-verify with standard tools).
//
// Every exported file is hash-chained line by line:
//   h0 = SHA-256(ChainSeed(export id, batch id, export parameters, file))
//   hi = SHA-256(hex(h(i-1)) || bytes of line i, its "\n" included)
// (hex: 64 lower-case digits). The chain value of the last line is the
// file's chain head. A manifest lists one or more files with their line
// count, byte count, SHA-256 and chain head, with the batch, the export
// parameters, the time, the tool version, the data-source versions and the
// signing key's fingerprint; it is signed with Ed25519 (common/signing.h).
// Beside each file FILE, FILE.chain holds hi on line i: it is not signed
// and only lets `verify` name the first line that differs.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/signing.h"
#include "common/status.h"

namespace hl::evidence {

inline constexpr std::string_view kChainVersion = "hostlocator-chain-v1";
inline constexpr std::string_view kManifestVersion =
    "hostlocator-export-manifest-v1";
// The manifest's last line: this prefix, the base64 signature, "\n". The
// signature covers every byte before that line.
inline constexpr std::string_view kSignaturePrefix = "ed25519-signature: ";
// File names beside an export FILE: FILE + suffix.
inline constexpr std::string_view kManifestSuffix = ".manifest";
inline constexpr std::string_view kChainSuffix = ".chain";

// What h0 binds a chain to.
struct ChainOrigin {
  std::string export_id;
  uint64_t batch_id = 0;
  std::string parameters;  // e.g. "format=jsonl"
  std::string file;        // the file's name in the manifest
};

// The exact bytes whose SHA-256 is h0:
// "hostlocator-chain-v1\nexport=ID\nbatch=N\nparameters=P\nfile=NAME\n".
std::string ChainSeed(const ChainOrigin& origin);

// The chain of one file, fed its bytes in pieces of any size (a streaming
// writer: memory does not grow with the file).
class LineChain {
 public:
  // Without `file_digest` the file's SHA-256 is not computed (for a writer
  // that digests the file on its own) and FileSha256 is "".
  explicit LineChain(std::string_view seed, bool file_digest = true);
  ~LineChain();
  LineChain(LineChain&&) noexcept;
  LineChain& operator=(LineChain&&) noexcept;

  // Called with the 1-based number and the chain value (hex) of each line
  // completed by a call to Update.
  using LineFn = std::function<void(uint64_t line, const std::string& hex)>;
  void Update(std::string_view bytes, const LineFn& on_line = nullptr);

  uint64_t lines() const { return lines_; }
  uint64_t bytes() const { return bytes_; }
  // The chain value of the last complete line (h0 before the first).
  const std::string& head() const { return head_; }
  // Bytes after the last "\n" (a cut line).
  bool partial_line() const { return in_line_; }
  // SHA-256 (hex) of every byte given; ends the chain's file digest, so
  // call it once, after the last Update. "" without file_digest.
  std::string FileSha256();

 private:
  struct Contexts;
  std::unique_ptr<Contexts> ctx_;
  std::string head_;
  uint64_t lines_ = 0;
  uint64_t bytes_ = 0;
  bool in_line_ = false;
};

struct ManifestFile {
  std::string name;
  uint64_t lines = 0;    // chained lines (a CSV header is line 1)
  uint64_t records = 0;  // result records among them
  uint64_t bytes = 0;
  std::string sha256;
  std::string chain_head;
};

struct Manifest {
  std::string export_id;   // 32 hex digits, fresh for each export
  std::string created_at;  // RFC 3339 UTC
  std::string tool_version;
  std::string exported_by;  // API token name, or "cli" and the local user
  uint64_t batch_id = 0;
  // Batch facts as stored: submitter, case reference, submission time.
  nlohmann::ordered_json batch = nlohmann::ordered_json::object();
  std::string parameters;
  // The data-source versions the exported records cite (role, type, build
  // date, path, SHA-256), each once.
  nlohmann::ordered_json data_sources = nlohmann::ordered_json::array();
  std::string key_fingerprint;  // SigningKeyFingerprint of the signer
  std::vector<ManifestFile> files;
};

// A fresh export id (128 random bits as hex).
std::string NewExportId();

// The signed part: the manifest as indented JSON and "\n".
std::string ManifestBody(const Manifest& manifest);
// ManifestBody, then the signature line (kSignaturePrefix).
Result<std::string> SignManifest(const Manifest& manifest,
                                 const SigningKey& key);

struct SignedManifest {
  Manifest manifest;
  std::string body;       // the signed bytes
  std::string signature;  // 64 bytes
};
// Parses a manifest file. Never trusts its input: any text gives a
// manifest or kInvalidArgument saying what is wrong; it checks the form
// only, not the signature.
Result<SignedManifest> ParseManifest(std::string_view text);

struct VerifyInput {
  std::istream* data = nullptr;         // the exported file
  std::istream* chain_index = nullptr;  // its .chain file; may be null
  std::string_view manifest_text;
  std::string_view public_key;  // raw 32 bytes
  // Chooses the manifest entry when it lists several files (by name, or
  // by the end of a path: "DE/results.csv"); a one-file manifest's entry
  // is used whatever the name.
  std::string file_name;
};
struct VerifySummary {
  Manifest manifest;
  ManifestFile file;
};
// Checks the signature, then every line against the signed chain.
// kDataLoss with one message naming the first bad line (or the bad
// signature, the other key, the cut end) when the export is not intact;
// kInvalidArgument when the manifest cannot be read.
Result<VerifySummary> VerifyExport(const VerifyInput& input);

// "OK FILE: N lines (R records), chain head H..., batch B, export E,
// signed AT by key F...": the one-line summary `verify` prints.
std::string DescribeVerified(const VerifySummary& summary,
                             std::string_view file);

// ------------------------------------------------------------- file sets

// The files of a set (a referral package set) by their path under the
// set's folder.
using FileSet = std::map<std::string, std::string>;

// The set as a POSIX ustar archive (`tar x` unpacks it): every file a
// regular file, mode 0644, modified at `mtime_s`, in name order. Names are
// at most 100 bytes (package paths are far shorter); a longer one is
// kInvalidArgument.
Result<std::string> WriteTar(const FileSet& files, int64_t mtime_s);
// The regular files of a ustar archive (directory entries are skipped).
// Never trusts its input: kInvalidArgument naming what is wrong for a cut
// or malformed header, a bad checksum, a size past the end, another entry
// type, a duplicate, or a name that is empty, absolute, has a ".." part or
// characters outside [A-Za-z0-9._/-].
Result<FileSet> ReadTar(std::string_view archive);

// Opens file `name` of a set; null when the set has no such file.
using FileOpener =
    std::function<std::unique_ptr<std::istream>(const std::string& name)>;
// Checks every file a manifest lists (VerifyExport, with NAME.chain when
// `open` finds one): the first failure is kDataLoss naming the file and
// what is wrong (a listed file that is missing included), or the
// manifest's kInvalidArgument. Returns the manifest.
Result<Manifest> VerifyFileSet(std::string_view manifest_text,
                               std::string_view public_key,
                               const FileOpener& open);

}  // namespace hl::evidence
