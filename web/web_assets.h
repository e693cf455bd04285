// The web UI's files (web/*.html, *.css, *.js, *.svg), embedded at build
// time by web/embed.cmake: the coordinator serves them from memory
// (coordinator/web_ui.h), so a deployment needs only its binary.
#pragma once

#include <span>
#include <string_view>

namespace hl::web {

struct WebAsset {
  std::string_view name;          // file name in web/, e.g. "app.js"
  std::string_view content_type;  // by extension, with charset for text
  std::string_view sha256;        // of `body`, lower-case hex
  std::string_view body;
};

// Every embedded file, sorted by name; static storage.
std::span<const WebAsset> WebAssets();

}  // namespace hl::web
