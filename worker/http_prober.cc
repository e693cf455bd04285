#include "worker/http_prober.h"

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
#include <cerrno>
#include <ctime>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hl::worker {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// `s` without leading and trailing spaces, tabs, CRs and LFs. (A loop: the
// set-based std::string_view searches call memchr for every byte.)
std::string_view Trim(std::string_view s) {
  const auto blank = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// The errno of the transfer's last failed system call (0 when none).
long OsErrno(CURL* curl) {
  long os_errno = 0;
  curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
  return os_errno;
}

// How libcurl says a response header line outgrew CURL_MAX_HTTP_HEADER:
// CURLE_OUT_OF_MEMORY up to 8.5, CURLE_TOO_LARGE since 8.6.
bool IsHeaderLineTooLong(CURLcode code) {
#if LIBCURL_VERSION_NUM >= 0x080600
  if (code == CURLE_TOO_LARGE) return true;
#endif
  return code == CURLE_OUT_OF_MEMORY;
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

// The address of a canonical http.proxy ("http://IP:PORT",
// "socks5://[IPv6]:PORT"); nullopt for anything else.
std::optional<net::IpAddress> ProxyAddress(std::string_view proxy) {
  const size_t scheme_end = proxy.find("://");
  const size_t port_colon = proxy.rfind(':');
  if (scheme_end == std::string_view::npos || port_colon <= scheme_end + 2) {
    return std::nullopt;
  }
  std::string_view host =
      proxy.substr(scheme_end + 3, port_colon - scheme_end - 3);
  if (host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  }
  return net::IpAddress::Parse(host);
}

}  // namespace

struct HttpProber::Impl {
  // One exchange in flight: its easy handle (whose CURLOPT_PRIVATE points
  // here) and what the libcurl callbacks saw. Recycled through `idle`, so
  // the handle, the digest context and the buffers are allocated once.
  struct Transfer {
    ~Transfer() {
      curl_easy_cleanup(easy);
      EVP_MD_CTX_free(sha256);
    }

    Impl* impl = nullptr;
    CURL* easy = nullptr;
    EVP_MD_CTX* sha256 = nullptr;
    std::array<char, CURL_ERROR_SIZE> error{};
    // CURLOPT_CONNECT_TO as a one-entry list owned here (libcurl only reads
    // a list it is given); connect_to_node.data points into connect_to.
    std::string connect_to;
    curl_slist connect_to_node{};
    // CURLOPT_HTTPHEADER: User-Agent, Accept and Referer as lines of a list
    // owned here, in the order libcurl sends them itself; header_nodes
    // point into header_lines. libcurl formats each line once this way
    // (CURLOPT_USERAGENT is formatted twice, ~140 instructions a byte).
    std::string user_agent;
    // libcurl drops a header line with a blank value: a blank agent goes
    // through CURLOPT_USERAGENT, as does the agent of an HTTP CONNECT.
    bool agent_line = false;
    std::array<std::string, 3> header_lines;
    std::array<curl_slist, 3> header_nodes{};
    bool in_multi = false;

    // The request; id 0 while idle.
    ExchangeId id = 0;
    net::NormalizedUrl url;
    net::IpAddress pinned;
    Done done;
    int64_t started_ms = 0;
    bool via_proxy = false;

    // The current attempt, filled by the callbacks.
    pb::HttpObservation obs;
    std::string refused_target;     // an address the policy refused
    std::string unexpected_target;  // neither the pinned address nor the proxy
    bool past_proxy = false;  // the tunnel stood: TLS or the request began
    bool header_too_large = false;
    size_t header_bytes = 0;
    uint64_t body_bytes = 0;
    bool expect_status_line = true;
    bool last_header_kept = false;  // continuation lines extend it
  };

  // A request waiting for a free slot.
  struct Request {
    ExchangeId id;
    net::NormalizedUrl url;
    net::IpAddress pinned;
    std::string user_agent;
    std::string referer;
    Done done;
  };

  explicit Impl(EventLoop* loop) : loop(loop) {}
  ~Impl();

  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* clientp,
                      void* socketp);
  static int OnTimer(CURLM* multi, long timeout_ms, void* clientp);
  static curl_socket_t OpenSocket(void* clientp, curlsocktype purpose,
                                  curl_sockaddr* address);
  static int CloseSocket(void* clientp, curl_socket_t fd);
  static int OnPrereq(void* clientp, char* primary_ip, char* local_ip,
                      int primary_port, int local_port);
  static size_t OnHeader(char* data, size_t size, size_t count, void* clientp);
  static size_t OnBody(char* data, size_t size, size_t count, void* clientp);
  static CURLcode OnSslContext(CURL* curl, void* ssl_ctx, void* clientp);
  static int OnPeerChain(X509_STORE_CTX* handshake, void* arg);

  // Records the handshake and the certificates the server sent, and
  // verifies them against `trust` for the URL's host.
  pb::TlsObservation Inspect(X509_STORE_CTX* handshake,
                             const net::NormalizedUrl& url) const;
  void Verify(X509* leaf, STACK_OF(X509) * sent, const net::NormalizedUrl& url,
              pb::TlsObservation* tls) const;

  // An idle transfer, or a new one; nullptr when libcurl or
  // OpenSSL fail.
  Transfer* Acquire();
  // A `done` about to run with its observation.
  struct Ended {
    ExchangeId id;
    Done done;  // empty once cancelled
    pb::HttpObservation obs;
  };

  // Starts the exchange in a free slot; one that cannot start fails with
  // "http_error" through FailLater.
  void Start(ExchangeId id, const net::NormalizedUrl& url,
             const net::IpAddress& pinned, const std::string& user_agent,
             const std::string& referer, Done done);
  bool Cancel(ExchangeId id);
  // (Re)starts the exchange of `t` through the proxy or directly; one that
  // libcurl refuses fails with "http_error" through FailLater.
  void Attempt(Transfer* t, bool via_proxy);
  // Starts waiting requests while slots are free.
  void StartWaiting();
  // Drives libcurl for `fd` (or its timeout), then finishes the exchanges
  // that completed and runs their callbacks.
  void Action(curl_socket_t fd, int mask);
  // Whether the exchange that ended with `code` failed in front of the
  // proxy (unreachable, refused or silent before the tunnel stood).
  bool ProxyFailed(const Transfer& t, CURLcode code) const;
  // Fills t->obs from the ended exchange.
  void Record(Transfer* t, CURLcode code) const;
  // Records the ended exchange of `t`, queues its callback in `finished`
  // and frees its slot.
  void Finish(Transfer* t, CURLcode code);
  // Back to `idle`, or freed; `t` must be out of the multi handle.
  void Recycle(Transfer* t);
  static constexpr size_t kMaxIdleTransfers = 256;
  static constexpr size_t kMaxReusedHeaderBytes = 16384;
  // Runs the callbacks in `finished`; stops when one destroys the prober.
  void RunFinished();
  // Runs `done(obs)` on the loop unless the prober is gone or the
  // exchange cancelled by then.
  void FailLater(ExchangeId id, Done done, pb::HttpObservation obs);

  HttpConfig config;
  net::TargetPolicy policy;
  EventLoop* loop;
  // SHA-256 for the header digests, fetched once (OpenSSL 3 looks up
  // EVP_sha256()'s implementation again on every EVP_DigestInit_ex);
  // declared before `transfers`, whose digest contexts use it.
  std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> sha256_md{nullptr,
                                                            &EVP_MD_free};
  CURLM* multi = nullptr;
  EventLoop::TimerId timer = 0;
  std::optional<net::IpAddress> proxy_ip;
  long proxy_type = CURLPROXY_HTTP;
  size_t max_in_flight = 1;
  size_t active = 0;
  bool closing = false;
  // While Action drives libcurl, descriptors it stops waiting on
  // (CURL_POLL_REMOVE) are unwatched only when Action ends, and only those
  // it did not close through CloseSocket meanwhile: libcurl closes an
  // answered or refused transfer's socket right after removing it, and
  // closing drops it from epoll without an epoll_ctl. libcurl before 8.2.0
  // closes a socket whose connect did not complete (timeout, cancel)
  // without CloseSocket and removes it afterwards: that one is unwatched
  // as before (an epoll_ctl on a closed descriptor, harmless).
  bool defer_unwatch = false;
  std::vector<curl_socket_t> removed;
  // Every transfer, by address; idle ones are also in `idle`.
  std::unordered_map<Transfer*, std::unique_ptr<Transfer>> transfers;
  std::vector<Transfer*> idle;
  std::deque<Request> waiting;
  ExchangeId next_id = 1;
  // Ended exchanges whose callbacks are about to run (reused buffer), and
  // the batch RunFinished is running (so that Cancel finds it).
  std::vector<Ended> finished;
  std::vector<Ended>* running = nullptr;
  bool run_scheduled = false;
  // Expires with the prober; deferred callbacks check it.
  std::shared_ptr<char> alive = std::make_shared<char>();
  // Set while RunFinished runs callbacks (which never nest: none of them
  // can drive libcurl), so that one destroying the prober stops the rest.
  bool* destroyed = nullptr;
  // The trust store of config.ca_file (or kSystemCaFile); nullptr when the
  // system store could not be loaded, trust_error then says why.
  std::string trust_path;
  std::shared_ptr<X509_STORE> trust;
  std::string trust_error;
};

