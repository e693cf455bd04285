// The chain of custody of exports: the chain itself against an independent
// computation, manifest parsing of hostile input, and `verify`'s decision
// for every kind of damage (table-driven).
#include "common/evidence.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/signing.h"

namespace hl::evidence {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line;
  return text;
}

TEST(LineChainTest, MatchesTheDocumentedConstruction) {
  const ChainOrigin origin{"00ff", 7, "format=jsonl", "batch-7.jsonl"};
  EXPECT_EQ(ChainSeed(origin),
            "hostlocator-chain-v1\nexport=00ff\nbatch=7\n"
            "parameters=format=jsonl\nfile=batch-7.jsonl\n");
  const std::string text = "{\"a\":1}\n\n{\"b\":\"\xc3\xa9\"}\n";
  // hi = SHA-256(hex(h(i-1)) || line i with its "\n").
  std::string expected = Sha256Hex(ChainSeed(origin));
  std::vector<std::string> expected_each;
  for (const std::string& line : Lines(text)) {
    expected = Sha256Hex(expected + line);
    expected_each.push_back(expected);
  }
  LineChain whole(ChainSeed(origin));
  std::vector<std::string> each;
  whole.Update(text, [&](uint64_t n, const std::string& hex) {
    EXPECT_EQ(n, each.size() + 1);
    each.push_back(hex);
  });
  EXPECT_EQ(whole.head(), expected);
  EXPECT_EQ(each, expected_each);
  EXPECT_EQ(whole.lines(), 3u);
  EXPECT_EQ(whole.bytes(), text.size());
  EXPECT_FALSE(whole.partial_line());
  EXPECT_EQ(whole.FileSha256(), Sha256Hex(text));

  // Fed a byte at a time: the same chain.
  LineChain bytewise(ChainSeed(origin));
  for (char c : text) bytewise.Update(std::string_view(&c, 1));
  EXPECT_EQ(bytewise.head(), expected);

  LineChain cut(ChainSeed(origin));
  cut.Update("a\nb");
  EXPECT_EQ(cut.lines(), 1u);
  EXPECT_TRUE(cut.partial_line());
}

// A chain whose file is digested elsewhere: the same chain, no file digest.
TEST(LineChainTest, WithoutTheFileDigest) {
  const std::string seed = ChainSeed({"00ff", 7, "by=jurisdiction", "a.csv"});
  const std::string text = "h\nr1\nr2\n";
  LineChain with(seed);
  LineChain without(seed, /*file_digest=*/false);
  with.Update(text);
  without.Update(text);
  EXPECT_EQ(without.head(), with.head());
  EXPECT_EQ(without.lines(), 3u);
  EXPECT_EQ(without.bytes(), text.size());
  EXPECT_EQ(without.FileSha256(), "");
  EXPECT_EQ(with.FileSha256(), Sha256Hex(text));
}

class VerifyTest : public ::testing::Test {
 protected:
  static constexpr char kExport[] =
      "{\"line\":1,\"url\":\"http://a.test/\"}\n"
      "{\"line\":2,\"url\":\"http://b.test/\"}\n"
      "{\"line\":3,\"url\":\"http://c.test/\"}\n"
      "{\"line\":4,\"url\":\"http://d.test/\"}\n"
      "{\"line\":5,\"url\":\"http://e.test/\"}\n";

  void SetUp() override {
    key_ = SigningKey::Generate().value();
    other_ = SigningKey::Generate().value();
    manifest_.export_id = NewExportId();
    manifest_.created_at = "2026-11-29T10:00:00.000Z";
    manifest_.tool_version = "test";
    manifest_.exported_by = "cli:test";
    manifest_.batch_id = 4;
    manifest_.parameters = "format=jsonl";
    manifest_.key_fingerprint = SigningKeyFingerprint(key_.public_raw());
    LineChain chain(
        ChainSeed({manifest_.export_id, 4, "format=jsonl", "batch-4.jsonl"}));
    chain.Update(kExport, [&](uint64_t, const std::string& hex) {
      chain_index_ += hex + "\n";
    });
    ManifestFile& file = manifest_.files.emplace_back();
    file.name = "batch-4.jsonl";
    file.lines = file.records = chain.lines();
    file.bytes = chain.bytes();
    file.chain_head = chain.head();
    file.sha256 = chain.FileSha256();
    signed_ = SignManifest(manifest_, key_).value();
  }

