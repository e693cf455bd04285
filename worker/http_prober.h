// Asynchronous HEAD probes over libcurl's multi interface, driven by an
// EventLoop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and
// curl_multi_socket_action).
#pragma once

#include <cstddef>
#include <cstdint>
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
// the URL's host) on a fresh connection, without following redirects. The
// request's header lines are Host, User-Agent, "Accept: */*" and Referer,
// in that order (libcurl's own; a CONNECT carries only the User-Agent).
// The only socket ever opened is to `pinned` (or, with http.proxy, to the
// proxy), and only when the policy permits it (the proxy's address is
// exempt; the pinned address must pass it with a proxy too). Records
// status, version, every header of the final response (names as sent, in
// order, repeats kept; bounded by max_header_bytes), the SHA-256 of the raw
// header block (every header byte received, interim responses included;
// with "header_too_large", the header lines that fitted in
// max_header_bytes), the connected address, body_bytes (0), the proxy and
// the stage timings (libcurl's CURLINFO_*_TIME_T). Error classes:
// "connection_refused", "connection_reset", "refused_private_target",
// "http_timeout", "header_timeout", "tls_error", "header_too_large",
// "body_received", "proxy_error", "http_error". The *_proxy and no_proxy
// environment variables are never read.
//
// Egress proxy (http.proxy): "http://IP:PORT" is an HTTP CONNECT tunnel,
// also for http:// URLs; "socks5://IP:PORT" is SOCKS5 with an address
// (never a name). Either is handed the pinned address and port, never the
// host name (CURLOPT_CONNECT_TO: libcurl 7.88 sends "CONNECT IP:PORT" with
// "Host: IP:PORT", and a SOCKS5 request of address type IPv4/IPv6); TLS
// inside the tunnel still sends the URL's host as SNI and is verified
// against it. The proxy's response to CONNECT is not recorded. With a
// proxy, `connected_ip`/`connected_port` are the tunnel's end (the pinned
// address, once the tunnel stood) and timings.connect_us is the TCP
// connection to the proxy. "proxy_error": the exchange failed before the
// tunnel stood (proxy unreachable or silent, tunnel refused, also when the
// proxy reports the target unreachable). Then, unless http.require_proxy,
// the same exchange is made once more directly, recorded with proxy ""
// (its elapsed_ms counts both attempts); with require_proxy nothing ever
// connects directly.
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
// and start in the order Head was called (their wait is not part of
// elapsed_ms). Not thread-safe: one prober per EventLoop thread.
class HttpProber {
 public:
  // Handed over as an rvalue, as Prober::Done.
  using Done = std::function<void(pb::HttpObservation&&)>;
  // Names an exchange of Head until its `done` runs or it is cancelled;
  // never 0, never reused by this prober.
  using ExchangeId = uint64_t;

  // Fails when libcurl cannot be initialised (kInternal); with
  // kInvalidArgument naming the setting when the trust store of an
  // explicitly configured http.ca_file cannot be loaded (the system store
  // failing leaves probes unverified, the reason in verify_error), when
  // http.proxy is not canonical or when require_proxy has no proxy.
  // `loop` must outlive the prober.
  static Result<std::unique_ptr<HttpProber>> Create(const HttpConfig& config,
                                                    net::TargetPolicy policy,
                                                    EventLoop* loop);
  // Abandons every exchange in flight or waiting: their callbacks never
  // run (nor those of exchanges that finished in the same turn, when a
  // callback destroys the prober).
  ~HttpProber();

  // `context` supplies the Referer (none when empty) and the User-Agent
  // (the configured one when empty). `done` runs exactly once, on the
  // loop, never inside Head; it may call Head and may destroy the prober.
  ExchangeId Head(const net::NormalizedUrl& url, const net::IpAddress& pinned,
                  const pb::RequestContext& context, Done done);
  // Ends the exchange `id` now: its `done` never runs; waiting, it leaves
  // the queue; under way, its transfer is aborted (the connection closed)
  // and its slot goes to the next one waiting. False for an unknown id or
  // one whose `done` has run. Any callback on the loop may call it, a
  // `done` of this prober's included.
  bool Cancel(ExchangeId id);

  size_t in_flight() const;
  size_t waiting() const;

 private:
  HttpProber() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hl::worker
