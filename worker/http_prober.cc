#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <limits>
#include <map>
#include <memory>
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

// RFC 2253 form of `name`, UTF-8 kept as is (not escaped to \\XX).
std::string NameText(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(std::max(size, 0L)));
  BIO_free(bio);
  return text;
}

std::string DerSha256(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &size) != 1) return "";
  return std::string(reinterpret_cast<const char*>(digest.data()), size);
}

// Unix seconds of an ASN.1 time; 0 when it cannot be read.
int64_t UnixSeconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  for (char& c : text) c = static_cast<char>(std::tolower(c));
  return text;
}

void AddSubjectAltNames(X509* leaf, pb::TlsObservation* tls) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* dns = name->d.dNSName;
      tls->add_san_dns(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
          static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_STRING* ip = name->d.iPAddress;
      const int length = ASN1_STRING_length(ip);
      if (length != 4 && length != 16) continue;
      std::array<char, INET6_ADDRSTRLEN> text;
      if (inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip),
                    text.data(), text.size()) != nullptr) {
        tls->add_san_ip(text.data());
      }
    }
  }
  GENERAL_NAMES_free(names);
}

// The newest error on this thread's OpenSSL error queue, as text; the
// queue is left as it is.
std::string LastOpenSslError() {
  std::array<char, 256> text{};
  const unsigned long code = ERR_peek_last_error();
  if (code != 0) ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

// The trust store of the PEM file at `path`, loaded once and shared by
// every HttpProber of the process while one of them holds it (an
// X509_STORE is safe for concurrent verification; the system bundle costs
// about 0.8 MB and 30 ms to load). nullptr, with *error set, when the file
// cannot be loaded; a failure is not remembered.
std::shared_ptr<X509_STORE> SharedTrustStore(const std::string& path,
                                             std::string* error) {
  static std::mutex& mutex = *new std::mutex;
  static auto& loaded = *new std::map<std::string, std::weak_ptr<X509_STORE>>;
  std::lock_guard<std::mutex> lock(mutex);
  std::weak_ptr<X509_STORE>& entry = loaded[path];
  if (std::shared_ptr<X509_STORE> store = entry.lock()) return store;
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (store == nullptr ||
      X509_STORE_load_file(store.get(), path.c_str()) != 1) {
    *error = "cannot load the trust store " + path + ": " + LastOpenSslError();
    ERR_clear_error();
    return nullptr;
  }
  entry = store;
  return store;
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
    bool last_header_kept = false;            // continuation lines extend it
    const net::NormalizedUrl* url = nullptr;  // the TLS name to verify
    std::optional<pb::TlsObservation> tls;
  };

  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    EVP_MD_CTX_free(sha256);
  }

  static curl_socket_t OpenSocket(void* clientp, curlsocktype purpose,
                                  curl_sockaddr* address);
  static size_t OnHeader(char* data, size_t size, size_t count, void* clientp);
  static size_t OnBody(char* data, size_t size, size_t count, void* clientp);
  static CURLcode OnSslContext(CURL* curl, void* ssl_ctx, void* clientp);
  static int OnPeerChain(X509_STORE_CTX* handshake, void* arg);

  // Records the handshake and the certificates the server sent, and
  // verifies them against `trust`.
  pb::TlsObservation Inspect(X509_STORE_CTX* handshake) const;
  void Verify(X509* leaf, STACK_OF(X509) * sent, pb::TlsObservation* tls) const;

  HttpConfig config;
  net::TargetPolicy policy;
  CURL* curl = nullptr;
  EVP_MD_CTX* sha256 = nullptr;
  std::array<char, CURL_ERROR_SIZE> error{};
  // The trust store of config.ca_file (or kSystemCaFile); nullptr when it
  // could not be loaded, trust_error then says why.
  std::string trust_path;
  std::shared_ptr<X509_STORE> trust;
  std::string trust_error;
  Probe probe;
};

CURLcode HttpProber::Impl::OnSslContext(CURL* /*curl*/, void* ssl_ctx,
                                        void* clientp) {
  SSL_CTX_set_cert_verify_callback(static_cast<SSL_CTX*>(ssl_ctx),
                                   &Impl::OnPeerChain, clientp);
  return CURLE_OK;
}

int HttpProber::Impl::OnPeerChain(X509_STORE_CTX* handshake, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  // Errors of the inspection stay out of the handshake's error queue.
  ERR_set_mark();
  impl->probe.tls = impl->Inspect(handshake);
  ERR_pop_to_mark();
  return 1;
}