HttpProber::Impl::~Impl() {
  closing = true;
  if (destroyed != nullptr) *destroyed = true;
  for (const auto& [address, t] : transfers) {
    if (t->in_multi) curl_multi_remove_handle(multi, t->easy);
  }
  transfers.clear();
  if (multi != nullptr) curl_multi_cleanup(multi);
  loop->Cancel(timer);
}

int HttpProber::Impl::OnSocket(CURL* /*easy*/, curl_socket_t fd, int what,
                               void* clientp, void* /*socketp*/) {
  auto* impl = static_cast<Impl*>(clientp);
  if (what == CURL_POLL_REMOVE) {
    if (impl->defer_unwatch) {
      impl->removed.push_back(fd);
    } else {
      impl->loop->Unwatch(fd);
    }
    return 0;
  }
  std::erase(impl->removed, fd);
  uint32_t interest = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
    interest |= EventLoop::kRead;
  }
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
    interest |= EventLoop::kWrite;
  }
  // A descriptor that cannot be watched ends by the transfer's timeout.
  (void)impl->loop->Watch(fd, interest, [impl, fd](uint32_t ready) {
    int mask = 0;
    if (ready & EventLoop::kRead) mask |= CURL_CSELECT_IN;
    if (ready & EventLoop::kWrite) mask |= CURL_CSELECT_OUT;
    impl->Action(fd, mask);
  });
  return 0;
}

