// The coordinator's ZAP handler (ZeroMQ RFC 27): with CURVE on, libzmq asks
// it about every worker handshake on inproc://zeromq.zap.01, and it admits
// only the configured worker public keys. Refusals are logged with the
// key's fingerprint and the peer's address, never a secret.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>

#include "common/status.h"

namespace hl::coordinator {

// The reply to one ZAP request (the frames of RFC 27 after the delimiter):
// "200" with the key's fingerprint as user id, "400" for an unknown key,
// "500" for a request that is not a well-formed ZAP 1.0 CURVE request.
struct ZapReply {
  std::string request_id;
  std::string status_code;
  std::string status_text;
  std::string user_id;
};
// Pure: `authorized` holds the 32-byte raw public keys.
ZapReply DecideZap(const std::vector<std::string>& frames,
                   const std::unordered_set<std::string>& authorized);

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context` (before any CURVE socket of
  // that context binds) and serves on its own thread until destroyed.
  // `authorized` holds Z85 public keys.
  static Result<std::unique_ptr<ZapHandler>> Start(
      zmq::context_t* context, const std::vector<std::string>& authorized);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  uint64_t refused() const { return refused_.load(); }

 private:
  ZapHandler(zmq::socket_t socket, std::unordered_set<std::string> authorized);
  void Serve();

  zmq::socket_t socket_;
  std::unordered_set<std::string> authorized_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace hl::coordinator