  Result<VerifySummary> Check(const std::string& data,
                              const std::string& manifest, bool with_index,
                              const std::string& public_key) {
    std::istringstream data_in(data);
    std::istringstream index_in(chain_index_);
    return VerifyExport({.data = &data_in,
                         .chain_index = with_index ? &index_in : nullptr,
                         .manifest_text = manifest,
                         .public_key = public_key,
                         .file_name = "export.jsonl"});
  }

  SigningKey key_ = SigningKey::Generate().value();
  SigningKey other_ = SigningKey::Generate().value();
  Manifest manifest_;
  std::string chain_index_;
  std::string signed_;
};

struct Damage {
  const char* name;
  // Changes the export's lines, or the export's text, or the manifest.
  std::function<void(std::vector<std::string>&)> lines;
  std::function<void(std::string&)> text;
  std::function<void(std::string&)> manifest;
  bool with_index = true;
  bool other_key = false;
  const char* message;  // "" : intact
};

TEST_F(VerifyTest, EveryKindOfDamageNamesItsPlace) {
  auto replace = [](std::string from, std::string to) {
    return [from, to](std::string& s) {
      const size_t at = s.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      s.replace(at, from.size(), to);
    };
  };
  const std::vector<Damage> cases = {
      {"intact", {}, {}, {}, true, false, ""},
      {"intact without .chain", {}, {}, {}, false, false, ""},
      {"changed line",
       {},
       replace("c.test", "x.test"),
       {},
       true,
       false,
       "line 3: differs from the signed chain"},
      {"changed last line",
       {},
       replace("e.test", "x.test"),
       {},
       true,
       false,
       "line 5: differs from the signed chain"},
      {"changed line, no .chain",
       {},
       replace("c.test", "x.test"),
       {},
       false,
       false,
       "the first bad line cannot be named"},
      {"removed line",
       [](auto& l) { l.erase(l.begin() + 2); },
       {},
       {},
       true,
       false,
       "line 3: differs from the signed chain"},
      {"removed last line",
       [](auto& l) { l.pop_back(); },
       {},
       {},
       true,
       false,
       "line 5: missing; the file ends after 4 of the 5 signed lines"},
      {"reordered lines",
       [](auto& l) { std::swap(l[1], l[3]); },
       {},
       {},
       true,
       false,
       "line 2: differs from the signed chain"},
      {"inserted line",
       [](auto& l) { l.insert(l.begin() + 1, "{}\n"); },
       {},
       {},
       true,
       false,
       "line 2: differs from the signed chain"},
      {"appended line",
       [](auto& l) { l.push_back("{\"line\":6}\n"); },
       {},
       {},
       true,
       false,
       "line 6: appended after the 5 signed lines"},
      {"appended bytes",
       {},
       [](std::string& s) { s += "{"; },
       {},
       true,
       false,
       "line 6: bytes appended after the 5 signed lines"},
      {"truncated at a line end",
       [](auto& l) { l.resize(2); },
       {},
       {},
       true,
       false,
       "line 3: missing; the file ends after 2 of the 5 signed lines"},
      {"truncated mid-line",
       {},
       [](std::string& s) { s.resize(s.size() - 10); },
       {},
       true,
       false,
       "line 5: cut short (no line end); the file is truncated after 4"},
      {"truncated mid-line, no .chain",
       {},
       [](std::string& s) { s.resize(s.size() - 10); },
       {},
       false,
       false,
       "line 5: cut short"},
      {"empty file",
       {},
       [](std::string& s) { s.clear(); },
       {},
       true,
       false,
       "line 1: missing"},
      {"bad signature",
       {},
       {},
       [](std::string& m) {
         const size_t at = m.rfind(": ") + 2;
         m[at] = m[at] == 'A' ? 'B' : 'A';
       },
       true,
       false,
       "bad signature: the manifest was changed after it was signed"},
      {"changed manifest",
       {},
       {},
       replace("\"lines\": 5", "\"lines\": 4"),
       true,
       false,
       "bad signature"},
      {"wrong public key", {}, {}, {}, true, true, "not the public key given"},
  };
  for (const Damage& c : cases) {
    std::vector<std::string> lines = Lines(kExport);
    if (c.lines) c.lines(lines);
    std::string data = Join(lines);
    if (c.text) c.text(data);
    std::string manifest = signed_;
    if (c.manifest) c.manifest(manifest);
    auto result = Check(data, manifest, c.with_index,
                        c.other_key ? other_.public_raw() : key_.public_raw());
    if (std::string(c.message).empty()) {
      ASSERT_TRUE(result.ok()) << c.name << ": " << result.status().message();
      EXPECT_EQ(result->file.lines, 5u) << c.name;
      EXPECT_THAT(DescribeVerified(*result, "x.jsonl"),
                  HasSubstr("OK x.jsonl: 5 lines (5 records), chain head "))
          << c.name;
      continue;
    }
    ASSERT_FALSE(result.ok()) << c.name;
    EXPECT_EQ(result.status().code(), StatusCode::kDataLoss) << c.name;
    EXPECT_THAT(result.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST_F(VerifyTest, ChoosesTheNamedFileOfASeveralFileManifest) {
  Manifest two = manifest_;
  two.files.push_back(two.files[0]);
  two.files[1].name = "DE/results.jsonl";
  two.files[1].chain_head = std::string(64, '0');
  const std::string text = SignManifest(two, key_).value();
  std::istringstream data(kExport);
  auto wrong = VerifyExport({.data = &data,
                             .manifest_text = text,
                             .public_key = key_.public_raw(),
                             .file_name = "out/DE/results.jsonl"});
  ASSERT_FALSE(wrong.ok());  // the second entry's head does not match
  std::istringstream again(kExport);
  auto right = VerifyExport({.data = &again,
                             .manifest_text = text,
                             .public_key = key_.public_raw(),
                             .file_name = "batch-4.jsonl"});
  EXPECT_TRUE(right.ok()) << right.status().message();
  std::istringstream none(kExport);
  auto missing = VerifyExport({.data = &none,
                               .manifest_text = text,
                               .public_key = key_.public_raw(),
                               .file_name = "other.csv"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no file named other.csv"));
}

TEST_F(VerifyTest, ManifestRoundTrips) {
  auto parsed = ParseManifest(signed_);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->body, ManifestBody(manifest_));
  EXPECT_EQ(parsed->manifest.export_id, manifest_.export_id);
  EXPECT_EQ(parsed->manifest.batch_id, 4u);
  ASSERT_EQ(parsed->manifest.files.size(), 1u);
  EXPECT_EQ(parsed->manifest.files[0].chain_head,
            manifest_.files[0].chain_head);
  EXPECT_TRUE(
      VerifySignature(key_.public_raw(), parsed->body, parsed->signature));
}

// Any text gives a manifest or one message, never a crash: truncated,
// non-JSON, deeply nested, mistyped and out-of-range input.
TEST(ManifestParseTest, RefusesMalformedText) {
  const std::string sig =
      std::string(kSignaturePrefix) + std::string(86, 'A') + "==\n";
  const std::string deep =
      std::string(100000, '[') + std::string(100000, ']') + "\n" + sig;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "does not end with a line end"},
      {"\n", "its last line is not"},
      {"{}\n", "its last line is not"},
      {sig, "its body is not a JSON object"},
      {"{}\n" + std::string(kSignaturePrefix) + "AAAA\n",
       "not 64 bytes of base64"},
      {"{}\n" + std::string(kSignaturePrefix) + std::string(86, 'A') + "=A\n",
       "not 64 bytes of base64"},
      {"{}\n" + std::string(kSignaturePrefix) + std::string(88, '!') + "\n",
       "not 64 bytes of base64"},
      {"{\n" + sig, "its body is not a JSON object"},
      {"[]\n" + sig, "its body is not a JSON object"},
      {deep, "its body is not a JSON object"},
      {"{}\n" + sig, "\"manifest\" must be a string"},
      {R"({"manifest": "v0"})"
       "\n" +
           sig,
       "version \"v0\""},
      {R"({"manifest": "hostlocator-export-manifest-v1", "export_id": 1})"
       "\n" +
           sig,
       "\"export_id\" must be a string"},
      {R"({"manifest": "hostlocator-export-manifest-v1", "export_id": "e",
          "created_at": "t", "tool_version": "v", "exported_by": "b",
          "batch_id": -1})"
       "\n" +
           sig,
       "\"batch_id\" must be a number"},
      {R"({"manifest": "hostlocator-export-manifest-v1", "export_id": "e",
          "created_at": "t", "tool_version": "v", "exported_by": "b",
          "batch_id": 1, "parameters": "p", "chain": "hostlocator-chain-v1",
          "signing_key": {"fingerprint": "ab"}})"
       "\n" +
           sig,
       "\"fingerprint\" must be 64 lower-case hex digits"},
      {R"({"manifest": "hostlocator-export-manifest-v1", "export_id": "e",
          "created_at": "t", "tool_version": "v", "exported_by": "b",
          "batch_id": 1, "parameters": "p", "chain": "hostlocator-chain-v1",
          "signing_key": [], "files": []})"
       "\n" +
           sig,
       "\"signing_key\" must be an object"},
      {R"({"manifest": "hostlocator-export-manifest-v1", "export_id": "e",
          "created_at": "t", "tool_version": "v", "exported_by": "b",
          "batch_id": 1, "parameters": "p", "chain": "hostlocator-chain-v1",
          "signing_key": {"fingerprint": ")" +
           std::string(64, 'a') +
           R"("}, "files": []})"
           "\n" +
           sig,
       "\"files\" must be a list of one or more files"},
      {R"({"manifest": "hostlocator-export-manifest-v1", "export_id": "e",
          "created_at": "t", "tool_version": "v", "exported_by": "b",
          "batch_id": 1, "parameters": "p", "chain": "hostlocator-chain-v1",
          "signing_key": {"fingerprint": ")" +
           std::string(64, 'a') +
           R"("}, "files": [{"name": "f", "lines": 1, "records": 1,
          "bytes": 1, "sha256": ")" +
           std::string(64, 'a') +
           R"(", "chain_head": "ABC"}]})"
           "\n" +
           sig,
       "\"chain_head\" must be 64 lower-case hex digits"},
  };
  for (const auto& [text, message] : cases) {
    auto parsed = ParseManifest(text);
    ASSERT_FALSE(parsed.ok()) << text.substr(0, 80);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(message))
        << text.substr(0, 80);
  }
}