int HttpProber::Impl::OnTimer(CURLM* /*multi*/, long timeout_ms,
                              void* clientp) {
  auto* impl = static_cast<Impl*>(clientp);
  impl->loop->Cancel(impl->timer);
  impl->timer = 0;
  if (timeout_ms >= 0 && !impl->closing) {
    impl->timer = impl->loop->After(timeout_ms, [impl] {
      impl->timer = 0;
      impl->Action(CURL_SOCKET_TIMEOUT, 0);
    });
  }
  return 0;
}

CURLcode HttpProber::Impl::OnSslContext(CURL* /*curl*/, void* ssl_ctx,
                                        void* clientp) {
  // TLS starts once the tunnel stands.
  static_cast<Transfer*>(clientp)->past_proxy = true;
  SSL_CTX_set_cert_verify_callback(static_cast<SSL_CTX*>(ssl_ctx),
                                   &Impl::OnPeerChain, clientp);
  return CURLE_OK;
}

int HttpProber::Impl::OnPeerChain(X509_STORE_CTX* handshake, void* arg) {
  auto* t = static_cast<Transfer*>(arg);
  // Errors of the inspection stay out of the handshake's error queue.
  ERR_set_mark();
  *t->obs.mutable_tls() = t->impl->Inspect(handshake, t->url);
  ERR_pop_to_mark();
  return 1;
}

