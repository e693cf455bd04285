#include "common/evidence.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>

#include "common/digest.h"
#include "common/utf8.h"

namespace hl::evidence {
namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kHexDigest = 64;

using MdContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up
// again (under a lock) on every EVP_DigestInit_ex, i.e. on every line.
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

MdContext NewSha256() {
  MdContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), Sha256(), nullptr);
  return ctx;
}

std::string FinishHex(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, md, &size);
  return HexLower(std::string_view(reinterpret_cast<const char*>(md), size));
}

// Strict standard base64 with padding; nullopt on anything else.
std::optional<std::string> DecodeBase64(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size() || ++padding > 2) return std::nullopt;
      continue;
    }
    if (padding > 0) return std::nullopt;
    const size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out += static_cast<char>(bits >> 16);
      out += static_cast<char>(bits >> 8);
      out += static_cast<char>(bits);
      bits = 0;
      count = 0;
    }
  }
  if (count == 3) {
    out += static_cast<char>(bits >> 10);
    out += static_cast<char>(bits >> 2);
  } else if (count == 2) {
    out += static_cast<char>(bits >> 4);
  }
  return out;
}

bool IsHex(std::string_view text, size_t size) {
  return text.size() == size &&
         text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Typed reads of a parsed manifest; the first error names the key.
class Reader {
 public:
  bool String(const Json& obj, const char* key, std::string* out) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return Fail(key, "a string");
    *out = it->get<std::string>();
    return true;
  }
  bool Uint(const Json& obj, const char* key, uint64_t* out) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_number_unsigned()) {
      return Fail(key, "a number");
    }
    *out = it->get<uint64_t>();
    return true;
  }
  bool Digest(const Json& obj, const char* key, std::string* out) {
    if (!String(obj, key, out)) return false;
    return IsHex(*out, kHexDigest) || Fail(key, "64 lower-case hex digits");
  }
  bool Fail(std::string_view key, std::string_view what) {
    if (error.empty()) {
      error = "\"" + std::string(key) + "\" must be " + std::string(what);
    }
    return false;
  }
  std::string error;
};

Status Tampered(std::string message) { return DataLoss(std::move(message)); }

}  // namespace

std::string ChainSeed(const ChainOrigin& origin) {
  std::string seed(kChainVersion);
  seed += "\nexport=" + origin.export_id;
  seed += "\nbatch=" + std::to_string(origin.batch_id);
  seed += "\nparameters=" + origin.parameters;
  seed += "\nfile=" + origin.file + "\n";
  return seed;
}

struct LineChain::Contexts {
  MdContext line = NewSha256();
  MdContext file{nullptr, &EVP_MD_CTX_free};  // with file_digest
};

LineChain::LineChain(std::string_view seed, bool file_digest)
    : ctx_(std::make_unique<Contexts>()), head_(Sha256Hex(seed)) {
  if (file_digest) ctx_->file = NewSha256();
}
LineChain::~LineChain() = default;
LineChain::LineChain(LineChain&&) noexcept = default;
LineChain& LineChain::operator=(LineChain&&) noexcept = default;

void LineChain::Update(std::string_view bytes, const LineFn& on_line) {
  if (ctx_->file) {
    EVP_DigestUpdate(ctx_->file.get(), bytes.data(), bytes.size());
  }
  bytes_ += bytes.size();
  while (!bytes.empty()) {
    if (!in_line_) {
      EVP_DigestInit_ex(ctx_->line.get(), Sha256(), nullptr);
      EVP_DigestUpdate(ctx_->line.get(), head_.data(), head_.size());
      in_line_ = true;
    }
    const size_t end = bytes.find('\n');
    const size_t take = end == std::string_view::npos ? bytes.size() : end + 1;
    EVP_DigestUpdate(ctx_->line.get(), bytes.data(), take);
    bytes.remove_prefix(take);
    if (end == std::string_view::npos) break;
    head_ = FinishHex(ctx_->line.get());
    in_line_ = false;
    ++lines_;
    if (on_line) on_line(lines_, head_);
  }
}

std::string LineChain::FileSha256() {
  return ctx_->file ? FinishHex(ctx_->file.get()) : std::string();
}

