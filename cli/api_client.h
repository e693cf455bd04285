// The CLI's side of the coordinator API (docs/api.md): one request at a
// time, errors turned into one message that says what to do.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace httplib {
class Client;
}

namespace hl::cli {

class ApiClient {
 public:
  // `server` is http://HOST:PORT or https://HOST:PORT; the secret is the
  // first line of `token_file` (which must be mode 0600).
  static Result<std::unique_ptr<ApiClient>> Create(
      const std::string& server, const std::string& token_file);
  ~ApiClient();

  // The body of a 2xx answer, else the error (401, 403, 413, unreachable
  // and the server's own message each said plainly).
  Result<std::string> Get(const std::string& path,
                          const std::multimap<std::string, std::string>& query);
  Result<std::string> Post(const std::string& path,
                           const std::multimap<std::string, std::string>& query,
                           const std::string& body,
                           const std::string& content_type);
  // Streams a 2xx body to `sink` as it arrives; with `headers`, the
  // response's headers are stored there before the first byte.
  Status GetStream(const std::string& path,
                   const std::multimap<std::string, std::string>& query,
                   const std::function<bool(const char*, size_t)>& sink,
                   std::multimap<std::string, std::string>* headers = nullptr);

 private:
  ApiClient() = default;
  std::string server_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace hl::cli