pb::TlsObservation HttpProber::Impl::Inspect(
    X509_STORE_CTX* handshake, const net::NormalizedUrl& url) const {
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
  Verify(leaf, sent, url, &tls);
  return tls;
}

void HttpProber::Impl::Verify(X509* leaf, STACK_OF(X509) * sent,
                              const net::NormalizedUrl& url,
                              pb::TlsObservation* tls) const {
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

int HttpProber::Impl::CloseSocket(void* clientp, curl_socket_t fd) {
  auto* impl = static_cast<Impl*>(clientp);
  std::erase(impl->removed, fd);
  return impl->loop->Close(fd);
}

curl_socket_t HttpProber::Impl::OpenSocket(void* clientp,
                                           curlsocktype /*purpose*/,
                                           curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(clientp);
  const std::optional<net::IpAddress> ip =
      net::IpAddress::FromSockaddr(&address->addr);
  // Through the proxy the only socket goes to the proxy, which the
  // private-target rule exempts; the pinned address passed it in Head().
  const bool expected =
      ip && (t->via_proxy ? *ip == *t->impl->proxy_ip : *ip == t->pinned);
  if (!t->via_proxy && (!ip || !t->impl->policy.Permits(*ip))) {
    t->refused_target = ip ? ip->ToString() : "a non-IP address";
    return CURL_SOCKET_BAD;
  }
  if (!expected) {
    t->unexpected_target = ip ? ip->ToString() : "a non-IP address";
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC,
                address->protocol);
}

int HttpProber::Impl::OnPrereq(void* clientp, char* /*primary_ip*/,
                               char* /*local_ip*/, int /*primary_port*/,
                               int /*local_port*/) {
  static_cast<Transfer*>(clientp)->past_proxy = true;
  return CURL_PREREQFUNC_OK;
}

size_t HttpProber::Impl::OnHeader(char* data, size_t size, size_t count,
                                  void* clientp) {
  auto* t = static_cast<Transfer*>(clientp);
  const size_t length = size * count;
  if (t->header_bytes + length > t->impl->config.max_header_bytes) {
    t->header_too_large = true;
    return 0;
  }
  t->header_bytes += length;
  EVP_DigestUpdate(t->sha256, data, length);

  const std::string_view line(data, length);
  if (t->expect_status_line) {
    // Each response (interim ones included) starts afresh: only the final
    // response's headers are kept.
    t->expect_status_line = false;
    t->obs.clear_headers();
    t->last_header_kept = false;
    return length;
  }
  if (Trim(line).empty()) {
    t->expect_status_line = true;
    return length;
  }
  if (line.starts_with(' ') || line.starts_with('\t')) {
    if (t->last_header_kept) {
      std::string* value =
          t->obs.mutable_headers(t->obs.headers_size() - 1)->mutable_value();
      *value += ' ';
      *value += Trim(line);
    }
    return length;
  }
  const size_t colon = line.find(':');
  // Every header of the final response is kept: the whole block is bounded
  // by max_header_bytes, and CDN identifiers (cf-ray, x-amz-cf-id, ...) are
  // evidence.
  t->last_header_kept = colon != std::string_view::npos;
  if (t->last_header_kept) {
    pb::HttpHeader* header = t->obs.add_headers();
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    header->set_name(name.data(), name.size());
    header->set_value(value.data(), value.size());
  }
  return length;
}

size_t HttpProber::Impl::OnBody(char* /*data*/, size_t size, size_t count,
                                void* clientp) {
  static_cast<Transfer*>(clientp)->body_bytes += size * count;
  return 0;
}

HttpProber::Impl::Transfer* HttpProber::Impl::Acquire() {
  if (!idle.empty()) {
    Transfer* t = idle.back();
    idle.pop_back();
    return t;
  }
  auto owned = std::make_unique<Transfer>();
  Transfer* t = owned.get();
  t->impl = this;
  t->sha256 = EVP_MD_CTX_new();
  t->easy = curl_easy_init();
  CURL* curl = t->easy;
  if (curl == nullptr || t->sha256 == nullptr) return nullptr;
  curl_easy_setopt(curl, CURLOPT_PRIVATE, t);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // An explicit "" overrides no_proxy/NO_PROXY, which would otherwise
  // bypass the configured proxy; CURLOPT_PROXY ("" when direct) overrides
  // the other *_proxy variables.
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "");
  curl_easy_setopt(curl, CURLOPT_PROXYTYPE, proxy_type);
  // Plain http:// URLs are tunnelled too: the proxy only ever sees a
  // CONNECT to the pinned address.
  curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(curl, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  // CURLOPT_HTTPHEADER goes to the server only, never into a CONNECT.
  curl_easy_setopt(curl, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE);
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
  // verifies them with the shared store.
  curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(curl, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, &Impl::OnSslContext);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, t);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, t->error.data());
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &Impl::OpenSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, t);
  curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, &Impl::CloseSocket);
  curl_easy_setopt(curl, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, &Impl::OnPrereq);
  curl_easy_setopt(curl, CURLOPT_PREREQDATA, t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
  transfers.emplace(t, std::move(owned));
  return t;
}

