// Asynchronous HEAD probes over libcurl's multi interface, driven by an
// EventLoop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and
// curl_multi_socket_action).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/net/ip.h"
#include "common/net/url.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "worker/event_loop.h"

namespace hl::worker {

namespace pb = ::hostlocator::v1;

// Sends one HEAD for `url` to `pinned` (the TLS name and Host header stay
// the URL's host) on a fresh connection, without following redirects.
// The only socket ever opened is to `pinned` (or, with http.proxy, to the
// proxy, which is handed the pinned address and never the name), and only
// when the policy permits it (the proxy's address is exempt). Records
// status, version, every header of the final response (names as sent, in
// order, repeats kept; bounded by max_header_bytes), the SHA-256 of the raw
// header block (every header byte received, interim responses included;
// with "header_too_large", the header lines that fitted in
// max_header_bytes), the connected address, body_bytes (0), the proxy and
// the stage timings (libcurl's CURLINFO_*_TIME_T). Error classes:
// "connection_refused", "refused_private_target", "http_timeout",
// "tls_error", "header_too_large", "body_received", "proxy_error",
// "http_error". The *_proxy environment variables are never read.
//
// TLS: libcurl's own verification is off, so a bad certificate never stops
// the probe; the prober verifies by itself and records the result. A
// CURLOPT_SSL_CTX_FUNCTION installs SSL_CTX_set_cert_verify_callback, which
// OpenSSL calls during every handshake (whatever the verify mode) with the
// chain exactly as the server sent it, while the connection is alive:
// there the protocol, cipher, the leaf's details and each sent
// certificate's SHA-256 are recorded, and the chain is checked with
// X509_verify_cert (purpose "ssl_server", the URL's host or IP literal as
// the expected name) against the trust store of HttpConfig::ca_file (or
// kSystemCaFile), loaded once and shared by the HttpProbers of the process.
// The callback always accepts. HttpObservation.tls is set whenever the
// server presented a certificate, also when the handshake failed after it.
// TLS sessions are not reused, so every probe sees a full handshake.
//
// At most http.max_in_flight exchanges run at once; further requests wait
// in FIFO order (their wait is not part of elapsed_ms).
class HttpProber {
 public:
  using Done = std::function<void(pb::HttpObservation)>;

  // Fails when libcurl cannot be initialised, or when the trust store of
  // an explicitly configured http.ca_file cannot be loaded (the system
  // store failing leaves probes unverified, the reason in verify_error).
  // `loop` must outlive the prober.
  static Result<std::unique_ptr<HttpProber>> Create(const HttpConfig& config,
                                                    net::TargetPolicy policy,
                                                    EventLoop* loop);
  // Abandons every exchange in flight: their callbacks never run.
  ~HttpProber();

  // `context` supplies the Referer (none when empty) and the User-Agent
  // (the configured one when empty). `done` runs exactly once, on the
  // loop, never inside Head.
  void Head(const net::NormalizedUrl& url, const net::IpAddress& pinned,
            const pb::RequestContext& context, Done done);

  size_t in_flight() const;
  size_t waiting() const;

 private:
  HttpProber() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hl::worker
