#include "cli/api_client.h"

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "coordinator/tokens.h"

namespace hl::cli {
namespace {

std::string WithQuery(const std::string& path,
                      const std::multimap<std::string, std::string>& query) {
  if (query.empty()) return path;
  return path + "?" +
         httplib::detail::params_to_query_str(
             httplib::Params(query.begin(), query.end()));
}

Status HttpError(const std::string& server, int status,
                 const std::string& body) {
  std::string message;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    message = doc["error"].get<std::string>();
  }
  switch (status) {
    case 401:
      return {StatusCode::kPermissionDenied,
              server + " refused the token (401): check --token-file"};
    case 403:
      return {StatusCode::kPermissionDenied,
              server + " forbids this to the token (403): " + message};
    case 413:
      return {StatusCode::kResourceExhausted,
              server + " refused the request as too large (413): " + message};
    case 404:
      return NotFound(message.empty() ? "not found (404)" : message);
    default:
      return Unavailable(server + " answered " + std::to_string(status) +
                         (message.empty() ? "" : ": " + message));
  }
}

Status Unreachable(const std::string& server, httplib::Error error) {
  return Unavailable("cannot reach the coordinator at " + server + " (" +
                     httplib::to_string(error) +
                     "); is it running, and is --server right?");
}

}  // namespace

ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>> ApiClient::Create(
    const std::string& server, const std::string& token_file) {
  if (!server.starts_with("http://") && !server.starts_with("https://")) {
    return InvalidArgument("--server is http://HOST:PORT or https://HOST:PORT");
  }
  HL_RETURN_IF_ERROR(coordinator::CheckPrivateFile(token_file));
  std::ifstream in(token_file);
  std::string secret;
  std::getline(in, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ')) {
    secret.pop_back();
  }
  if (secret.empty()) {
    return InvalidArgument(token_file +
                           " holds no token; put the secret that `hostlocator "
                           "tokens add` printed on its first line");
  }
  std::unique_ptr<ApiClient> client(new ApiClient());
  client->server_ = server;
  client->client_ = std::make_unique<httplib::Client>(server);
  client->client_->set_bearer_token_auth(secret);
  client->client_->set_connection_timeout(5);
  client->client_->set_read_timeout(300);
  client->client_->set_write_timeout(300);
  return client;
}

Result<std::string> ApiClient::Get(
    const std::string& path,
    const std::multimap<std::string, std::string>& query) {
  auto res = client_->Get(WithQuery(path, query));
  if (!res) return Unreachable(server_, res.error());
  if (res->status / 100 != 2) return HttpError(server_, res->status, res->body);
  return std::move(res->body);
}

Result<std::string> ApiClient::Post(
    const std::string& path,
    const std::multimap<std::string, std::string>& query,
    const std::string& body, const std::string& content_type) {
  auto res = client_->Post(WithQuery(path, query), body, content_type);
  if (!res) return Unreachable(server_, res.error());
  if (res->status / 100 != 2) return HttpError(server_, res->status, res->body);
  return std::move(res->body);
}

Status ApiClient::GetStream(
    const std::string& path,
    const std::multimap<std::string, std::string>& query,
    const std::function<bool(const char*, size_t)>& sink,
    std::multimap<std::string, std::string>* headers) {
  int status = 0;
  std::string error_body;
  auto res = client_->Get(
      WithQuery(path, query),
      [&](const httplib::Response& r) {
        status = r.status;
        if (headers != nullptr) {
          headers->clear();
          for (const auto& [name, value] : r.headers) {
            headers->emplace(name, value);
          }
        }
        return true;
      },
      [&](const char* data, size_t size) {
        if (status / 100 != 2) {
          error_body.append(data, size);
          return true;
        }
        return sink(data, size);
      });
  if (!res) return Unreachable(server_, res.error());
  if (res->status / 100 != 2)
    return HttpError(server_, res->status, error_body);
  return Status::Ok();
}

}  // namespace hl::cli
