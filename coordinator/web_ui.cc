#include "coordinator/web_ui.h"

#include <httplib.h>

#include "web/web_assets.h"

namespace hl::coordinator {
namespace {

constexpr std::string_view kUiPrefix = "/ui/";

std::vector<std::pair<std::string, std::string>> CommonHeaders() {
  return {{"Content-Security-Policy", std::string(kWebUiPolicy)},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"},
          {"Cross-Origin-Opener-Policy", "same-origin"},
          {"Cross-Origin-Resource-Policy", "same-origin"}};
}

const web::WebAsset* FindAsset(std::string_view name) {
  for (const web::WebAsset& asset : web::WebAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

// True when the If-None-Match list names `etag` (or is "*").
bool Matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const size_t comma = if_none_match.find(',');
    std::string_view item = if_none_match.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == etag || item == "*") return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

WebUiAnswer ServeWebUi(std::string_view path, std::string_view if_none_match) {
  WebUiAnswer answer;
  answer.headers = CommonHeaders();
  if (path == "/" || path == "/ui") {
    answer.status = 301;
    answer.headers.emplace_back("Location", "/ui/");
    answer.content_type = "text/plain; charset=utf-8";
    answer.body = "the web UI is at /ui/\n";
    return answer;
  }
  std::string_view name;
  if (path.starts_with(kUiPrefix)) name = path.substr(kUiPrefix.size());
  if (name.empty()) name = "index.html";
  const web::WebAsset* asset =
      path.starts_with(kUiPrefix) ? FindAsset(name) : nullptr;
  if (asset == nullptr) {
    answer.status = 404;
    answer.content_type = "text/plain; charset=utf-8";
    answer.body = "no such file in the web UI; open /ui/\n";
    answer.headers.emplace_back("Cache-Control", "no-store");
    return answer;
  }
  const std::string etag = "\"" + std::string(asset->sha256) + "\"";
  // Revalidated on every use: a new coordinator binary brings new files
  // under the same names, and a 304 costs one round trip on loopback.
  answer.headers.emplace_back("Cache-Control", "no-cache");
  answer.headers.emplace_back("ETag", etag);
  answer.content_type = std::string(asset->content_type);
  if (Matches(if_none_match, etag)) {
    answer.status = 304;
    return answer;
  }
  answer.body = asset->body;
  return answer;
}

void RegisterWebUi(httplib::Server& server) {
  const auto handler = [](const httplib::Request& req, httplib::Response& res) {
    const WebUiAnswer answer =
        ServeWebUi(req.path, req.get_header_value("If-None-Match"));
    res.status = answer.status;
    for (const auto& [name, value] : answer.headers) {
      res.set_header(name, value);
    }
    if (answer.status != 304) {
      res.set_content(answer.body.data(), answer.body.size(),
                      answer.content_type);
    }
  };
  server.Get("/", handler);
  server.Get("/ui", handler);
  server.Get(R"(/ui/.*)", handler);
}

}  // namespace hl::coordinator
