// More loopback servers for the HttpProber tests: an HTTP server that holds
// many connections at once and counts them, and egress proxies (HTTP
// CONNECT, SOCKS5) that record what they are asked for and relay to it.
// Each binds port 0 on the address it is given and stops in its destructor.
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
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/worker/loopback_servers.h"

namespace hl::worker::testing {

// One thread polls every connection. Each request's header block is
// answered with `response` once it has been held `hold_ms`; then the
// server waits for the client to close. Counts the connections open at
// once: a connection closed by the client before the next one is accepted
// is never counted together with it (closes are read after every accept).
class ConcurrentHttpServer {
 public:
  // nullptr when `ip` cannot be bound.
  static std::unique_ptr<ConcurrentHttpServer> Start(const std::string& ip,
                                                     std::string response,
                                                     int hold_ms) {
    uint16_t port = 0;
    const int fd = BindLoopback(ip, SOCK_STREAM, &port);
    if (fd < 0) return nullptr;
    if (listen(fd, 1024) != 0) {
      close(fd);
      return nullptr;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::unique_ptr<ConcurrentHttpServer> server(
        new ConcurrentHttpServer(port, fd, std::move(response), hold_ms));
    server->thread_ = std::thread([s = server.get()] { s->Serve(); });
    return server;
  }

  ~ConcurrentHttpServer() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    for (Connection& c : connections_) close(c.fd);
    close(listen_fd_);
    close(wake_fd_);
  }

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  int max_open() const { return max_open_; }
  // The request line of each request, in the order they arrived.
  std::vector<std::string> request_lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return request_lines_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    int fd = -1;
    std::string request;
    bool complete = false;
    bool answered = false;
    Clock::time_point answer_at;
  };

  ConcurrentHttpServer(uint16_t port, int fd, std::string response, int hold_ms)
      : port_(port),
        listen_fd_(fd),
        wake_fd_(eventfd(0, EFD_CLOEXEC)),
        response_(std::move(response)),
        hold_(hold_ms) {}

  // Reads what every connection has sent and drops the closed ones.
  void ReadAll() {
    std::array<char, 4096> buffer;
    for (auto it = connections_.begin(); it != connections_.end();) {
      bool closed = false;
      for (;;) {
        const ssize_t n =
            recv(it->fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n > 0) {
          it->request.append(buffer.data(), static_cast<size_t>(n));
          continue;
        }
        closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        break;
      }
      if (!it->complete && it->request.find("\r\n\r\n") != std::string::npos) {
        it->complete = true;
        it->answer_at = Clock::now() + hold_;
        std::lock_guard<std::mutex> lock(mutex_);
        request_lines_.push_back(it->request.substr(0, it->request.find('\r')));
      }
      if (closed) {
        close(it->fd);
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Serve() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.assign({{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}});
      int timeout_ms = -1;
      const Clock::time_point now = Clock::now();
      for (const Connection& c : connections_) {
        fds.push_back({c.fd, POLLIN, 0});
        if (c.complete && !c.answered) {
          const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
              std::max(c.answer_at - now, Clock::duration::zero()));
          timeout_ms =
              timeout_ms < 0
                  ? static_cast<int>(wait.count())
                  : std::min(timeout_ms, static_cast<int>(wait.count()));
        }
      }
      if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        return;
      }
      if (fds[0].revents != 0) return;
      ReadAll();
      bool accepted_any = false;
      for (int fd;
           (fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
        connections_.emplace_back().fd = fd;
        ++accepted_;
        accepted_any = true;
      }
      if (accepted_any) {
        ReadAll();
        max_open_ = std::max<int>(max_open_, connections_.size());
      }
      for (Connection& c : connections_) {
        if (c.complete && !c.answered && Clock::now() >= c.answer_at) {
          c.answered = true;
          (void)!send(c.fd, response_.data(), response_.size(), MSG_NOSIGNAL);
        }
      }
    }
  }

