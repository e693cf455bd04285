#include "common/rdap_client.h"

#include <curl/curl.h>

#include <cstdlib>
#include <utility>

#include "common/ascii.h"

namespace hl::rdap {
namespace {

struct Response {
  long status = 0;
  std::string body;
  std::string retry_after;  // header value, "" when absent
  bool too_large = false;
  size_t limit = 0;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  const size_t bytes = size * n;
  if (r->body.size() + bytes > r->limit) {
    r->too_large = true;
    return 0;  // aborts the transfer
  }
  r->body.append(data, bytes);
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      EqualsIgnoreCaseAscii(line.substr(0, kName.size()), kName)) {
    std::string_view value = line.substr(kName.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' ||
                              value.back() == ' ')) {
      value.remove_suffix(1);
    }
    r->retry_after = std::string(value);
  }
  return size * n;
}

// Retry-After in delta-seconds; nullopt for a date or garbage.
std::optional<int64_t> RetryAfterMs(const std::string& value) {
  if (value.empty() || value.size() > 9) return std::nullopt;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoll(value) * 1000;
}

// One GET; Unavailable when no HTTP answer came.
Result<Response> Get(const std::string& url, const ClientOptions& options) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Internal("curl_easy_init failed");
  Response r;
  r.limit = options.max_body_bytes;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long{options.timeout_ms});
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  // RIR servers answer for resources of other RIRs with a redirect.
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
  struct curl_slist* headers =
      curl_slist_append(nullptr, "Accept: application/rdap+json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (r.too_large) {
    return DataLoss("RDAP answer from " + url + " exceeds " +
                    std::to_string(options.max_body_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    return Unavailable("RDAP request to " + url +
                       " failed: " + curl_easy_strerror(rc));
  }
  return r;
}

}  // namespace

std::optional<std::string> MemoryRdapCache::Get(const std::string& key,
                                                int64_t now_ms) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.second <= now_ms) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.first;
}

void MemoryRdapCache::Put(const std::string& key, const std::string& body,
                          int64_t expires_ms) {
  entries_[key] = {body, expires_ms};
}

Client::Client(Bootstrap bootstrap, RdapCache* cache, Clock clock,
               ClientOptions options)
    : bootstrap_(std::move(bootstrap)),
      cache_(cache),
      clock_(std::move(clock)),
      options_(options) {}

Result<std::string> Client::Fetch(const std::string& base,
                                  const std::string& path) {
  const std::string url = base + path;
  const int64_t now = clock_();
  if (std::optional<std::string> cached = cache_->Get(url, now)) {
    return *cached;
  }
  auto next = next_allowed_ms_.find(base);
  if (next != next_allowed_ms_.end() && now < next->second) {
    return Unavailable("RDAP server " + base + " rate limit: next request in " +
                       std::to_string(next->second - now) + " ms (" + url +
                       ")");
  }
  next_allowed_ms_[base] = now + options_.min_interval_ms;
  Result<Response> r = Get(url, options_);
  if (!r.ok()) return r.status();
  if (r->status == 429 || r->status == 503) {
    const int64_t wait =
        RetryAfterMs(r->retry_after).value_or(options_.backoff_ms);
    next_allowed_ms_[base] = std::max(next_allowed_ms_[base], now + wait);
    return Unavailable("RDAP server answered " + std::to_string(r->status) +
                       " for " + url + "; retry in " + std::to_string(wait) +
                       " ms");
  }
  if (r->status == 404) return NotFound("no RDAP record at " + url);
  if (r->status != 200) {
    return DataLoss("RDAP server answered " + std::to_string(r->status) +
                    " for " + url);
  }
  return std::move(r->body);
}

Result<Network> Client::LookupIp(const net::IpAddress& ip) {
  std::optional<std::string> base = bootstrap_.ForIp(ip);
  if (!base) {
    return FailedPrecondition("the RDAP bootstrap has no server for " +
                              ip.ToString());
  }
  const std::string path = "ip/" + ip.ToString();
  Result<std::string> body = Fetch(*base, path);
  if (!body.ok()) return body.status();
  Result<Network> n = ParseNetwork(*body, *base + path);
  if (n.ok()) cache_->Put(*base + path, *body, clock_() + options_.ttl_ms);
  return n;
}

Result<Domain> Client::LookupDomain(const std::string& domain) {
  std::optional<std::string> base = bootstrap_.ForDomain(domain);
  if (!base) {
    return FailedPrecondition("the RDAP bootstrap has no server for " + domain);
  }
  const std::string path = "domain/" + ToLowerAscii(domain);
  Result<std::string> body = Fetch(*base, path);
  if (!body.ok()) return body.status();
  Result<Domain> d = ParseDomain(*body, *base + path);
  if (d.ok()) cache_->Put(*base + path, *body, clock_() + options_.ttl_ms);
  return d;
}

}  // namespace hl::rdap
