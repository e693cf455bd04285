// Real servers on loopback addresses for the worker tests: a raw HTTP server
// that sends exactly the bytes it is given (bodies to HEAD included) and a
// UDP and TCP DNS server with canned answers built on the wire format. Each
// binds port 0 on the address it is given, serves from its own thread and stops
// in its destructor.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hl::worker::testing {

// A bound socket on `ip` (IPv4 or IPv6 text), port `want_port` (0: any,
// the one bound is stored in `port`); -1 on failure.
inline int BindLoopback(const std::string& ip, int type, uint16_t* port,
                        uint16_t want_port = 0) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(want_port);
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(want_port);
    length = sizeof(sockaddr_in6);
  } else {
    return -1;
  }
  const int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

// "ip:port", or "[ip]:port" for IPv6.
inline std::string HostPort(const std::string& ip, uint16_t port) {
  const bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

// Waits until `fd` has `events` or `wake` is signalled; true for `fd`.
inline bool WaitFor(int fd, short events, int wake) {
  for (;;) {
    pollfd fds[2] = {{fd, events, 0}, {wake, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents != 0) return false;
    if (fds[0].revents != 0) return true;
  }
}

// Accepts connections one after the other. Each gets `response` verbatim,
// after the request's header block (kAfterRequest), after its first bytes
// whatever they are (kOnFirstBytes, e.g. a TLS ClientHello), or never
// (kNever); then the server waits for the client to close.
class HttpTestServer {
 public:
  enum class Reply { kAfterRequest, kOnFirstBytes, kNever };

  // nullptr when `ip` cannot be bound.
  static std::unique_ptr<HttpTestServer> Start(
      const std::string& ip, std::string response,
      Reply reply = Reply::kAfterRequest) {
    uint16_t port = 0;
    const int fd = BindLoopback(ip, SOCK_STREAM, &port);
    if (fd < 0) return nullptr;
    if (listen(fd, 16) != 0) {
      close(fd);
      return nullptr;
    }
    std::unique_ptr<HttpTestServer> server(
        new HttpTestServer(ip, port, fd, std::move(response), reply));
    server->thread_ = std::thread([s = server.get()] { s->Serve(); });
    return server;
  }

  ~HttpTestServer() {
    Stop();
    close(listen_fd_);
    close(wake_fd_);
  }

  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }

  // Stops serving. Connections still in the listen backlog count as
  // accepted, so accepted() after Stop() is every connection ever made.
  void Stop() {
    if (!thread_.joinable()) return;
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
    for (int fd; (fd = accept(listen_fd_, nullptr, nullptr)) >= 0;) {
      ++accepted_;
      close(fd);
    }
  }

  int accepted() const { return accepted_; }

  // The bytes of the first request received.
  std::string first_request() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_request_;
  }

 private:
  HttpTestServer(std::string ip, uint16_t port, int fd, std::string response,
                 Reply reply)
      : ip_(std::move(ip)),
        port_(port),
        listen_fd_(fd),
        wake_fd_(eventfd(0, EFD_CLOEXEC)),
        response_(std::move(response)),
        reply_(reply) {}

  void Serve() {
    while (WaitFor(listen_fd_, POLLIN, wake_fd_)) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      ServeConnection(fd);
      close(fd);
    }
  }

  void ServeConnection(int fd) {
    std::string request;
    std::array<char, 4096> buffer;
    bool replied = false;
    while (WaitFor(fd, POLLIN, wake_fd_)) {
      const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) return;
      request.append(buffer.data(), static_cast<size_t>(n));
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (accepted_ == 1) first_request_ = request;
      }
      const bool complete = (reply_ == Reply::kAfterRequest &&
                             request.find("\r\n\r\n") != std::string::npos) ||
                            reply_ == Reply::kOnFirstBytes;
      if (complete && !replied) {
        replied = true;
        SendAll(fd);
      }
    }
  }

  void SendAll(int fd) {
    size_t sent = 0;
    while (sent < response_.size()) {
      const ssize_t n = send(fd, response_.data() + sent,
                             response_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  const std::string ip_;
  const uint16_t port_;
  const int listen_fd_;
  const int wake_fd_;
  const std::string response_;
  const Reply reply_;
  std::atomic<int> accepted_{0};
  mutable std::mutex mutex_;
  std::string first_request_;
  std::thread thread_;
};

// A DNS server with canned answers, over UDP and TCP on one port. A name
// with a forced rcode answers every type with it and no records; a (name,
// type) with records answers NOERROR with them; a known name without
// records of the asked type answers NOERROR with none; an unknown name
// answers NXDOMAIN. Names compare case-insensitively. The owner of an
// answer record equal to the question name is written as a compression
// pointer to it, as servers do. Answers can be delayed (queries keep being
// read meanwhile) and UDP answers with records truncated.
class DnsTestServer {
 public:
  static constexpr uint16_t kA = 1;
  static constexpr uint16_t kNs = 2;
  static constexpr uint16_t kCname = 5;
  static constexpr uint16_t kPtr = 12;
  static constexpr uint16_t kAaaa = 28;
  static constexpr uint8_t kServFail = 2;
  static constexpr uint8_t kNxDomain = 3;
  static constexpr uint8_t kRefused = 5;

  struct Rr {
    std::string owner;
    uint16_t type;
    uint32_t ttl;
    std::string rdata;  // wire format
  };
  static Rr A(std::string owner, const std::string& ip, uint32_t ttl) {
    std::string rdata(4, '\0');
    inet_pton(AF_INET, ip.c_str(), rdata.data());
    return {std::move(owner), kA, ttl, rdata};
  }
  static Rr Aaaa(std::string owner, const std::string& ip, uint32_t ttl) {
    std::string rdata(16, '\0');
    inet_pton(AF_INET6, ip.c_str(), rdata.data());
    return {std::move(owner), kAaaa, ttl, rdata};
  }
  static Rr Cname(std::string owner, const std::string& target, uint32_t ttl) {
    return {std::move(owner), kCname, ttl, EncodeName(target)};
  }
  static Rr Ns(std::string owner, const std::string& server, uint32_t ttl) {
    return {std::move(owner), kNs, ttl, EncodeName(server)};
  }
  static Rr Ptr(std::string owner, const std::string& name, uint32_t ttl) {
    return {std::move(owner), kPtr, ttl, EncodeName(name)};
  }

  // nullptr when `ip` cannot be bound.
  static std::unique_ptr<DnsTestServer> Start(const std::string& ip) {
    // The TCP port is the UDP one, which another socket may hold already.
    for (int attempt = 0; attempt < 16; ++attempt) {
      uint16_t port = 0;
      const int fd = BindLoopback(ip, SOCK_DGRAM, &port);
      if (fd < 0) return nullptr;
      uint16_t tcp_port = 0;
      const int tcp_fd = BindLoopback(ip, SOCK_STREAM, &tcp_port, port);
      if (tcp_fd < 0 || listen(tcp_fd, 16) != 0) {
        if (tcp_fd >= 0) close(tcp_fd);
        close(fd);
        continue;
      }
      std::unique_ptr<DnsTestServer> server(
          new DnsTestServer(ip, port, fd, tcp_fd));
      server->thread_ = std::thread([s = server.get()] { s->Serve(); });
      return server;
    }
    return nullptr;
  }

  ~DnsTestServer() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    close(fd_);
    close(tcp_fd_);
    close(wake_fd_);
  }

  // "ip:port", as ResolverConfig::servers spells it.
  std::string address() const { return HostPort(ip_, port_); }

  void Answer(const std::string& name, uint16_t type, std::vector<Rr> rrs) {
    std::lock_guard<std::mutex> lock(mutex_);
    records_[{Lower(name), type}] = std::move(rrs);
    names_.insert(Lower(name));
  }
  void Rcode(const std::string& name, uint8_t rcode) {
    std::lock_guard<std::mutex> lock(mutex_);
    rcodes_[Lower(name)] = rcode;
  }
  // The next `n` queries are read and not answered.
  void DropNext(int n) { drop_ = n; }
  // Answers name the question `name` instead of the one asked, as a
  // confused or spoofing server would.
  void EchoQuestionAs(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    echo_question_as_ = name;
  }

  // Each answer is sent `ms` after its query arrived.
  void DelayAnswers(int ms) { delay_ms_ = ms; }
  // UDP answers with records carry the TC bit and none of them, as when
  // they do not fit in 512 bytes; TCP answers are whole.
  void TruncateUdp(bool truncate) { truncate_udp_ = truncate; }

  // Queries received, over UDP and TCP.
  int queries() const { return queries_; }
  int tcp_queries() const { return tcp_queries_; }
  // The most queries held at once between their arrival and their answer
  // (dropped ones excluded).
  int max_outstanding() const { return max_outstanding_; }
  // The first kKeptResponses messages sent, in order (a bounded log, so a
  // load of thousands of queries does not grow the test's own memory).
  static constexpr size_t kKeptResponses = 256;
  std::vector<std::string> responses() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return responses_;
  }

 private:
  // An answer waiting for its time: to `tcp_fd`, else to `peer` over UDP.
  struct Pending {
    std::chrono::steady_clock::time_point due;
    std::string response;
    int tcp_fd = -1;
    sockaddr_storage peer{};
    socklen_t peer_length = 0;
  };

  // An accepted TCP connection and the bytes read from it.
  struct Connection {
    int fd;
    std::string input;
  };

  DnsTestServer(std::string ip, uint16_t port, int fd, int tcp_fd)
      : ip_(std::move(ip)),
        port_(port),
        fd_(fd),
        tcp_fd_(tcp_fd),
        wake_fd_(eventfd(0, EFD_CLOEXEC)) {}

  static std::string Lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
      return static_cast<char>(std::tolower(c));
    });
    return s;
  }

  static std::string EncodeName(const std::string& name) {
    std::string wire;
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      wire += static_cast<char>(dot - start);
      wire += name.substr(start, dot - start);
      start = dot + 1;
    }
    return wire + '\0';
  }

  static void Put16(std::string* out, uint16_t v) {
    out->push_back(static_cast<char>(v >> 8));
    out->push_back(static_cast<char>(v & 0xff));
  }

  // The question name (lower case) and the offset just past the question;
  // nullopt for a message that is not one plain question.
  static std::optional<std::pair<std::string, size_t>> ReadQuestion(
      const std::string& query) {
    if (query.size() < 12) return std::nullopt;
    std::string name;
    size_t pos = 12;
    while (pos < query.size() && query[pos] != 0) {
      const size_t length = static_cast<unsigned char>(query[pos]);
      if (length > 63 || pos + 1 + length > query.size()) return std::nullopt;
      if (!name.empty()) name += '.';
      name += query.substr(pos + 1, length);
      pos += 1 + length;
    }
    if (pos + 5 > query.size()) return std::nullopt;
    return std::make_pair(Lower(name), pos + 5);
  }

  std::string Respond(const std::string& query, bool tcp) {
    const auto question = ReadQuestion(query);
    if (!question) return "";
    const auto& [name, end] = *question;
    const uint16_t type = static_cast<uint16_t>(
        (static_cast<unsigned char>(query[end - 4]) << 8) |
        static_cast<unsigned char>(query[end - 3]));
    std::lock_guard<std::mutex> lock(mutex_);
    uint8_t rcode = 0;
    std::vector<Rr> rrs;
    if (auto forced = rcodes_.find(name); forced != rcodes_.end()) {
      rcode = forced->second;
    } else if (auto found = records_.find({name, type});
               found != records_.end()) {
      rrs = found->second;
    } else if (!names_.contains(name)) {
      rcode = kNxDomain;
    }
    const bool truncate = truncate_udp_ && !tcp && !rrs.empty();
    if (truncate) rrs.clear();
    std::string response = query.substr(0, 2);  // id
    // QR AA (TC) RD
    response +=
        static_cast<char>(0x84 | (truncate ? 0x02 : 0) | (query[2] & 0x01));
    response += static_cast<char>(0x80 | rcode);  // RA rcode
    Put16(&response, 1);
    Put16(&response, static_cast<uint16_t>(rrs.size()));
    Put16(&response, 0);
    Put16(&response, 0);
    response += echo_question_as_.empty() ? query.substr(12, end - 16)
                                          : EncodeName(echo_question_as_);
    response += query.substr(end - 4, 4);
    for (const Rr& rr : rrs) {
      if (Lower(rr.owner) == name) {
        response += "\xc0\x0c";
      } else {
        response += EncodeName(rr.owner);
      }
      Put16(&response, rr.type);
      Put16(&response, 1);  // IN
      Put16(&response, static_cast<uint16_t>(rr.ttl >> 16));
      Put16(&response, static_cast<uint16_t>(rr.ttl & 0xffff));
      Put16(&response, static_cast<uint16_t>(rr.rdata.size()));
      response += rr.rdata;
    }
    if (responses_.size() < kKeptResponses) responses_.push_back(response);
    return response;
  }

  // Reads one query; its answer joins pending_ unless it is dropped.
  void Receive(const std::string& query, Pending pending) {
    ++queries_;
    if (pending.tcp_fd >= 0) ++tcp_queries_;
    if (drop_ > 0) {
      --drop_;
      return;
    }
    pending.response = Respond(query, pending.tcp_fd >= 0);
    if (pending.response.empty()) return;
    pending.due = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(delay_ms_.load());
    pending_.push_back(std::move(pending));
    max_outstanding_ =
        std::max(max_outstanding_.load(), static_cast<int>(pending_.size()));
  }

  // Sends the answers that are due (all delays are equal: pending_ is in
  // due order); the milliseconds until the next one, or -1.
  int SendDue() {
    const auto now = std::chrono::steady_clock::now();
    while (!pending_.empty() && pending_.front().due <= now) {
      const Pending& pending = pending_.front();
      if (pending.tcp_fd >= 0) {
        std::string framed;
        Put16(&framed, static_cast<uint16_t>(pending.response.size()));
        framed += pending.response;
        (void)!send(pending.tcp_fd, framed.data(), framed.size(), MSG_NOSIGNAL);
      } else {
        sendto(fd_, pending.response.data(), pending.response.size(), 0,
               reinterpret_cast<const sockaddr*>(&pending.peer),
               pending.peer_length);
      }
      pending_.erase(pending_.begin());
    }
    if (pending_.empty()) return -1;
    return static_cast<int>(
        std::chrono::ceil<std::chrono::milliseconds>(pending_.front().due - now)
            .count());
  }

  // Reads what `connection` has; false when it is closed.
  bool ReadTcp(Connection* connection) {
    std::array<char, 4096> buffer;
    const ssize_t n = recv(connection->fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) return false;
    connection->input.append(buffer.data(), static_cast<size_t>(n));
    std::string& input = connection->input;
    while (input.size() >= 2) {
      const size_t length = (static_cast<unsigned char>(input[0]) << 8) |
                            static_cast<unsigned char>(input[1]);
      if (input.size() < 2 + length) break;
      Pending pending;
      pending.tcp_fd = connection->fd;
      Receive(input.substr(2, length), std::move(pending));
      input.erase(0, 2 + length);
    }
    return true;
  }

  void Serve() {
    std::vector<Connection> connections;
    int wait_ms = -1;
    for (;;) {
      std::vector<pollfd> fds = {
          {wake_fd_, POLLIN, 0}, {fd_, POLLIN, 0}, {tcp_fd_, POLLIN, 0}};
      for (const Connection& connection : connections) {
        fds.push_back({connection.fd, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) break;
      if (fds[0].revents != 0) break;
      if (fds[1].revents != 0) {
        std::array<char, 1500> buffer;
        Pending pending;
        pending.peer_length = sizeof(pending.peer);
        const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&pending.peer),
                                   &pending.peer_length);
        if (n > 0) {
          Receive(std::string(buffer.data(), static_cast<size_t>(n)),
                  std::move(pending));
        }
      }
      if (fds[2].revents != 0) {
        const int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) connections.push_back({fd, ""});
      }
      for (size_t i = 3; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto connection = std::find_if(
            connections.begin(), connections.end(),
            [fd = fds[i].fd](const Connection& c) { return c.fd == fd; });
        if (ReadTcp(&*connection)) continue;
        std::erase_if(pending_, [fd = connection->fd](const Pending& p) {
          return p.tcp_fd == fd;
        });
        close(connection->fd);
        connections.erase(connection);
      }
      wait_ms = SendDue();
    }
    for (const Connection& connection : connections) close(connection.fd);
  }

  const std::string ip_;
  const uint16_t port_;
  const int fd_;
  const int tcp_fd_;
  const int wake_fd_;
  std::atomic<int> drop_{0};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> truncate_udp_{false};
  std::atomic<int> queries_{0};
  std::atomic<int> tcp_queries_{0};
  std::atomic<int> max_outstanding_{0};
  std::vector<Pending> pending_;  // of the serving thread
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, uint16_t>, std::vector<Rr>> records_;
  std::set<std::string> names_;
  std::map<std::string, uint8_t> rcodes_;
  std::vector<std::string> responses_;
  std::string echo_question_as_;
  std::thread thread_;
};

}  // namespace hl::worker::testing
