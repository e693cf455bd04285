#include "coordinator/zap.h"

#include <spdlog/spdlog.h>
#include <zmq.h>

#include <zmq_addon.hpp>

#include "common/curve.h"

namespace hl::coordinator {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
// How often the serving thread looks at the stop flag.
constexpr int kPollMs = 100;

}  // namespace

ZapReply DecideZap(const std::vector<std::string>& frames,
                   const std::unordered_set<std::string>& authorized) {
  // version, request id, domain, address, routing id, mechanism, key.
  ZapReply reply;
  if (frames.size() >= 2) reply.request_id = frames[1];
  if (frames.size() != 7 || frames[0] != "1.0") {
    reply.status_code = "500";
    reply.status_text = "malformed ZAP request";
    return reply;
  }
  if (frames[5] != "CURVE" || frames[6].size() != 32) {
    reply.status_code = "400";
    reply.status_text = "CURVE required";
    return reply;
  }
  if (!authorized.contains(frames[6])) {
    reply.status_code = "400";
    reply.status_text = "key not authorised";
    return reply;
  }
  reply.status_code = "200";
  reply.status_text = "OK";
  reply.user_id = KeyFingerprint(frames[6]);
  return reply;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t* context, const std::vector<std::string>& authorized) {
  std::unordered_set<std::string> raw_keys;
  for (const std::string& z85 : authorized) {
    std::string raw(32, '\0');
    if (zmq_z85_decode(reinterpret_cast<uint8_t*>(raw.data()), z85.c_str()) ==
        nullptr) {
      return InvalidArgument("not a Z85 public key: " + z85);
    }
    raw_keys.insert(std::move(raw));
  }
  try {
    zmq::socket_t socket(*context, zmq::socket_type::rep);
    socket.set(zmq::sockopt::linger, 0);
    socket.bind(kZapEndpoint);
    return std::unique_ptr<ZapHandler>(
        new ZapHandler(std::move(socket), std::move(raw_keys)));
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("cannot start the ZAP handler: ") +
                       e.what());
  }
}

ZapHandler::ZapHandler(zmq::socket_t socket,
                       std::unordered_set<std::string> authorized)
    : socket_(std::move(socket)), authorized_(std::move(authorized)) {
  thread_ = std::thread([this] { Serve(); });
}

ZapHandler::~ZapHandler() {
  stop_.store(true);
  thread_.join();
}

void ZapHandler::Serve() {
  while (!stop_.load()) {
    std::vector<zmq::message_t> request;
    try {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(kPollMs));
      if ((item.revents & ZMQ_POLLIN) == 0) continue;
      if (!zmq::recv_multipart(socket_, std::back_inserter(request))) continue;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("ZAP handler stopped: {}", e.what());
      return;
    }
    std::vector<std::string> frames;
    for (const auto& m : request) frames.push_back(m.to_string());
    const ZapReply reply = DecideZap(frames, authorized_);
    if (reply.status_code != "200") {
      ++refused_;
      spdlog::warn("refused a worker from {}: {} (CURVE key fingerprint {})",
                   frames.size() > 3 ? frames[3] : "?", reply.status_text,
                   frames.size() > 6 ? KeyFingerprint(frames[6]) : "none");
    }
    const std::string parts[] = {"1.0",
                                 reply.request_id,
                                 reply.status_code,
                                 reply.status_text,
                                 reply.user_id,
                                 ""};
    try {
      for (size_t i = 0; i < std::size(parts); ++i) {
        socket_.send(zmq::buffer(parts[i]), i + 1 < std::size(parts)
                                                ? zmq::send_flags::sndmore
                                                : zmq::send_flags::none);
      }
    } catch (const zmq::error_t& e) {
      spdlog::warn("ZAP reply failed: {}", e.what());
    }
  }
}

}  // namespace hl::coordinator
