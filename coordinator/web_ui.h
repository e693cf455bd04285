// Serving the analyst web UI (docs/webui.md) on the API's port: `/`
// redirects to `/ui/`, `/ui/` is index.html and `/ui/NAME` an embedded file
// of web/ (web/web_assets.h). The files hold no data, so they need no token;
// every data call of the UI goes to /api/v1 with the analyst's token. Every
// answer carries the UI's Content-Security-Policy and the headers of
// kWebUiHeaders; files are revalidated by ETag (the SHA-256 of their bytes).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace hl::coordinator {

// No inline script or style, nothing from another origin, no framing, no
// form posts: the UI's code only talks to its own origin by fetch().
inline constexpr std::string_view kWebUiPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'";

struct WebUiAnswer {
  int status = 200;  // 200, 301, 304 or 404
  std::string content_type;
  std::string_view body;  // static storage (an embedded file or a message)
  std::vector<std::pair<std::string, std::string>> headers;
};

// The answer to GET `path` (without query) given the request's
// If-None-Match header value ("" when absent). Pure.
WebUiAnswer ServeWebUi(std::string_view path, std::string_view if_none_match);

// Registers GET (and so HEAD) for `/`, `/ui` and `/ui/...` on `server`.
void RegisterWebUi(httplib::Server& server);

}  // namespace hl::coordinator
