#include <curl/curl.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include <array>
#include <cctype>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/prober.h"

namespace hl::worker {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool IsKeptHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 5> kKept = {
      "server", "location", "via", "content-type", "content-length"};
  for (std::string_view kept : kKept) {
    if (EqualsIgnoreCase(name, kept)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

bool IsTlsError(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

std::string HttpVersionName(long version) {
  switch (version) {
    case CURL_HTTP_VERSION_1_0:
      return "1.0";
    case CURL_HTTP_VERSION_1_1:
      return "1.1";
    case CURL_HTTP_VERSION_2_0:
      return "2";
    case CURL_HTTP_VERSION_3:
      return "3";
    default:
      return "";
  }
}

// "host" or "[v6]", as CURLOPT_CONNECT_TO spells hosts.
std::string ConnectToHost(const std::string& host, bool ipv6) {
  return ipv6 ? "[" + host + "]" : host;
}

}  // namespace

struct HttpProber::Impl {
  // What one Head() saw, filled by the libcurl callbacks.
  struct Probe {
    net::IpAddress pinned;
    std::string refused_target;   // an address the policy refused
    std::string unpinned_target;  // an address other than the pinned one
    bool header_too_large = false;
    size_t header_bytes = 0;
    uint64_t body_bytes = 0;
    std::vector<std::pair<std::string, std::string>> kept;
    bool expect_status_line = true;
    bool last_header_kept = false;  // continuation lines extend it
  };

  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    EVP_MD_CTX_free(sha256);
  }

  static curl_socket_t OpenSocket(void* clientp, curlsocktype purpose,
                                  curl_sockaddr* address);
  static size_t OnHeader(char* data, size_t size, size_t count, void* clientp);
  static size_t OnBody(char* data, size_t size, size_t count, void* clientp);

  HttpConfig config;
  net::TargetPolicy policy;
  CURL* curl = nullptr;
  EVP_MD_CTX* sha256 = nullptr;
  std::array<char, CURL_ERROR_SIZE> error{};
  Probe probe;
};

curl_socket_t HttpProber::Impl::OpenSocket(void* clientp,
                                           curlsocktype /*purpose*/,
                                           curl_sockaddr* address) {
  auto* impl = static_cast<Impl*>(clientp);
  const std::optional<net::IpAddress> ip =
      net::IpAddress::FromSockaddr(&address->addr);
  if (!ip || !impl->policy.Permits(*ip)) {
    impl->probe.refused_target = ip ? ip->ToString() : "a non-IP address";
    return CURL_SOCKET_BAD;
  }
  if (*ip != impl->probe.pinned) {
    impl->probe.unpinned_target = ip->ToString();
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC,
                address->protocol);
}

size_t HttpProber::Impl::OnHeader(char* data, size_t size, size_t count,
                                  void* clientp) {
  auto* impl = static_cast<Impl*>(clientp);
  Probe& probe = impl->probe;
  const size_t length = size * count;
  if (probe.header_bytes + length > impl->config.max_header_bytes) {
    probe.header_too_large = true;
    return 0;
  }
  probe.header_bytes += length;
  EVP_DigestUpdate(impl->sha256, data, length);

  const std::string_view line(data, length);
  if (probe.expect_status_line) {
    // Each response (interim ones included) starts afresh: only the final
    // response's headers are kept.
    probe.expect_status_line = false;
    probe.kept.clear();
    probe.last_header_kept = false;
    return length;
  }
  if (Trim(line).empty()) {
    probe.expect_status_line = true;
    return length;
  }
  if (line.starts_with(' ') || line.starts_with('\t')) {
    if (probe.last_header_kept) {
      probe.kept.back().second += ' ';
      probe.kept.back().second += Trim(line);
    }
    return length;
  }
  const size_t colon = line.find(':');
  probe.last_header_kept =
      colon != std::string_view::npos && IsKeptHeader(line.substr(0, colon));
  if (probe.last_header_kept) {
    probe.kept.emplace_back(line.substr(0, colon),
                            Trim(line.substr(colon + 1)));
  }
  return length;
}

size_t HttpProber::Impl::OnBody(char* /*data*/, size_t size, size_t count,
                                void* clientp) {
  static_cast<Impl*>(clientp)->probe.body_bytes += size * count;
  return 0;
}

HttpProber::HttpProber(const HttpConfig& config, net::TargetPolicy policy)
    : impl_(std::make_unique<Impl>()) {
  InitCurlOnce();
  impl_->config = config;
  impl_->policy = std::move(policy);
  impl_->sha256 = EVP_MD_CTX_new();
  impl_->curl = curl_easy_init();
  CURL* curl = impl_->curl;
  if (curl == nullptr) return;
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(config.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(config.timeout_ms));
  curl_easy_setopt(
      curl, CURLOPT_USERAGENT,
      config.user_agent.empty() ? nullptr : config.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, impl_->error.data());
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &Impl::OpenSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, impl_.get());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, impl_.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, impl_.get());
}

