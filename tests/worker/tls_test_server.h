// TLS for the worker tests: certificates made at test time with the OpenSSL
// API (EC P-256) and a TLS server on a loopback address that answers each
// request with fixed bytes. The server runs on its own thread and stops in
// its destructor.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/worker/loopback_servers.h"

namespace hl::worker::testing {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using CertPtr = std::unique_ptr<X509, X509Free>;

// A certificate and its key.
struct TestCert {
  CertPtr cert;
  KeyPtr key;

  // The DER encoding, as sent in a handshake.
  std::string Der() const {
    unsigned char* der = nullptr;
    const int size = i2d_X509(cert.get(), &der);
    std::string bytes(reinterpret_cast<const char*>(der),
                      static_cast<size_t>(size > 0 ? size : 0));
    OPENSSL_free(der);
    return bytes;
  }

  std::string Pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(size));
    BIO_free(bio);
    return pem;
  }
};

struct CertSpec {
  std::string common_name = "";
  std::string alt_names = "";  // subjectAltName, e.g. "DNS:a.test,IP:::1"
  bool ca = false;
  long serial = 1;
  long not_before_offset_s = -3600;  // from now
  long not_after_offset_s = 86400;
};

// Makes a certificate for `spec` with a new P-256 key, signed by `issuer`
// (self-signed when nullptr).
inline TestCert MakeCert(const CertSpec& spec, const TestCert* issuer) {
  TestCert out;
  out.key.reset(EVP_EC_gen("P-256"));
  out.cert.reset(X509_new());
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), spec.serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), spec.not_before_offset_s);
  X509_gmtime_adj(X509_getm_notAfter(cert), spec.not_after_offset_s);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
      name, "O", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>("hostlocator test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1,
      0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert;
  EVP_PKEY* issuer_key = issuer != nullptr ? issuer->key.get() : out.key.get();
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  X509_set_pubkey(cert, out.key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, cert, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (spec.ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
  if (!spec.alt_names.empty()) add(NID_subject_alt_name, spec.alt_names);
  X509_sign(cert, issuer_key, EVP_sha256());
  return out;
}

// Accepts connections one after the other on `ip`, does the TLS handshake
// with `chain` (leaf first) and answers the request's header block with
// `response`. A failed handshake ends the connection.
class TlsTestServer {
 public:
  // nullptr when `ip` cannot be bound or the chain is not usable.
  static std::unique_ptr<TlsTestServer> Start(
      const std::string& ip, const std::vector<const TestCert*>& chain,
      std::string response) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr || chain.empty() ||
        SSL_CTX_use_certificate(ctx, chain[0]->cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, chain[0]->key.get()) != 1) {
      SSL_CTX_free(ctx);
      return nullptr;
    }
    for (size_t i = 1; i < chain.size(); ++i) {
      SSL_CTX_add1_chain_cert(ctx, chain[i]->cert.get());
    }
    uint16_t port = 0;
    const int fd = BindLoopback(ip, SOCK_STREAM, &port);
    if (fd < 0 || listen(fd, 16) != 0) {
      if (fd >= 0) close(fd);
      SSL_CTX_free(ctx);
      return nullptr;
    }
    std::unique_ptr<TlsTestServer> server(
        new TlsTestServer(port, fd, ctx, std::move(response)));
    server->thread_ = std::thread([s = server.get()] { s->Serve(); });
    return server;
  }

  ~TlsTestServer() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    close(listen_fd_);
    close(wake_fd_);
    SSL_CTX_free(ctx_);
  }

  uint16_t port() const { return port_; }
  // Completed handshakes, and those of them that resumed a session.
  int handshakes() const { return handshakes_; }
  int resumed() const { return resumed_; }

 private:
  TlsTestServer(uint16_t port, int fd, SSL_CTX* ctx, std::string response)
      : port_(port),
        listen_fd_(fd),
        wake_fd_(eventfd(0, EFD_CLOEXEC)),
        ctx_(ctx),
        response_(std::move(response)) {}

  void Serve() {
    while (WaitFor(listen_fd_, POLLIN, wake_fd_)) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        if (SSL_session_reused(ssl) == 1) ++resumed_;
        ServeConnection(ssl, fd);
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      close(fd);
    }
  }

  void ServeConnection(SSL* ssl, int fd) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (SSL_pending(ssl) == 0 && !WaitFor(fd, POLLIN, wake_fd_)) return;
      const int n = SSL_read(ssl, buffer, sizeof(buffer));
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    SSL_write(ssl, response_.data(), static_cast<int>(response_.size()));
  }

  const uint16_t port_;
  const int listen_fd_;
  const int wake_fd_;
  SSL_CTX* const ctx_;
  const std::string response_;
  std::atomic<int> handshakes_{0};
  std::atomic<int> resumed_{0};
  std::thread thread_;
};

}  // namespace hl::worker::testing
