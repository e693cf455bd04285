#include "common/rdap_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "common/ascii.h"
#include "common/record_json.h"

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

std::string AddressKey(const net::IpAddress& ip) {
  std::string key(1, ip.is_v4() ? '4' : '6');
  key.append(reinterpret_cast<const char*>(ip.bytes()), ip.size());
  return key;
}

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

std::optional<std::string> MemoryRdapCache::FindNetwork(
    const net::IpAddress& ip, int64_t now_ms) {
  const std::string key = AddressKey(ip);
  auto it = networks_.lower_bound(key);
  if (it == networks_.end() || it->first[0] != key[0] ||
      it->second.first_key > key || it->second.expires_ms <= now_ms) {
    return std::nullopt;
  }
  return it->second.body;
}

void MemoryRdapCache::PutNetwork(const net::IpAddress& first,
                                 const net::IpAddress& last,
                                 const std::string& body, int64_t expires_ms) {
  networks_[AddressKey(last)] = {AddressKey(first), body, expires_ms};
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
    if (cached->empty()) return NotFound("no RDAP record at " + url);
    return *cached;
  }
  if (auto blocked = blocked_until_ms_.find(base);
      blocked != blocked_until_ms_.end() && now < blocked->second) {
    return Unavailable("RDAP server " + base + " asked to wait " +
                       std::to_string(blocked->second - now) +
                       " ms more (429/503); " + url + " not asked");
  }
  auto next = next_allowed_ms_.find(base);
  if (next != next_allowed_ms_.end() && now < next->second) {
    return ResourceExhausted(
        "RDAP server " + base + " rate limit: next request in " +
        std::to_string(next->second - now) + " ms (" + url + ")");
  }
  next_allowed_ms_[base] = now + options_.min_interval_ms;
  Result<Response> r = Get(url, options_);
  if (!r.ok()) return r.status();
  if (r->status == 429 || r->status == 503) {
    const int64_t wait =
        RetryAfterMs(r->retry_after).value_or(options_.backoff_ms);
    blocked_until_ms_[base] = now + wait;
    return Unavailable("RDAP server answered " + std::to_string(r->status) +
                       " for " + url + "; retry in " + std::to_string(wait) +
                       " ms");
  }
  if (r->status == 404) {
    cache_->Put(url, "", now + options_.negative_ttl_ms);
    return NotFound("no RDAP record at " + url);
  }
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
  const std::string url = *base + "ip/" + ip.ToString();
  if (std::optional<std::string> cached = cache_->FindNetwork(ip, clock_())) {
    return ParseNetwork(*cached, url);
  }
  Result<std::string> body = Fetch(*base, "ip/" + ip.ToString());
  if (!body.ok()) return body.status();
  Result<Network> n = ParseNetwork(*body, url);
  if (!n.ok()) return n;
  const int64_t expires = clock_() + options_.ttl_ms;
  auto first = net::IpAddress::Parse(n->start_address);
  auto last = net::IpAddress::Parse(n->end_address);
  if (first && last && first->family() == ip.family() &&
      last->family() == ip.family() && *first <= ip && ip <= *last) {
    cache_->PutNetwork(*first, *last, *body, expires);
  } else {
    cache_->Put(url, *body, expires);
  }
  return n;
}

Result<Autnum> Client::LookupAsn(uint32_t asn) {
  std::optional<std::string> base = bootstrap_.ForAsn(asn);
  if (!base) {
    return FailedPrecondition("the RDAP bootstrap has no server for AS" +
                              std::to_string(asn));
  }
  const std::string path = "autnum/" + std::to_string(asn);
  Result<std::string> body = Fetch(*base, path);
  if (!body.ok()) return body.status();
  Result<Autnum> a = ParseAutnum(*body, *base + path);
  if (a.ok()) cache_->Put(*base + path, *body, clock_() + options_.ttl_ms);
  return a;
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

namespace hl::rdap {
namespace {

// Writes `text` to dir/name through a synced temporary file and a rename.
Status WriteAtomically(const std::string& dir, const std::string& name,
                       const std::string& text) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return FailedPrecondition("cannot write " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return FailedPrecondition("cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return FailedPrecondition("cannot replace " + path);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<FetchedRegistry>> RefreshBootstrap(
    const std::string& base_url, const std::string& dir, uint32_t timeout_ms,
    int64_t now_ms) {
  std::string base = base_url;
  if (!base.ends_with('/')) base += '/';
  ClientOptions options;
  options.timeout_ms = timeout_ms;
  options.max_body_bytes = 16 << 20;
  std::vector<FetchedRegistry> fetched;
  std::vector<std::string> bodies;
  Bootstrap check;
  for (Registry registry : kRegistries) {
    const std::string url =
        base + std::string(RegistryName(registry)) + ".json";
    Result<Response> r = Get(url, options);
    if (!r.ok()) return r.status();
    if (r->status != 200) {
      return Unavailable(url + " answered HTTP " + std::to_string(r->status) +
                         "; nothing was replaced");
    }
    Result<std::string> publication = check.Add(registry, r->body, url);
    if (!publication.ok()) {
      return DataLoss(publication.status().message() +
                      "; nothing was replaced");
    }
    fetched.push_back({registry, *publication});
    bodies.push_back(std::move(r->body));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return FailedPrecondition("cannot create " + dir + ": " + ec.message());
  std::string sources =
      "# RDAP bootstrap files\n\nFetched by `hostlocator rdap refresh` from " +
      base + " on " + FormatRfc3339Ms(now_ms) +
      ". Each file is exactly as served (RFC 9224 format).\n\n";
  for (const FetchedRegistry& f : fetched) {
    sources += "- " + std::string(RegistryName(f.registry)) +
               ".json: publication " + f.publication + "\n";
  }
  for (size_t i = 0; i < fetched.size(); ++i) {
    HL_RETURN_IF_ERROR(WriteAtomically(
        dir, std::string(RegistryName(fetched[i].registry)) + ".json",
        bodies[i]));
  }
  HL_RETURN_IF_ERROR(WriteAtomically(dir, "SOURCES.md", sources));
  return fetched;
}

}  // namespace hl::rdap