pb::TlsObservation HttpProber::Impl::Inspect(X509_STORE_CTX* handshake) const {
  pb::TlsObservation tls;
  const auto* ssl = static_cast<const SSL*>(X509_STORE_CTX_get_ex_data(
      handshake, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl != nullptr) {
    tls.set_protocol(SSL_get_version(ssl));
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    if (cipher != nullptr) tls.set_cipher(SSL_CIPHER_get_name(cipher));
  }
  X509* leaf = X509_STORE_CTX_get0_cert(handshake);
  STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(handshake);
  if (leaf == nullptr) return tls;
  tls.set_subject(NameText(X509_get_subject_name(leaf)));
  tls.set_issuer(NameText(X509_get_issuer_name(leaf)));
  AddSubjectAltNames(leaf, &tls);
  tls.set_not_before_unix(UnixSeconds(X509_get0_notBefore(leaf)));
  tls.set_not_after_unix(UnixSeconds(X509_get0_notAfter(leaf)));
  tls.set_serial(SerialHex(X509_get0_serialNumber(leaf)));
  tls.set_sha256(DerSha256(leaf));
  if (EVP_PKEY* key = X509_get0_pubkey(leaf); key != nullptr) {
    const char* type = EVP_PKEY_get0_type_name(key);
    tls.set_key_type(type != nullptr ? type : "");
    tls.set_key_bits(
        static_cast<uint32_t>(std::max(EVP_PKEY_get_bits(key), 0)));
  }
  for (int i = 0; i < sk_X509_num(sent); ++i) {
    X509* cert = sk_X509_value(sent, i);
    pb::TlsCertificate* entry = tls.add_chain();
    entry->set_subject(NameText(X509_get_subject_name(cert)));
    entry->set_issuer(NameText(X509_get_issuer_name(cert)));
    entry->set_sha256(DerSha256(cert));
  }
  Verify(leaf, sent, &tls);
  return tls;
}

void HttpProber::Impl::Verify(X509* leaf, STACK_OF(X509) * sent,
                              pb::TlsObservation* tls) const {
  const net::NormalizedUrl& url = *probe.url;
  const bool ip_host = url.host_kind == net::HostKind::kIpv4 ||
                       url.host_kind == net::HostKind::kIpv6;
  tls->set_name_matched(
      ip_host ? X509_check_ip_asc(leaf, url.host.c_str(), 0) == 1
              : X509_check_host(leaf, url.host.data(), url.host.size(), 0,
                                nullptr) == 1);
  tls->set_trust_store(trust_path);
  if (trust == nullptr) {
    tls->set_verify_error(trust_error);
    return;
  }
  X509_STORE_CTX* verify = X509_STORE_CTX_new();
  if (verify == nullptr ||
      X509_STORE_CTX_init(verify, trust.get(), leaf, sent) != 1) {
    tls->set_verify_error("cannot verify: " + LastOpenSslError());
    X509_STORE_CTX_free(verify);
    return;
  }
  X509_STORE_CTX_set_default(verify, "ssl_server");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(verify);
  if (ip_host) {
    X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, url.host.data(), url.host.size());
  }
  const bool verified = X509_verify_cert(verify) == 1;
  tls->set_verified(verified);
  if (!verified) {
    tls->set_verify_error(
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify)));
  }
  X509_STORE_CTX_free(verify);
}

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
  // Every header of the final response is kept: the whole block is bounded
  // by max_header_bytes, and CDN identifiers (cf-ray, x-amz-cf-id, ...) are
  // evidence.
  probe.last_header_kept = colon != std::string_view::npos;
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
  impl_->trust_path = config.ca_file.empty() ? kSystemCaFile : config.ca_file;
  impl_->trust = SharedTrustStore(impl_->trust_path, &impl_->trust_error);
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
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  // libcurl loads no CA and keeps no TLS session: OnPeerChain sees the
  // certificates of every probe (a resumed session would show none) and
  // verifies them with the store loaded above.
  curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(curl, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, &Impl::OnSslContext);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, impl_.get());
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
                                     const net::IpAddress& pinned,
                                     const pb::RequestContext& context) {
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
  const std::string& user_agent = context.user_agent().empty()
                                      ? impl_->config.user_agent
                                      : context.user_agent();
  curl_easy_setopt(curl, CURLOPT_USERAGENT,
                   user_agent.empty() ? nullptr : user_agent.c_str());
  curl_easy_setopt(
      curl, CURLOPT_REFERER,
      context.referer().empty() ? nullptr : context.referer().c_str());
  impl_->probe = Impl::Probe();
  impl_->probe.pinned = pinned;
  impl_->probe.url = &url;
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
  if (probe.tls) *obs.mutable_tls() = std::move(*impl_->probe.tls);
  const auto stage_us = [curl](CURLINFO info) {
    curl_off_t us = 0;
    curl_easy_getinfo(curl, info, &us);
    return static_cast<uint32_t>(
        std::clamp<curl_off_t>(us, 0, std::numeric_limits<uint32_t>::max()));
  };
  pb::HttpTimings* timings = obs.mutable_timings();
  timings->set_connect_us(stage_us(CURLINFO_CONNECT_TIME_T));
  timings->set_tls_us(stage_us(CURLINFO_APPCONNECT_TIME_T));
  timings->set_first_byte_us(stage_us(CURLINFO_STARTTRANSFER_TIME_T));
  timings->set_total_us(stage_us(CURLINFO_TOTAL_TIME_T));
  if (timings->connect_us() > 0) {
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
