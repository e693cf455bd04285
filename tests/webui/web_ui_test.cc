// The web UI's embedded files (web/embed.cmake, web/web_assets.h) and how
// the coordinator serves them (coordinator/web_ui.h): every file with its
// type and digest, the security headers on every answer, ETag
// revalidation, 404 for a missing file, the `/` redirect; then over HTTP
// on an ApiServer: the UI needs no token while /api/v1 still does.
#include "coordinator/web_ui.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "coordinator/api.h"
#include "coordinator/tokens.h"
#include "web/web_assets.h"

namespace hl::coordinator {
namespace {

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::map<std::string, std::string> Headers(const WebUiAnswer& answer) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : answer.headers) out[name] = value;
  return out;
}

const web::WebAsset& Asset(std::string_view name) {
  for (const auto& asset : web::WebAssets()) {
    if (asset.name == name) return asset;
  }
  ADD_FAILURE() << "no embedded " << name;
  static const web::WebAsset kNone{};
  return kNone;
}

void ExpectSecurityHeaders(const std::map<std::string, std::string>& h) {
  ASSERT_TRUE(h.contains("Content-Security-Policy"));
  EXPECT_EQ(h.at("Content-Security-Policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'");
  EXPECT_EQ(h.at("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(h.at("Referrer-Policy"), "no-referrer");
}

TEST(WebAssets, EveryFileHasItsTypeAndDigest) {
  const std::map<std::string, std::string> types = {
      {"html", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"svg", "image/svg+xml"}};
  std::vector<std::string> names;
  for (const auto& asset : web::WebAssets()) {
    const std::string name(asset.name);
    names.push_back(name);
    SCOPED_TRACE(name);
    EXPECT_FALSE(asset.body.empty());
    EXPECT_EQ(asset.content_type, types.at(name.substr(name.rfind('.') + 1)));
    EXPECT_EQ(asset.sha256, Sha256Hex(asset.body));
    // Byte for byte the file of web/.
    const auto path = std::filesystem::path(HL_SOURCE_DIR) / "web" / name;
    std::ifstream in(path, std::ios::binary);
    const std::string on_disk((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(asset.body, on_disk);
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* needed : {"index.html", "app.css", "app.js"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), needed), names.end())
        << needed;
  }
}

// Nothing from elsewhere and no inline code: the only absolute URL in any
// file is the SVG namespace (a name, never fetched); no inline script,
// style attribute, event attribute, innerHTML or eval.
TEST(WebAssets, NoExternalReferencesAndNoInlineCode) {
  const std::regex absolute(R"((https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,})");
  for (const auto& asset : web::WebAssets()) {
    SCOPED_TRACE(std::string(asset.name));
    const std::string body(asset.body);
    for (auto it = std::sregex_iterator(body.begin(), body.end(), absolute);
         it != std::sregex_iterator(); ++it) {
      EXPECT_EQ(it->str(), "http://www.w3.org") << "external reference";
    }
    for (const char* forbidden :
         {"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(",
          "new Function", "document.write", "localStorage", "document.cookie",
          "style=", " onclick=", " onload=", "@import", "url("}) {
      EXPECT_EQ(body.find(forbidden), std::string::npos) << forbidden;
    }
  }
  const std::string index(Asset("index.html").body);
  EXPECT_EQ(index.find("<script>"), std::string::npos);
  EXPECT_EQ(index.find("<style"), std::string::npos);
  EXPECT_NE(index.find(R"(<script type="module" src="app.js"></script>)"),
            std::string::npos);
}

TEST(WebUi, ServesFilesWithHeadersAndEtag) {
  const WebUiAnswer index = ServeWebUi("/ui/", "");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index.body, Asset("index.html").body);
  auto h = Headers(index);
  ExpectSecurityHeaders(h);
  EXPECT_EQ(h.at("Cache-Control"), "no-cache");
  const std::string etag =
      "\"" + std::string(Asset("index.html").sha256) + "\"";
  EXPECT_EQ(h.at("ETag"), etag);
  EXPECT_EQ(ServeWebUi("/ui/index.html", "").body, index.body);

  const WebUiAnswer js = ServeWebUi("/ui/app.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, Asset("app.js").body);

  for (const std::string& tag :
       {etag, "\"other\", " + etag, "W/" + etag, std::string("*")}) {
    SCOPED_TRACE(tag);
    const WebUiAnswer cached = ServeWebUi("/ui/", tag);
    EXPECT_EQ(cached.status, 304);
    EXPECT_TRUE(cached.body.empty());
    EXPECT_EQ(Headers(cached).at("ETag"), etag);
    ExpectSecurityHeaders(Headers(cached));
  }
  EXPECT_EQ(ServeWebUi("/ui/", "\"other\"").status, 200);
  EXPECT_EQ(ServeWebUi("/ui/app.js", etag).status, 200);  // another file
}

TEST(WebUi, RedirectsAndMissingFiles) {
  for (const char* path : {"/", "/ui"}) {
    const WebUiAnswer answer = ServeWebUi(path, "");
    EXPECT_EQ(answer.status, 301) << path;
    EXPECT_EQ(Headers(answer).at("Location"), "/ui/");
    ExpectSecurityHeaders(Headers(answer));
  }
  for (const char* path :
       {"/ui/missing.js", "/ui/../api/v1/health", "/ui/web_assets.h",
        "/ui/CMakeLists.txt", "/ui/app.js/", "/uiapp.js", "/app.js"}) {
    const WebUiAnswer answer = ServeWebUi(path, "");
    EXPECT_EQ(answer.status, 404) << path;
    ExpectSecurityHeaders(Headers(answer));
  }
}

class WebUiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-webui-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    TokenTable table;
    secret_ = *table.Add("reader", *ParseRoles("read"), 1);
    const std::string tokens = (dir_ / "tokens").string();
    ASSERT_TRUE(table.Save(tokens).ok());
    store_ = std::move(Store::Open((dir_ / "data").string())).value();
    ApiOptions options;
    options.port = 0;
    options.tokens_file = tokens;
    options.threads = 2;
    server_ = std::make_unique<ApiServer>(store_.get(), nullptr, options,
                                          SystemClockMs);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::string secret_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(WebUiServerTest, UiNeedsNoTokenApiStillDoes) {
  auto index = client_->Get("/ui/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, Asset("index.html").body);
  EXPECT_EQ(index->get_header_value("Content-Type"),
            "text/html; charset=utf-8");
  EXPECT_EQ(index->get_header_value("Content-Security-Policy"), kWebUiPolicy);
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index->get_header_value("Referrer-Policy"), "no-referrer");
  const std::string etag = index->get_header_value("ETag");
  EXPECT_EQ(etag, "\"" + std::string(Asset("index.html").sha256) + "\"");

  auto cached = client_->Get("/ui/", {{"If-None-Match", etag}});
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 304);
  EXPECT_TRUE(cached->body.empty());

  auto css = client_->Get("/ui/app.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");

  auto missing = client_->Get("/ui/missing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->get_header_value("Content-Security-Policy"), kWebUiPolicy);

  auto root = client_->Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 301);
  EXPECT_EQ(root->get_header_value("Location"), "/ui/");

  auto refused = client_->Get("/api/v1/batches/1");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  auto allowed = client_->Get("/api/v1/batches/1",
                              {{"Authorization", "Bearer " + secret_}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 404);  // admitted; there is no batch 1
}

}  // namespace
}  // namespace hl::coordinator