void HttpProber::Impl::Start(ExchangeId id, const net::NormalizedUrl& url,
                             const net::IpAddress& pinned,
                             const std::string& user_agent,
                             const std::string& referer, Done done) {
  Transfer* t = Acquire();
  if (t == nullptr) {
    pb::HttpObservation obs;
    obs.set_method("HEAD");
    obs.set_request_url(url.url);
    obs.mutable_error()->set_error_class("http_error");
    obs.mutable_error()->set_message(
        "libcurl or OpenSSL could not be initialised");
    FailLater(id, std::move(done), std::move(obs));
    return;
  }
  ++active;
  t->id = id;
  t->url = url;
  t->pinned = pinned;
  t->done = std::move(done);
  t->started_ms = loop->Now();
  const std::string port = std::to_string(url.port);
  t->connect_to.clear();
  t->connect_to +=
      ConnectToHost(url.host, url.host_kind == net::HostKind::kIpv6);
  t->connect_to += ':';
  t->connect_to += port;
  t->connect_to += ':';
  t->connect_to += ConnectToHost(pinned.ToString(), !pinned.is_v4());
  t->connect_to += ':';
  t->connect_to += port;
  t->connect_to_node.data = t->connect_to.data();
  CURL* curl = t->easy;
  curl_easy_setopt(curl, CURLOPT_URL, t->url.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_TO, &t->connect_to_node);
  t->user_agent = user_agent.empty() ? config.user_agent : user_agent;
  size_t lines = 0;
  const auto add_line = [t, &lines](std::string_view name,
                                    std::string_view value) {
    if (value.empty()) return;
    std::string& line = t->header_lines[lines];
    line.assign(name);
    line += ": ";
    line += value;
    t->header_nodes[lines].data = line.data();
    t->header_nodes[lines].next = nullptr;
    if (lines > 0) t->header_nodes[lines - 1].next = &t->header_nodes[lines];
    ++lines;
  };
  t->agent_line = t->user_agent.find_first_not_of(" \t") != std::string::npos;
  if (t->agent_line) add_line("User-Agent", t->user_agent);
  add_line("Accept", "*/*");
  add_line("Referer", referer);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, &t->header_nodes[0]);
  Attempt(t, proxy_ip.has_value());
}