  const uint16_t port_;
  const int listen_fd_;
  const int wake_fd_;
  const std::string response_;
  const std::chrono::milliseconds hold_;
  std::list<Connection> connections_;  // the serving thread's
  std::atomic<int> accepted_{0};
  std::atomic<int> max_open_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> request_lines_;
  std::thread thread_;
};

// An egress proxy: HTTP CONNECT ("CONNECT host:port HTTP/1.1") or SOCKS5
// (RFC 1928, no authentication, CONNECT command). Records the raw bytes of
// each handshake and the target asked for ("ip:port", "[v6]:port" or
// "name:port"); connects to targets that are IP addresses and relays both
// ways, refuses names. With `refuse`, every tunnel is refused (403, SOCKS
// reply 2) without connecting anywhere. Each connection has its own
// thread.
class ProxyTestServer {
 public:
  enum class Kind { kHttpConnect, kSocks5 };

  static std::unique_ptr<ProxyTestServer> Start(const std::string& ip,
                                                Kind kind,
                                                bool refuse = false) {
    uint16_t port = 0;
    const int fd = BindLoopback(ip, SOCK_STREAM, &port);
    if (fd < 0) return nullptr;
    if (listen(fd, 64) != 0) {
      close(fd);
      return nullptr;
    }
    std::unique_ptr<ProxyTestServer> server(
        new ProxyTestServer(ip, port, fd, kind, refuse));
    server->thread_ = std::thread([s = server.get()] { s->Serve(); });
    return server;
  }