// ------------------------------------------------------------ file sets

TEST(TarTest, RoundTripsAndTarReadsIt) {
  const FileSet files = {{"index.json", "{}\n"},
                         {"DE/DE.csv", "a,b\n1,2\n"},
                         {"DE/DE.csv.chain", std::string(65, 'a')},
                         {"empty", ""},
                         {"big", std::string(1500, 'x')}};
  auto tar = WriteTar(files, 1795824000);
  ASSERT_TRUE(tar.ok()) << tar.status().message();
  EXPECT_EQ(tar->size() % 512, 0u);
  auto back = ReadTar(*tar);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, files);
  // GNU tar reads it: the same names and bytes.
  char dir[] = "/tmp/hl-tar-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string archive = std::string(dir) + "/set.tar";
  std::ofstream(archive, std::ios::binary) << *tar;
  const std::string cmd = "tar -xOf " + archive + " DE/DE.csv";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out(64, '\0');
  out.resize(std::fread(out.data(), 1, out.size(), pipe));
  EXPECT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(out, "a,b\n1,2\n");
  std::filesystem::remove_all(dir);

  auto long_name = WriteTar({{std::string(101, 'n'), ""}}, 0);
  EXPECT_FALSE(long_name.ok());
  EXPECT_FALSE(WriteTar({{"../up", ""}}, 0).ok());
}