void HttpProber::Impl::Attempt(Transfer* t, bool via_proxy) {
  t->via_proxy = via_proxy;
  t->obs.Clear();
  t->refused_target.clear();
  t->unexpected_target.clear();
  t->past_proxy = false;
  t->header_too_large = false;
  t->header_bytes = 0;
  t->body_bytes = 0;
  t->expect_status_line = true;
  t->last_header_kept = false;
  t->error[0] = '\0';
  EVP_DigestInit_ex(t->sha256, sha256_md.get(), nullptr);
  CURL* curl = t->easy;
  curl_easy_setopt(curl, CURLOPT_PROXY, via_proxy ? config.proxy.c_str() : "");
  // The User-Agent of an HTTP CONNECT comes from CURLOPT_USERAGENT
  // (CURLOPT_HTTPHEADER only reaches the server: CURLHEADER_SEPARATE); the
  // server's comes from it only without an agent line.
  const bool agent_option =
      !t->user_agent.empty() && (via_proxy || !t->agent_line);
  curl_easy_setopt(curl, CURLOPT_USERAGENT,
                   agent_option ? t->user_agent.c_str() : nullptr);
  const CURLMcode code = curl_multi_add_handle(multi, curl);
  t->in_multi = code == CURLM_OK;
  if (t->in_multi) return;
  t->obs.set_method("HEAD");
  t->obs.set_request_url(t->url.url);
  t->obs.mutable_error()->set_error_class("http_error");
  t->obs.mutable_error()->set_message(std::string("libcurl: ") +
                                      curl_multi_strerror(code));
  FailLater(t->id, std::move(t->done), std::move(t->obs));
  Recycle(t);
  --active;
}

void HttpProber::Impl::StartWaiting() {
  while (active < max_in_flight && !waiting.empty()) {
    Request request = std::move(waiting.front());
    waiting.pop_front();
    Start(request.id, request.url, request.pinned, request.user_agent,
          request.referer, std::move(request.done));
  }
}

void HttpProber::Impl::Finish(Transfer* t, CURLcode code) {
  Record(t, code);
  finished.push_back(Ended{t->id, std::move(t->done), std::move(t->obs)});
  Recycle(t);
  --active;
}

void HttpProber::Impl::Recycle(Transfer* t) {
  t->id = 0;
  // libcurl keeps the buffers a handle grew (a hostile server's endless
  // headers make them large): such handles, and handles beyond what a
  // steady load reuses, are freed, so a burst does not pin memory.
  if (idle.size() < kMaxIdleTransfers &&
      t->header_bytes <= kMaxReusedHeaderBytes && !t->header_too_large) {
    idle.push_back(t);
  } else {
    transfers.erase(t);
  }
}

void HttpProber::Impl::RunFinished() {
  if (finished.empty() || running != nullptr) return;
  std::vector<Ended> batch;
  batch.swap(finished);
  bool gone = false;
  destroyed = &gone;
  running = &batch;
  for (Ended& ended : batch) {
    if (!ended.done) continue;  // cancelled
    Done done = std::move(ended.done);
    ended.done = nullptr;
    done(std::move(ended.obs));
    if (gone) return;
  }
  running = nullptr;
  destroyed = nullptr;
  batch.clear();
  // Else FailLater, called by the callbacks above, has scheduled a run.
  if (finished.empty()) finished.swap(batch);  // keeps the capacity
}

bool HttpProber::Impl::Cancel(ExchangeId id) {
  if (id == 0) return false;
  auto queued = std::find_if(waiting.begin(), waiting.end(),
                             [id](const Request& r) { return r.id == id; });
  if (queued != waiting.end()) {
    waiting.erase(queued);
    return true;
  }
  for (std::vector<Ended>* list : {&finished, running}) {
    if (list == nullptr) continue;
    for (Ended& ended : *list) {
      if (ended.id != id || !ended.done) continue;
      ended.done = nullptr;
      return true;
    }
  }
  for (auto it = transfers.begin(); it != transfers.end(); ++it) {
    Transfer* t = it->first;
    if (t->id != id) continue;
    if (t->in_multi) curl_multi_remove_handle(multi, t->easy);
    // A handle aborted mid-exchange is not reused.
    transfers.erase(it);
    --active;
    StartWaiting();
    return true;
  }
  return false;
}

bool HttpProber::Impl::ProxyFailed(const Transfer& t, CURLcode code) const {
  return t.via_proxy && code != CURLE_OK && !t.past_proxy &&
         t.unexpected_target.empty();
}