std::string NewExportId() {
  std::array<unsigned char, 16> id;
  RAND_bytes(id.data(), static_cast<int>(id.size()));
  return HexLower(
      std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

std::string ManifestBody(const Manifest& m) {
  Json files = Json::array();
  for (const ManifestFile& f : m.files) {
    files.push_back({{"name", f.name},
                     {"lines", f.lines},
                     {"records", f.records},
                     {"bytes", f.bytes},
                     {"sha256", f.sha256},
                     {"chain_head", f.chain_head}});
  }
  Json doc = {
      {"manifest", kManifestVersion},
      {"export_id", m.export_id},
      {"created_at", m.created_at},
      {"tool", "hostlocator"},
      {"tool_version", m.tool_version},
      {"exported_by", m.exported_by},
      {"batch_id", m.batch_id},
      {"batch", m.batch},
      {"parameters", m.parameters},
      {"chain", kChainVersion},
      {"signing_key",
       {{"algorithm", "ed25519"}, {"fingerprint", m.key_fingerprint}}},
      {"data_sources", m.data_sources},
      {"files", files},
  };
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Result<std::string> SignManifest(const Manifest& manifest,
                                 const SigningKey& key) {
  std::string text = ManifestBody(manifest);
  auto signature = key.Sign(text);
  if (!signature.ok()) return signature.status();
  text += std::string(kSignaturePrefix) + Base64(*signature) + "\n";
  return text;
}

Result<SignedManifest> ParseManifest(std::string_view text) {
  auto invalid = [](const std::string& why) {
    return InvalidArgument("not a hostlocator export manifest: " + why);
  };
  if (text.empty() || text.back() != '\n') {
    return invalid("it does not end with a line end");
  }
  const size_t last = text.size() >= 2 ? text.rfind('\n', text.size() - 2)
                                       : std::string_view::npos;
  const size_t sig_start = last == std::string_view::npos ? 0 : last + 1;
  std::string_view sig_line =
      text.substr(sig_start, text.size() - 1 - sig_start);
  if (!sig_line.starts_with(kSignaturePrefix)) {
    return invalid("its last line is not \"" + std::string(kSignaturePrefix) +
                   "...\"");
  }
  sig_line.remove_prefix(kSignaturePrefix.size());
  auto signature = DecodeBase64(sig_line);
  if (!signature || signature->size() != 64) {
    return invalid("the signature is not 64 bytes of base64");
  }
  SignedManifest out;
  out.body = std::string(text.substr(0, sig_start));
  out.signature = *std::move(signature);
  const Json doc = Json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return invalid("its body is not a JSON object");
  }
  Reader r;
  Manifest& m = out.manifest;
  std::string version, chain;
  if (!r.String(doc, "manifest", &version)) return invalid(r.error);
  if (version != kManifestVersion) {
    return invalid("version \"" + version + "\" is not \"" +
                   std::string(kManifestVersion) + "\"");
  }
  auto key = doc.find("signing_key");
  auto files = doc.find("files");
  const bool ok =
      r.String(doc, "export_id", &m.export_id) &&
      r.String(doc, "created_at", &m.created_at) &&
      r.String(doc, "tool_version", &m.tool_version) &&
      r.String(doc, "exported_by", &m.exported_by) &&
      r.Uint(doc, "batch_id", &m.batch_id) &&
      r.String(doc, "parameters", &m.parameters) &&
      r.String(doc, "chain", &chain) &&
      ((key != doc.end() && key->is_object()) ||
       r.Fail("signing_key", "an object")) &&
      r.Digest(*key, "fingerprint", &m.key_fingerprint) &&
      ((files != doc.end() && files->is_array() && !files->empty()) ||
       r.Fail("files", "a list of one or more files"));
  if (!ok) return invalid(r.error);
  if (chain != kChainVersion) {
    return invalid("chain \"" + chain + "\" is not \"" +
                   std::string(kChainVersion) + "\"");
  }
  if (auto it = doc.find("batch"); it != doc.end()) m.batch = *it;
  if (auto it = doc.find("data_sources"); it != doc.end()) {
    m.data_sources = *it;
  }
  for (const Json& f : *files) {
    ManifestFile file;
    const bool file_ok = (f.is_object() || r.Fail("files[]", "an object")) &&
                         r.String(f, "name", &file.name) &&
                         r.Uint(f, "lines", &file.lines) &&
                         r.Uint(f, "records", &file.records) &&
                         r.Uint(f, "bytes", &file.bytes) &&
                         r.Digest(f, "sha256", &file.sha256) &&
                         r.Digest(f, "chain_head", &file.chain_head);
    if (!file_ok) return invalid(r.error);
    m.files.push_back(std::move(file));
  }
  return out;
}

Result<VerifySummary> VerifyExport(const VerifyInput& input) {
  auto parsed = ParseManifest(input.manifest_text);
  if (!parsed.ok()) return parsed.status();
  const Manifest& m = parsed->manifest;
  const std::string given = SigningKeyFingerprint(input.public_key);
  if (!VerifySignature(input.public_key, parsed->body, parsed->signature)) {
    if (given != m.key_fingerprint) {
      return Tampered("the manifest names signing key " +
                      m.key_fingerprint.substr(0, 16) +
                      "..., not the public key given (" + given.substr(0, 16) +
                      "...): verify with the public key of the coordinator "
                      "that exported it");
    }
    return Tampered(
        "bad signature: the manifest was changed after it was signed, or "
        "was not signed by this key");
  }
  if (given != m.key_fingerprint) {
    return Tampered("the manifest is signed by this key but names key " +
                    m.key_fingerprint.substr(0, 16) + "...");
  }
  const ManifestFile* file = m.files.size() == 1 ? &m.files[0] : nullptr;
  for (const ManifestFile& f : m.files) {
    if (file == nullptr && (input.file_name == f.name ||
                            input.file_name.ends_with("/" + f.name))) {
      file = &f;
    }
  }
  if (file == nullptr) {
    return InvalidArgument("the manifest lists no file named " +
                           input.file_name);
  }

  LineChain chain(
      ChainSeed({m.export_id, m.batch_id, m.parameters, file->name}));
  uint64_t first_unindexed = 0;  // first line whose .chain value differs
  std::string indexed;
  std::string head_at_count;
  const LineChain::LineFn on_line = [&](uint64_t line, const std::string& hex) {
    if (line == file->lines) head_at_count = hex;
    if (input.chain_index == nullptr || first_unindexed != 0) return;
    if (!std::getline(*input.chain_index, indexed) || indexed != hex) {
      first_unindexed = line;
    }
  };
  if (file->lines == 0) head_at_count = chain.head();
  std::string block(1 << 16, '\0');
  while (*input.data) {
    input.data->read(block.data(), static_cast<std::streamsize>(block.size()));
    chain.Update(std::string_view(block.data(),
                                  static_cast<size_t>(input.data->gcount())),
                 on_line);
  }
  if (input.data->bad()) return Unavailable("reading the export failed");

  const uint64_t n = file->lines;
  const uint64_t seen = chain.lines();
  if (head_at_count == file->chain_head) {
    // The signed lines are all there, intact and in order.
    if (seen > n) {
      return Tampered("line " + std::to_string(n + 1) +
                      ": appended after the " + std::to_string(n) +
                      " signed lines");
    }
    if (chain.partial_line()) {
      return Tampered("line " + std::to_string(n + 1) +
                      ": bytes appended after the " + std::to_string(n) +
                      " signed lines");
    }
    if (chain.FileSha256() != file->sha256) {
      return Tampered("the file's SHA-256 differs from the manifest's");
    }
    return VerifySummary{m, *file};
  }
  const std::string lines_of = " of the " + std::to_string(n) + " signed lines";
  if (first_unindexed != 0 && first_unindexed <= n) {
    return Tampered("line " + std::to_string(first_unindexed) +
                    ": differs from the signed chain (changed, removed, "
                    "inserted or moved)");
  }
  if (seen < n) {
    if (chain.partial_line()) {
      return Tampered("line " + std::to_string(seen + 1) +
                      ": cut short (no line end); the file is truncated "
                      "after " +
                      std::to_string(seen) + lines_of);
    }
    return Tampered("line " + std::to_string(seen + 1) +
                    ": missing; the file ends after " + std::to_string(seen) +
                    lines_of + " (truncated, or lines removed)");
  }
  return Tampered(
      "the lines do not lead to the signed chain head; without an intact " +
      input.file_name + std::string(kChainSuffix) +
      " beside the export the first bad line cannot be named");
}

std::string DescribeVerified(const VerifySummary& s, std::string_view file) {
  return "OK " + std::string(file) + ": " + std::to_string(s.file.lines) +
         " lines (" + std::to_string(s.file.records) +
         " records), chain head " + s.file.chain_head.substr(0, 16) +
         "..., batch " + std::to_string(s.manifest.batch_id) + ", export " +
         s.manifest.export_id + ", signed " + s.manifest.created_at +
         " by key " + s.manifest.key_fingerprint.substr(0, 16) + "...";
}

namespace {

constexpr size_t kTarBlock = 512;
constexpr size_t kTarName = 100;
constexpr size_t kTarSizeAt = 124;
constexpr size_t kTarChecksumAt = 148;
constexpr size_t kTarTypeAt = 156;
constexpr size_t kTarMagicAt = 257;
constexpr size_t kTarPrefixAt = 345;
constexpr size_t kTarPrefix = 155;

// The header checksum: every byte, the checksum field counted as spaces.
uint32_t TarChecksum(std::string_view header) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i) {
    const bool field = i >= kTarChecksumAt && i < kTarChecksumAt + 8;
    sum += field ? ' ' : static_cast<unsigned char>(header[i]);
  }
  return sum;
}

void PutOctal(uint64_t value, size_t at, size_t width, std::string* header) {
  // width - 1 digits and a NUL.
  std::snprintf(header->data() + at, width, "%0*llo",
                static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
}

// An octal field: optional leading spaces, digits, then NULs or spaces.
std::optional<uint64_t> GetOctal(std::string_view field) {
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  uint64_t value = 0;
  size_t digits = 0;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (++digits > 21) return std::nullopt;
    value = value * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  for (; i < field.size(); ++i) {
    if (field[i] != '\0' && field[i] != ' ') return std::nullopt;
  }
  return value;
}

std::string_view CField(std::string_view field) {
  return field.substr(0, std::min(field.find('\0'), field.size()));
}

bool SafeName(std::string_view name) {
  if (name.empty() || name.front() == '/' ||
      name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                             "vwxyz0123456789._/-") != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

Result<std::string> WriteTar(const FileSet& files, int64_t mtime_s) {
  std::string out;
  for (const auto& [name, data] : files) {
    if (name.size() > kTarName || !SafeName(name)) {
      return InvalidArgument("\"" + name + "\" cannot be an archive name");
    }
    std::string header(kTarBlock, '\0');
    name.copy(header.data(), name.size());
    PutOctal(0644, 100, 8, &header);
    PutOctal(0, 108, 8, &header);
    PutOctal(0, 116, 8, &header);
    PutOctal(data.size(), kTarSizeAt, 12, &header);
    PutOctal(static_cast<uint64_t>(std::max<int64_t>(mtime_s, 0)), 136, 12,
             &header);
    header[kTarTypeAt] = '0';
    std::string_view(
        "ustar\0"
        "00",
        8)
        .copy(header.data() + kTarMagicAt, 8);
    PutOctal(TarChecksum(header), kTarChecksumAt, 7, &header);
    header[kTarChecksumAt + 7] = ' ';
    out += header;
    out += data;
    out.append((kTarBlock - data.size() % kTarBlock) % kTarBlock, '\0');
  }
  out.append(2 * kTarBlock, '\0');
  return out;
}

Result<FileSet> ReadTar(std::string_view archive) {
  auto invalid = [](const std::string& why) {
    return InvalidArgument("not a package archive: " + why);
  };
  FileSet files;
  size_t at = 0;
  while (true) {
    if (archive.size() - at < kTarBlock) {
      return invalid("it ends without its end blocks (cut short)");
    }
    const std::string_view header = archive.substr(at, kTarBlock);
    if (header.find_first_not_of('\0') == std::string_view::npos) break;
    const auto checksum = GetOctal(header.substr(kTarChecksumAt, 8));
    if (!checksum || *checksum != TarChecksum(header)) {
      return invalid("a header at byte " + std::to_string(at) +
                     " has a bad checksum");
    }
    if (!header.substr(kTarMagicAt).starts_with("ustar")) {
      return invalid("a header at byte " + std::to_string(at) +
                     " is not ustar");
    }
    std::string name(CField(header.substr(0, kTarName)));
    const std::string_view prefix =
        CField(header.substr(kTarPrefixAt, kTarPrefix));
    if (!prefix.empty()) name = std::string(prefix) + "/" + name;
    const auto size = GetOctal(header.substr(kTarSizeAt, 12));
    if (!size)
      return invalid("a header at byte " + std::to_string(at) + " has no size");
    at += kTarBlock;
    if (*size > archive.size() - at) {
      return invalid("\"" + ToValidUtf8(name) + "\" runs past the end");
    }
    const char type = header[kTarTypeAt];
    const bool directory = type == '5';
    if (type != '0' && type != '\0' && !directory) {
      return invalid("\"" + ToValidUtf8(name) + "\" is not a regular file");
    }
    if (directory && !name.empty() && name.back() == '/') name.pop_back();
    if (!SafeName(name)) {
      return invalid("\"" + ToValidUtf8(name) + "\" is not a safe name");
    }
    if (!directory &&
        !files.emplace(name, std::string(archive.substr(at, *size))).second) {
      return invalid("\"" + name + "\" is there twice");
    }
    at += *size + (kTarBlock - *size % kTarBlock) % kTarBlock;
    if (at > archive.size()) return invalid("it is cut in a file");
  }
  return files;
}

Result<Manifest> VerifyFileSet(std::string_view manifest_text,
                               std::string_view public_key,
                               const FileOpener& open) {
  auto parsed = ParseManifest(manifest_text);
  if (!parsed.ok()) return parsed.status();
  for (const ManifestFile& f : parsed->manifest.files) {
    std::unique_ptr<std::istream> data = open(f.name);
    if (data == nullptr) {
      return Tampered(f.name + ": missing (the manifest lists it)");
    }
    std::unique_ptr<std::istream> chain =
        open(f.name + std::string(kChainSuffix));
    auto verified = VerifyExport({.data = data.get(),
                                  .chain_index = chain.get(),
                                  .manifest_text = manifest_text,
                                  .public_key = public_key,
                                  .file_name = f.name});
    if (!verified.ok()) {
      return Status(verified.status().code(),
                    f.name + ": " + verified.status().message());
    }
  }
  return std::move(parsed->manifest);
}

}  // namespace hl::evidence
