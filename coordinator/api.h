// The coordinator's HTTP/JSON API (docs/api.md): submit batches, follow
// their status, page through results, stream exports, health and
// Prometheus metrics. Served by cpp-httplib on a bounded pool of threads
// (HTTPS when a certificate and key are configured), bound to loopback by
// default. Every endpoint but /api/v1/health needs a bearer token whose
// roles allow it (coordinator/tokens.h); refusals are logged and audited,
// as is each submission and export. Each export is hash-chained and its
// manifest signed (coordinator/export_evidence.h): the response names the
// export in the X-Hostlocator-Export header, and GET
// /api/v1/exports/ID/manifest answers the signed manifest once the export
// was sent whole. Handlers share the Store with the
// broker thread (the Store is thread-safe) and read the broker's figures
// through `figures`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/history.h"
#include "common/status.h"
#include "coordinator/broker.h"
#include "coordinator/store.h"

namespace httplib {
class Server;
}

namespace hl::coordinator {

struct ApiOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 8480;  // 0: any free port (see ApiServer::port())
  // Both set: HTTPS; both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tokens_file;  // mode 0600; re-read when it changes
  std::string data_dir;     // measured for hostlocator_store_bytes; may be ""
  size_t max_request_bytes = size_t{256} << 20;  // larger: 413
  uint32_t threads = 8;                          // request threads
  uint32_t max_queued = 64;  // accepted connections waiting for a thread
  uint32_t read_timeout_ms = 30000;
  uint32_t write_timeout_ms = 30000;
  std::string config_digest;  // recorded in each submitted batch
  HistorySettings history;    // results, history and takedown figures
  // The Ed25519 key that signs export manifests (common/signing.h); created
  // with its .pub on the first export when missing. "" with a data_dir:
  // DATA/signing.key.
  std::string signing_key_file;
};

// The broker's figures, read on an API thread.
using FiguresSource = std::function<BrokerSnapshot()>;

class ApiServer {
 public:
  ApiServer(Store* store, FiguresSource figures, ApiOptions options,
            Clock clock);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Loads the tokens, binds and serves on a thread of its own. Errors say
  // what to fix (token file mode, certificate, address in use).
  Status Start();
  // Stops accepting, finishes the requests under way and joins.
  void Stop();
  // The bound port (the chosen one when options.port was 0).
  uint16_t port() const { return port_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace hl::coordinator