TEST(TarTest, RefusesHostileArchives) {
  const std::string good = WriteTar({{"DE/DE.csv", "a\n"}}, 0).value();
  // A header with `name` and `type`, its checksum fixed unless `broken`.
  const auto with = [&](const std::string& name, char type, bool broken) {
    std::string t = good;
    std::fill(t.begin(), t.begin() + 100, '\0');
    name.copy(t.data(), std::min<size_t>(name.size(), 100));
    t[156] = type;
    uint32_t sum = 0;
    for (size_t i = 0; i < 512; ++i) {
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(t[i]);
    }
    std::snprintf(t.data() + 148, 8, "%06o", sum + (broken ? 1 : 0));
    return t;
  };
  struct Case {
    const char* name;
    std::string archive;
    const char* message;
  } cases[] = {
      {"empty", "", "cut short"},
      {"header cut", good.substr(0, 300), "cut short"},
      {"data cut", good.substr(0, 514), "cut in a file"},
      {"no end blocks", good.substr(0, 1024), "cut short"},
      {"bad checksum", with("DE/DE.csv", '0', true), "bad checksum"},
      {"absolute", with("/etc/passwd", '0', false), "not a safe name"},
      {"dot dot", with("DE/../../x", '0', false), "not a safe name"},
      {"space", with("DE/a b", '0', false), "not a safe name"},
      {"empty name", with("", '0', false), "not a safe name"},
      {"symlink", with("DE/link", '2', false), "not a regular file"},
      {"not ustar",
       [&] {
         std::string t = good;
         t[257] = 'x';
         return t;
       }(),
       "bad checksum"},
      {"twice", good.substr(0, 1024) + good, "there twice"},
      {"huge size",
       [&] {
         std::string t = with("DE/DE.csv", '0', false);
         std::memcpy(t.data() + 124, "77777777777", 11);
         uint32_t sum = 0;
         for (size_t i = 0; i < 512; ++i) {
           sum +=
               (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(t[i]);
         }
         std::snprintf(t.data() + 148, 8, "%06o", sum);
         return t;
       }(),
       "runs past the end"},
  };
  for (const Case& c : cases) {
    auto read = ReadTar(c.archive);
    ASSERT_FALSE(read.ok()) << c.name;
    EXPECT_THAT(read.status().message(), HasSubstr(c.message)) << c.name;
  }
  EXPECT_TRUE(ReadTar(good).ok());
}

// A signed set of three files, damaged in each way `verify` must catch.
class VerifyFileSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = {{"index.json", "{\"packages\":1}\n"},
              {"DE/DE.csv",
               "url,country\nhxxp://a,DE\nhxxp://b,DE\n"
               "hxxp://c,DE\n"},
              {"DE/DE.html", "<html>\n<p>DE</p>\n</html>\n"}};
    manifest_.export_id = std::string(32, 'e');
    manifest_.created_at = "2026-11-29T10:00:00.000Z";
    manifest_.tool_version = "test";
    manifest_.exported_by = "test";
    manifest_.batch_id = 2;
    manifest_.parameters = "by=jurisdiction";
    manifest_.key_fingerprint = SigningKeyFingerprint(key_.public_raw());
    for (const auto& [name, data] : files_) {
      LineChain chain(
          ChainSeed({manifest_.export_id, 2, "by=jurisdiction", name}));
      std::string index;
      chain.Update(
          data, [&](uint64_t, const std::string& hex) { index += hex + "\n"; });
      ManifestFile& f = manifest_.files.emplace_back();
      f.name = name;
      f.lines = chain.lines();
      f.bytes = chain.bytes();
      f.chain_head = chain.head();
      f.sha256 = chain.FileSha256();
      chains_[name + std::string(kChainSuffix)] = index;
    }
    signed_ = SignManifest(manifest_, key_).value();
  }

  Result<Manifest> Check(const FileSet& files, const std::string& manifest) {
    return VerifyFileSet(
        manifest, key_.public_raw(),
        [&](const std::string& name) -> std::unique_ptr<std::istream> {
          auto it = files.find(name);
          if (it == files.end()) it = chains_.find(name);
          if (it == chains_.end()) return nullptr;
          return std::make_unique<std::istringstream>(it->second);
        });
  }

  SigningKey key_ = SigningKey::Generate().value();
  FileSet files_;
  FileSet chains_;
  Manifest manifest_;
  std::string signed_;
};