HttpProber::~HttpProber() = default;

pb::HttpObservation HttpProber::Head(const net::NormalizedUrl& url,
                                     const net::IpAddress& pinned) {
  pb::HttpObservation obs;
  obs.set_method("HEAD");
  obs.set_request_url(url.url);
  auto fail = [&obs](std::string error_class, std::string message) {
    obs.mutable_error()->set_error_class(std::move(error_class));
    obs.mutable_error()->set_message(std::move(message));
  };
  if (!impl_->policy.Permits(pinned)) {
    fail("refused_private_target",
         pinned.ToString() + " is " +
             std::string(net::AddressClassName(net::Classify(pinned))) +
             " and not allowlisted; not probed");
    return obs;
  }
  if (impl_->curl == nullptr || impl_->sha256 == nullptr) {
    fail("http_error", "libcurl or OpenSSL could not be initialised");
    return obs;
  }

  CURL* curl = impl_->curl;
  impl_->probe = Impl::Probe();
  impl_->probe.pinned = pinned;
  impl_->error[0] = '\0';
  EVP_DigestInit_ex(impl_->sha256, EVP_sha256(), nullptr);
  const std::string port = std::to_string(url.port);
  const std::string connect_to =
      ConnectToHost(url.host, url.host_kind == net::HostKind::kIpv6) + ":" +
      port + ":" + ConnectToHost(pinned.ToString(), !pinned.is_v4()) + ":" +
      port;
  curl_slist* connect_to_list = curl_slist_append(nullptr, connect_to.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to_list);
  const auto start = std::chrono::steady_clock::now();
  const CURLcode code = curl_easy_perform(curl);
  obs.set_elapsed_ms(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start)
          .count()));
  curl_easy_setopt(curl, CURLOPT_CONNECT_TO, nullptr);
  curl_slist_free_all(connect_to_list);

  const Impl::Probe& probe = impl_->probe;
  // A response is a complete header block: a status line followed by a
  // failure (trickled or oversized headers) is recorded as no response.
  long status = 0;
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  obs.set_status(static_cast<int32_t>(status));
  if (status > 0) {
    long version = 0;
    curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &version);
    obs.set_http_version(HttpVersionName(version));
  }
  for (const auto& [name, value] : probe.kept) {
    pb::HttpHeader* header = obs.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  if (probe.header_bytes > 0) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(impl_->sha256, digest.data(), &digest_size);
    obs.set_header_block_sha256(digest.data(), digest_size);
  }
  curl_off_t connect_us = 0;
  curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_us);
  if (connect_us > 0) {
    char* ip = nullptr;
    long connected_port = 0;
    curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(curl, CURLINFO_PRIMARY_PORT, &connected_port);
    if (ip != nullptr) obs.set_connected_ip(ip);
    obs.set_connected_port(static_cast<uint32_t>(connected_port));
  }
  obs.set_body_bytes(probe.body_bytes);

  const std::string curl_message =
      std::string(curl_easy_strerror(code)) +
      (impl_->error[0] != '\0' ? ": " + std::string(impl_->error.data()) : "");
  if (probe.body_bytes > 0) {
    fail("body_received", "the server sent " +
                              std::to_string(probe.body_bytes) +
                              " body bytes to HEAD; refused unread");
  } else if (!probe.refused_target.empty()) {
    fail("refused_private_target",
         "connection to " + probe.refused_target +
             " refused: not a public address and not allowlisted");
  } else if (!probe.unpinned_target.empty()) {
    fail("http_error", "connection to " + probe.unpinned_target +
                           " refused: not the pinned address " +
                           pinned.ToString());
  } else if (probe.header_too_large) {
    fail("header_too_large",
         "response header block exceeds " +
             std::to_string(impl_->config.max_header_bytes) + " bytes");
  } else if (code == CURLE_OK) {
    return obs;
  } else if (code == CURLE_COULDNT_CONNECT) {
    fail("connection_refused", curl_message);
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    fail("http_timeout", curl_message);
  } else if (IsTlsError(code)) {
    fail("tls_error", curl_message);
  } else {
    fail("http_error", curl_message);
  }
  return obs;
}

}  // namespace hl::worker