  ~ProxyTestServer() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    for (std::thread& t : connection_threads_) t.join();
    close(listen_fd_);
    close(wake_fd_);
  }

  // As http.proxy spells it.
  std::string url() const {
    return std::string(kind_ == Kind::kHttpConnect ? "http://" : "socks5://") +
           HostPort(ip_, port_);
  }
  int accepted() const { return accepted_; }
  std::vector<std::string> targets() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return targets_;
  }
  // Every byte the clients sent before the tunnel stood, all connections.
  std::string handshakes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return handshakes_;
  }

 private:
  ProxyTestServer(std::string ip, uint16_t port, int fd, Kind kind, bool refuse)
      : ip_(std::move(ip)),
        port_(port),
        listen_fd_(fd),
        wake_fd_(eventfd(0, EFD_CLOEXEC)),
        kind_(kind),
        refuse_(refuse) {}

  void Serve() {
    while (WaitFor(listen_fd_, POLLIN, wake_fd_)) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      connection_threads_.emplace_back([this, fd] {
        Handle(fd);
        close(fd);
      });
    }
  }

  // Appends exactly `n` bytes from `fd` to `out`; false on EOF or stop.
  bool ReadExactly(int fd, size_t n, std::string* out) {
    std::array<char, 512> buffer;
    while (n > 0) {
      if (!WaitFor(fd, POLLIN, wake_fd_)) return false;
      const ssize_t got =
          recv(fd, buffer.data(), std::min(n, buffer.size()), 0);
      if (got <= 0) return false;
      out->append(buffer.data(), static_cast<size_t>(got));
      n -= static_cast<size_t>(got);
    }
    return true;
  }

  static bool SendAll(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n =
          send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // The target of the handshake on `fd`, read byte by byte so that no
  // tunnelled byte is consumed; "" on a broken handshake.
  std::string ReadTarget(int fd, std::string* raw) {
    if (kind_ == Kind::kHttpConnect) {
      while (raw->find("\r\n\r\n") == std::string::npos) {
        if (!ReadExactly(fd, 1, raw)) return "";
      }
      const size_t start = raw->find(' ');
      const size_t end = raw->find(' ', start + 1);
      if (!raw->starts_with("CONNECT ") || end == std::string::npos) return "";
      return raw->substr(start + 1, end - start - 1);
    }
    if (!ReadExactly(fd, 2, raw) || (*raw)[0] != 5 ||
        !ReadExactly(fd, static_cast<unsigned char>((*raw)[1]), raw) ||
        !SendAll(fd, std::string("\x05\x00", 2))) {
      return "";
    }
    const size_t request = raw->size();
    if (!ReadExactly(fd, 4, raw) || (*raw)[request + 1] != 1) return "";
    std::string host;
    const char type = (*raw)[request + 3];
    if (type == 1 || type == 4) {
      const size_t size = type == 1 ? 4 : 16;
      if (!ReadExactly(fd, size, raw)) return "";
      std::array<char, INET6_ADDRSTRLEN> text{};
      inet_ntop(type == 1 ? AF_INET : AF_INET6,
                raw->data() + raw->size() - size, text.data(), text.size());
      host = type == 1 ? text.data() : "[" + std::string(text.data()) + "]";
    } else if (type == 3) {
      if (!ReadExactly(fd, 1, raw)) return "";
      const size_t size = static_cast<unsigned char>(raw->back());
      if (!ReadExactly(fd, size, raw)) return "";
      host = raw->substr(raw->size() - size);
    } else {
      return "";
    }
    if (!ReadExactly(fd, 2, raw)) return "";
    const auto* port =
        reinterpret_cast<const unsigned char*>(raw->data() + raw->size() - 2);
    return host + ":" + std::to_string(port[0] << 8 | port[1]);
  }

  // A connected socket to "ip:port" / "[v6]:port"; -1 for a name or a
  // failed connect.
  static int Connect(const std::string& target) {
    const size_t colon = target.rfind(':');
    if (colon == std::string::npos) return -1;
    std::string host = target.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) {
      host = host.substr(1, host.size() - 2);
    }
    const int port = std::atoi(target.c_str() + colon + 1);
    sockaddr_storage storage{};
    socklen_t length = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(port));
      length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(port));
      length = sizeof(sockaddr_in6);
    } else {
      return -1;
    }
    const int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 &&
        connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  std::string Reply(bool ok) const {
    if (kind_ == Kind::kHttpConnect) {
      return ok ? "HTTP/1.1 200 Connection established\r\n\r\n"
                : std::string(refuse_ ? "HTTP/1.1 403 Forbidden"
                                      : "HTTP/1.1 502 Bad Gateway") +
                      "\r\nContent-Length: 0\r\n\r\n";
    }
    const char code = ok ? 0 : refuse_ ? 2 : 5;
    return std::string("\x05", 1) + code +
           std::string("\x00\x01\0\0\0\0\0\0", 8);
  }

  void Handle(int fd) {
    std::string raw;
    const std::string target = ReadTarget(fd, &raw);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handshakes_ += raw;
      if (!target.empty()) targets_.push_back(target);
    }
    if (target.empty()) return;
    const int upstream = refuse_ ? -1 : Connect(target);
    if (!SendAll(fd, Reply(upstream >= 0)) || upstream < 0) {
      if (upstream >= 0) close(upstream);
      return;
    }
    Relay(fd, upstream);
    close(upstream);
  }

  // Copies both ways until either side closes or the server stops.
  void Relay(int a, int b) {
    std::array<char, 16384> buffer;
    for (;;) {
      pollfd fds[3] = {{a, POLLIN, 0}, {b, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[2].revents != 0) return;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = recv(fds[i].fd, buffer.data(), buffer.size(), 0);
        if (n <= 0 ||
            !SendAll(fds[1 - i].fd,
                     std::string(buffer.data(), static_cast<size_t>(n)))) {
          return;
        }
      }
    }
  }

  const std::string ip_;
  const uint16_t port_;
  const int listen_fd_;
  const int wake_fd_;
  const Kind kind_;
  const bool refuse_;
  std::atomic<int> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
  std::string handshakes_;
  std::vector<std::thread> connection_threads_;  // the accepting thread's
  std::thread thread_;
};

}  // namespace hl::worker::testing