TEST_F(VerifyFileSetTest, EveryTamperOfAPackageFileIsNamed) {
  struct Case {
    const char* name;
    std::function<void(FileSet&)> files;
    std::function<void(std::string&)> manifest;
    const char* message;  // "": intact
  } cases[] = {
      {"intact", nullptr, nullptr, ""},
      {"changed", [](FileSet& f) { f["DE/DE.csv"][20] = 'X'; }, nullptr,
       "DE/DE.csv: line 2: differs from the signed chain"},
      {"removed",
       [](FileSet& f) {
         std::string& t = f["DE/DE.csv"];
         t.erase(t.find("hxxp://b"), 12);
       },
       nullptr, "DE/DE.csv: line 3: differs"},
      {"reordered",
       [](FileSet& f) {
         f["DE/DE.csv"] =
             "url,country\nhxxp://b,DE\nhxxp://a,DE\nhxxp://c,DE\n";
       },
       nullptr, "DE/DE.csv: line 2: differs"},
      {"appended", [](FileSet& f) { f["DE/DE.html"] += "<p>more</p>\n"; },
       nullptr, "DE/DE.html: line 4: appended after the 3 signed lines"},
      {"truncated",
       [](FileSet& f) { f["DE/DE.csv"].resize(f["DE/DE.csv"].size() - 4); },
       nullptr, "DE/DE.csv: line 4: cut short"},
      {"file removed", [](FileSet& f) { f.erase("index.json"); }, nullptr,
       "index.json: missing"},
      {"bad signature", nullptr,
       [](std::string& m) { m[m.find("by=jurisdiction")] = 'B'; },
       "bad signature"},
      {"signature replaced", nullptr,
       [](std::string& m) {
         const size_t at = m.rfind(std::string(kSignaturePrefix));
         char& c = m[at + kSignaturePrefix.size() + 3];
         c = c == 'A' ? 'B' : 'A';
       },
       "bad signature"},
  };
  for (const Case& c : cases) {
    FileSet files = files_;
    std::string manifest = signed_;
    if (c.files) c.files(files);
    if (c.manifest) c.manifest(manifest);
    auto verified = Check(files, manifest);
    if (std::string(c.message).empty()) {
      ASSERT_TRUE(verified.ok()) << c.name << verified.status().message();
      EXPECT_EQ(verified->files.size(), 3u);
      continue;
    }
    ASSERT_FALSE(verified.ok()) << c.name;
    EXPECT_EQ(verified.status().code(), StatusCode::kDataLoss) << c.name;
    EXPECT_THAT(verified.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST(SigningTest, SignsVerifiesAndReadsPemBack) {
  SigningKey key = SigningKey::Generate().value();
  const std::string signature = key.Sign("message").value();
  EXPECT_EQ(signature.size(), 64u);
  EXPECT_TRUE(VerifySignature(key.public_raw(), "message", signature));
  EXPECT_FALSE(VerifySignature(key.public_raw(), "messagE", signature));
  EXPECT_FALSE(VerifySignature("short", "message", signature));
  EXPECT_EQ(ParseSigningPublicKey(key.PublicPem()).value(), key.public_raw());
  EXPECT_FALSE(ParseSigningPublicKey("not pem").ok());
  EXPECT_EQ(SigningKeyFingerprint(key.public_raw()),
            Sha256Hex(key.public_raw()));
  EXPECT_EQ(PublicKeyPathFor("/d/signing.key"), "/d/signing.pub");
  EXPECT_EQ(PublicKeyPathFor("/d/key.pem"), "/d/key.pem.pub");
}

}  // namespace
}  // namespace hl::evidence