void HttpProber::Impl::Action(curl_socket_t fd, int mask) {
  int running = 0;
  defer_unwatch = true;
  curl_multi_socket_action(multi, fd, mask, &running);
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    const CURLcode code = message->data.result;
    Transfer* t = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &t);
    curl_multi_remove_handle(multi, t->easy);
    t->in_multi = false;
    // Without require_proxy a proxy that fails is passed by: the probe
    // goes out directly (recorded with proxy "").
    if (ProxyFailed(*t, code) && !config.require_proxy) {
      Attempt(t, false);
      continue;
    }
    Finish(t, code);
  }
  defer_unwatch = false;
  for (const curl_socket_t open : removed) loop->Unwatch(open);
  removed.clear();
  StartWaiting();
  RunFinished();
}

void HttpProber::Impl::Record(Transfer* t, CURLcode code) const {
  CURL* curl = t->easy;
  pb::HttpObservation& obs = t->obs;
  obs.set_method("HEAD");
  obs.set_request_url(t->url.url);
  obs.set_proxy(t->via_proxy ? config.proxy : "");
  obs.set_elapsed_ms(
      static_cast<uint32_t>(std::max<int64_t>(loop->Now() - t->started_ms, 0)));
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
  if (t->header_bytes > 0) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(t->sha256, digest.data(), &digest_size);
    obs.set_header_block_sha256(digest.data(), digest_size);
  }
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
  if (t->via_proxy) {
    // The socket's peer is the proxy; the address that answered is the
    // tunnel's end, the pinned one.
    if (t->past_proxy) {
      obs.set_connected_ip(t->pinned.ToString());
      obs.set_connected_port(t->url.port);
    }
  } else if (timings->connect_us() > 0) {
    char* ip = nullptr;
    long connected_port = 0;
    curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(curl, CURLINFO_PRIMARY_PORT, &connected_port);
    if (ip != nullptr) obs.set_connected_ip(ip);
    obs.set_connected_port(static_cast<uint32_t>(connected_port));
  }
  obs.set_body_bytes(t->body_bytes);

  auto fail = [&obs](std::string error_class, std::string message) {
    obs.mutable_error()->set_error_class(std::move(error_class));
    obs.mutable_error()->set_message(std::move(message));
  };
  const auto curl_message = [&] {
    return std::string(curl_easy_strerror(code)) +
           (t->error[0] != '\0' ? ": " + std::string(t->error.data()) : "");
  };
  if (t->body_bytes > 0) {
    fail("body_received", "the server sent " + std::to_string(t->body_bytes) +
                              " body bytes to HEAD; refused unread");
  } else if (!t->refused_target.empty()) {
    fail("refused_private_target",
         "connection to " + t->refused_target +
             " refused: not a public address and not allowlisted");
  } else if (!t->unexpected_target.empty()) {
    fail("http_error",
         "connection to " + t->unexpected_target + " refused: not the " +
             (t->via_proxy ? "proxy " + config.proxy
                           : "pinned address " + t->pinned.ToString()));
  } else if (t->header_too_large) {
    fail("header_too_large", "response header block exceeds " +
                                 std::to_string(config.max_header_bytes) +
                                 " bytes");
  } else if (code == CURLE_OK) {
    return;
  } else if (ProxyFailed(*t, code)) {
    fail("proxy_error", "proxy " + config.proxy + ": " + curl_message());
  } else if (IsHeaderLineTooLong(code)) {
    // libcurl refuses to buffer a header line (the status line too) beyond
    // CURL_MAX_HTTP_HEADER before OnHeader sees it; a real allocation
    // failure would be classed the same way. After ProxyFailed: such a line
    // in the proxy's own CONNECT answer is the proxy's failure.
    fail("header_too_large",
         "a response header line exceeds libcurl's limit of " +
             std::to_string(CURL_MAX_HTTP_HEADER) + " bytes (" +
             curl_message() + ")");
  } else if (code == CURLE_COULDNT_CONNECT) {
    fail("connection_refused", curl_message());
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    // A response that began (its status line arrived) but whose header
    // block did not end in time is a server that answers too slowly, not
    // one that does not answer.
    fail(t->header_bytes > 0 ? "header_timeout" : "http_timeout",
         curl_message());
  } else if (IsTlsError(code)) {
    fail("tls_error", curl_message());
  } else if ((code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR) &&
             OsErrno(curl) == ECONNRESET) {
    fail("connection_reset", curl_message());
  } else {
    fail("http_error", curl_message());
  }
}

