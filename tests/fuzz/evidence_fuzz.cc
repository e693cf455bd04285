// libFuzzer target for the parsers `hostlocator verify` and `export --by
// jurisdiction --server` run on files they did not write. The first byte
// chooses the parser, the rest is its input:
//   0: ParseManifest (any text: a manifest or kInvalidArgument);
//   1: VerifyExport of a file against a fixed, validly signed manifest: the
//      input is the file, a NUL, then its .chain values;
//   2: ReadTar; an archive it accepts is written again by WriteTar and
//      must read back to the same files;
//   3: ReadTar, then VerifyFileSet of its packages.manifest over its files.
// Invariants: no crash, no ASan/UBSan report; every refusal carries a
// message; a verified file's summary is the signed entry.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "common/evidence.h"
#include "common/signing.h"

namespace {

using namespace hl::evidence;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

constexpr std::string_view kFile = "url,country\nhxxp://a,DE\nhxxp://b,DE\n";

// A key, and a manifest it signs listing kFile as "DE/DE.csv".
struct Signed {
  hl::SigningKey key = hl::SigningKey::Generate().value();
  std::string manifest;
  Signed() {
    Manifest m;
    m.export_id = std::string(32, '0');
    m.created_at = "2026-11-29T00:00:00.000Z";
    m.tool_version = "fuzz";
    m.exported_by = "fuzz";
    m.batch_id = 1;
    m.parameters = "by=jurisdiction";
    m.key_fingerprint = hl::SigningKeyFingerprint(key.public_raw());
    LineChain chain(ChainSeed({m.export_id, 1, m.parameters, "DE/DE.csv"}));
    chain.Update(kFile);
    ManifestFile& f = m.files.emplace_back();
    f.name = "DE/DE.csv";
    f.lines = chain.lines();
    f.records = 2;
    f.bytes = chain.bytes();
    f.chain_head = chain.head();
    f.sha256 = chain.FileSha256();
    manifest = SignManifest(m, key).value();
  }
};

const Signed& Fixed() {
  static const Signed* fixed = new Signed();
  return *fixed;
}

void CheckStatus(const hl::Status& s) {
  if (s.ok()) Fail("a refusal is OK");
  if (s.message().empty()) Fail("a refusal without a message");
}

void FuzzManifest(std::string_view input) {
  auto parsed = ParseManifest(input);
  if (!parsed.ok()) return CheckStatus(parsed.status());
  if (parsed->manifest.files.empty()) Fail("a manifest without files");
  if (parsed->signature.size() != 64) Fail("a signature not 64 bytes");
}

void FuzzVerify(std::string_view input) {
  const size_t nul = input.find('\0');
  std::istringstream data(std::string(input.substr(0, nul)));
  std::istringstream chain(nul == std::string_view::npos
                               ? std::string()
                               : std::string(input.substr(nul + 1)));
  const Signed& fixed = Fixed();
  auto verified = VerifyExport(
      {.data = &data,
       .chain_index = nul == std::string_view::npos ? nullptr : &chain,
       .manifest_text = fixed.manifest,
       .public_key = fixed.key.public_raw(),
       .file_name = "DE/DE.csv"});
  if (!verified.ok()) return CheckStatus(verified.status());
  if (input.substr(0, nul) != kFile) Fail("another file verified");
}

void FuzzTar(std::string_view input, bool verify) {
  auto files = ReadTar(input);
  if (!files.ok()) return CheckStatus(files.status());
  if (!verify) {
    auto again = WriteTar(*files, 0);
    if (!again.ok()) Fail("an archive read cannot be written");
    auto back = ReadTar(*again);
    if (!back.ok() || *back != *files) Fail("the archive does not round-trip");
    return;
  }
  auto manifest = files->find("packages.manifest");
  if (manifest == files->end()) return;
  auto verified = VerifyFileSet(
      manifest->second, Fixed().key.public_raw(),
      [&](const std::string& name) -> std::unique_ptr<std::istream> {
        auto it = files->find(name);
        if (it == files->end()) return nullptr;
        return std::make_unique<std::istringstream>(it->second);
      });
  if (!verified.ok()) CheckStatus(verified.status());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzManifest(input);
      break;
    case 1:
      FuzzVerify(input);
      break;
    case 2:
      FuzzTar(input, /*verify=*/false);
      break;
    default:
      FuzzTar(input, /*verify=*/true);
      break;
  }
  return 0;
}