void HttpProber::Impl::FailLater(ExchangeId id, Done done,
                                 pb::HttpObservation obs) {
  finished.push_back(Ended{id, std::move(done), std::move(obs)});
  if (run_scheduled) return;
  run_scheduled = true;
  loop->Defer([this, token = std::weak_ptr<char>(alive)] {
    if (token.expired()) return;
    run_scheduled = false;
    RunFinished();
  });
}

Result<std::unique_ptr<HttpProber>> HttpProber::Create(const HttpConfig& config,
                                                       net::TargetPolicy policy,
                                                       EventLoop* loop) {
  InitCurlOnce();
  if (loop == nullptr) return InvalidArgument("HttpProber needs an EventLoop");
  auto impl = std::make_unique<Impl>(loop);
  impl->config = config;
  impl->policy = std::move(policy);
  impl->max_in_flight = std::max<size_t>(config.max_in_flight, 1);
  if (!config.proxy.empty()) {
    impl->proxy_ip = ProxyAddress(config.proxy);
    if (!impl->proxy_ip) {
      return InvalidArgument("http.proxy \"" + config.proxy +
                             "\" is not \"http://IP:PORT\" or "
                             "\"socks5://IP:PORT\"");
    }
    // socks5:// (not socks5h://): the proxy gets the address, not a name.
    impl->proxy_type = config.proxy.starts_with("socks5://") ? CURLPROXY_SOCKS5
                                                             : CURLPROXY_HTTP;
  } else if (config.require_proxy) {
    return InvalidArgument(
        "http.require_proxy is true but http.proxy is empty");
  }
  impl->trust_path = config.ca_file.empty() ? kSystemCaFile : config.ca_file;
  impl->trust = SharedTrustStore(impl->trust_path, &impl->trust_error);
  if (impl->trust == nullptr && !config.ca_file.empty()) {
    return InvalidArgument("http.ca_file: " + impl->trust_error);
  }
  impl->sha256_md.reset(EVP_MD_fetch(nullptr, "SHA2-256", nullptr));
  if (impl->sha256_md == nullptr) {
    return Internal("OpenSSL: no SHA-256 implementation: " +
                    LastOpenSslError());
  }
  impl->multi = curl_multi_init();
  if (impl->multi == nullptr) {
    return Internal("libcurl: curl_multi_init failed");
  }
  CURLM* multi = impl->multi;
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, impl.get());
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, impl.get());
  // Connections are never reused (FORBID_REUSE): none is worth caching.
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 1L);
  std::unique_ptr<HttpProber> prober(new HttpProber());
  prober->impl_ = std::move(impl);
  return prober;
}

HttpProber::~HttpProber() = default;

HttpProber::ExchangeId HttpProber::Head(const net::NormalizedUrl& url,
                                        const net::IpAddress& pinned,
                                        const pb::RequestContext& context,
                                        Done done) {
  Impl& impl = *impl_;
  const ExchangeId id = impl.next_id++;
  if (!impl.policy.Permits(pinned)) {
    pb::HttpObservation obs;
    obs.set_method("HEAD");
    obs.set_request_url(url.url);
    obs.mutable_error()->set_error_class("refused_private_target");
    obs.mutable_error()->set_message(
        pinned.ToString() + " is " +
        std::string(net::AddressClassName(net::Classify(pinned))) +
        " and not allowlisted; not probed");
    impl.FailLater(id, std::move(done), std::move(obs));
    return id;
  }
  if (impl.waiting.empty() && impl.active < impl.max_in_flight) {
    impl.Start(id, url, pinned, context.user_agent(), context.referer(),
               std::move(done));
    return id;
  }
  impl.waiting.push_back(Impl::Request{id, url, pinned, context.user_agent(),
                                       context.referer(), std::move(done)});
  return id;
}

bool HttpProber::Cancel(ExchangeId id) { return impl_->Cancel(id); }

size_t HttpProber::in_flight() const { return impl_->active; }

size_t HttpProber::waiting() const { return impl_->waiting.size(); }

}  // namespace hl::worker
