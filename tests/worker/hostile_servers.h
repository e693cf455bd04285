// Hostile HTTP servers for the worker tests: one single-threaded epoll
// server on a loopback address (port 0) that holds thousands of
// connections at once and misbehaves according to the request path, plus
// a second port that answers anything with TLS-looking garbage.
//
// Behaviours, by the path of the request line (the query string is kept
// in redirect targets, so distinct URLs stay distinct along a chain):
//   /trickle  a valid status line, then header bytes one every
//             kTrickleIntervalMs, forever (never a blank line);
//   /endless  a status line and headers without end, as fast as the client
//             reads (64 KiB in well under a second);
//   /endless-line  a status line and one header line without end, as fast
//             as the client reads;
//   /loop/a   302 to /loop/b, and /loop/b 302 to /loop/a;
//   /hop/N    302 to /hop/N+1 while N < kHops, then 200;
//   /reset    the connection reset (SO_LINGER 0) once the request is read;
//   /silent   the request read, never an answer;
//   other     200 with no body.
// The server closes a connection only when the client closes its end (or
// resets it for /reset), so open_connections() falling to 0 shows that the
// client let go of every socket.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "tests/worker/loopback_servers.h"

namespace hl::worker::testing {

class HostileHttpServer {
 public:
  static constexpr int kTrickleIntervalMs = 50;
  static constexpr int kHops = 50;

  // nullptr when `ip` cannot be bound.
  static std::unique_ptr<HostileHttpServer> Start(const std::string& ip) {
    uint16_t port = 0;
    uint16_t tls_port = 0;
    const int http_fd = Listen(ip, &port);
    const int tls_fd = Listen(ip, &tls_port);
    const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    std::unique_ptr<HostileHttpServer> server(new HostileHttpServer(
        ip, port, tls_port, http_fd, tls_fd, epoll_fd, wake_fd));
    if (http_fd < 0 || tls_fd < 0 || epoll_fd < 0 || wake_fd < 0 ||
        !server->Add(http_fd, EPOLLIN) || !server->Add(tls_fd, EPOLLIN) ||
        !server->Add(wake_fd, EPOLLIN)) {
      return nullptr;
    }
    server->thread_ = std::thread([s = server.get()] { s->Serve(); });
    return server;
  }

  ~HostileHttpServer() {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      (void)!write(wake_fd_, &one, sizeof(one));
      thread_.join();
    }
    for (const auto& [fd, connection] : connections_) close(fd);
    for (int fd : {http_fd_, tls_fd_, epoll_fd_, wake_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  uint16_t tls_port() const { return tls_port_; }
  // "http://ip:port" and "https://ip:tls_port" (IPv4 addresses).
  std::string http_base() const {
    return "http://" + ip_ + ":" + std::to_string(port_);
  }
  std::string https_base() const {
    return "https://" + ip_ + ":" + std::to_string(tls_port_);
  }

  int accepted() const { return accepted_; }
  int open_connections() const { return open_; }

 private:
  enum class Mode {
    kReadRequest,  // HTTP: until the end of the request's header block
    kTlsGarbage,   // until the first bytes, then garbage
    kTrickle,      // one header byte per tick
    kEndless,      // header lines whenever the socket takes them
    kEndlessLine,  // bytes of one header line whenever the socket takes them
    kDrain,        // the queued answer, then kHold
    kHold,         // nothing more to send; wait for the client to close
  };
  struct Connection {
    Mode mode;
    std::string request;
    std::string out;    // bytes queued for sending
    uint64_t sent = 0;  // trickle/endless position
  };

  HostileHttpServer(std::string ip, uint16_t port, uint16_t tls_port,
                    int http_fd, int tls_fd, int epoll_fd, int wake_fd)
      : ip_(std::move(ip)),
        port_(port),
        tls_port_(tls_port),
        http_fd_(http_fd),
        tls_fd_(tls_fd),
        epoll_fd_(epoll_fd),
        wake_fd_(wake_fd) {}

  static int Listen(const std::string& ip, uint16_t* port) {
    const int fd = BindLoopback(ip, SOCK_STREAM, port);
    if (fd < 0) return -1;
    if (listen(fd, 4096) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  bool Add(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0;
  }
  void Modify(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
  }
  void Close(int fd, bool reset = false) {
    if (reset) {
      const linger abort{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    }
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    connections_.erase(fd);
    --open_;
  }

  void Serve() {
    using Steady = std::chrono::steady_clock;
    auto next_tick = Steady::now();
    std::array<epoll_event, 256> events;
    for (;;) {
      const auto now = Steady::now();
      if (now >= next_tick) {
        Tick();
        next_tick = now + std::chrono::milliseconds(kTrickleIntervalMs);
      }
      const int wait_ms = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(next_tick - now)
              .count());
      const int n = epoll_wait(epoll_fd_, events.data(),
                               static_cast<int>(events.size()), wait_ms);
      if (n < 0 && errno != EINTR) return;
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) return;
        if (fd == http_fd_ || fd == tls_fd_) {
          AcceptAll(fd, fd == tls_fd_ ? Mode::kTlsGarbage : Mode::kReadRequest);
          continue;
        }
        auto it = connections_.find(fd);
        if (it == connections_.end()) continue;  // closed in this batch
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          if (!Read(fd, it->second)) continue;
        }
        if (events[i].events & EPOLLOUT) Write(fd, it->second);
      }
    }
  }

  void AcceptAll(int listen_fd, Mode mode) {
    for (;;) {
      const int fd =
          accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;
      ++accepted_;
      ++open_;
      connections_[fd] = Connection{mode, {}, {}, 0};
      if (!Add(fd, EPOLLIN)) Close(fd);
    }
  }

  // Reads what is there; false when the connection was closed.
  bool Read(int fd, Connection& c) {
    std::array<char, 4096> buffer;
    for (;;) {
      const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        Close(fd);
        return false;
      }
      if (n < 0) break;
      if (c.request.size() < 16384) c.request.append(buffer.data(), n);
    }
    if (c.mode == Mode::kTlsGarbage) return Answer(fd, c, TlsGarbage());
    if (c.mode != Mode::kReadRequest ||
        c.request.find("\r\n\r\n") == std::string::npos) {
      return true;
    }
    return Respond(fd, c);
  }

  // Chooses the behaviour from "METHOD /path?query HTTP/1.1".
  bool Respond(int fd, Connection& c) {
    const size_t start = c.request.find(' ') + 1;
    const size_t end = c.request.find(' ', start);
    const std::string target = c.request.substr(start, end - start);
    const size_t question = target.find('?');
    const std::string path = target.substr(0, question);
    const std::string query =
        question == std::string::npos ? "" : target.substr(question);
    if (path == "/trickle") {
      c.mode = Mode::kTrickle;
      c.out = "HTTP/1.1 200 OK\r\n";
      Modify(fd, EPOLLIN | EPOLLOUT);
      return true;
    }
    if (path == "/endless") {
      c.mode = Mode::kEndless;
      c.out = "HTTP/1.1 200 OK\r\n";
      Modify(fd, EPOLLIN | EPOLLOUT);
      return true;
    }
    if (path == "/endless-line") {
      c.mode = Mode::kEndlessLine;
      c.out = "HTTP/1.1 200 OK\r\nX-Endless: ";
      Modify(fd, EPOLLIN | EPOLLOUT);
      return true;
    }
    if (path == "/reset") {
      Close(fd, /*reset=*/true);
      return false;
    }
    if (path == "/silent") {
      c.mode = Mode::kHold;
      return true;
    }
    if (path == "/loop/a") return Answer(fd, c, Found("/loop/b" + query));
    if (path == "/loop/b") return Answer(fd, c, Found("/loop/a" + query));
    if (path.rfind("/hop/", 0) == 0) {
      const int hop = std::atoi(path.c_str() + 5);
      if (hop < kHops) {
        return Answer(fd, c, Found("/hop/" + std::to_string(hop + 1) + query));
      }
    }
    return Answer(fd, c,
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n");
  }

  static std::string Found(const std::string& location) {
    return "HTTP/1.1 302 Found\r\nLocation: " + location +
           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }

  // A TLS handshake record header announcing a ServerHello, then random
  // bytes: no TLS stack can make sense of it.
  std::string TlsGarbage() {
    std::string garbage("\x16\x03\x03\x01\x00\x02\x00\x00\xfc", 9);
    std::uniform_int_distribution<int> byte(0, 255);
    while (garbage.size() < 5 + 256) {
      garbage.push_back(static_cast<char>(byte(random_)));
    }
    return garbage;
  }

  bool Answer(int fd, Connection& c, std::string response) {
    c.mode = Mode::kDrain;
    c.out = std::move(response);
    Modify(fd, EPOLLIN | EPOLLOUT);
    return true;
  }

  void Write(int fd, Connection& c) {
    if (c.mode == Mode::kEndless && c.out.size() < 4096) {
      while (c.out.size() < 16384) {
        c.out += "X-Endless-" + std::to_string(c.sent++) + ": " +
                 std::string(1000, 'a') + "\r\n";
      }
    } else if (c.mode == Mode::kEndlessLine && c.out.size() < 4096) {
      c.out.append(16384, 'a');
    }
    while (!c.out.empty()) {
      const ssize_t n = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        Close(fd);
        return;
      }
      c.out.erase(0, static_cast<size_t>(n));
    }
    if (c.mode == Mode::kDrain) {
      // Answer complete: wait for the client to close (an immediate close
      // could reset the connection before the client has read it).
      c.mode = Mode::kHold;
      Modify(fd, EPOLLIN);
    } else if (c.mode == Mode::kTrickle) {
      Modify(fd, EPOLLIN);  // the next byte comes with the next tick
    }
  }

  // One header byte to every trickling connection.
  void Tick() {
    static constexpr char kLine[] = "X-Trickle: slow\r\n";
    for (auto& [fd, c] : connections_) {
      if (c.mode != Mode::kTrickle || !c.out.empty()) continue;
      c.out = kLine[c.sent++ % (sizeof(kLine) - 1)];
      Modify(fd, EPOLLIN | EPOLLOUT);
    }
  }

  const std::string ip_;
  const uint16_t port_;
  const uint16_t tls_port_;
  const int http_fd_;
  const int tls_fd_;
  const int epoll_fd_;
  const int wake_fd_;
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::unordered_map<int, Connection> connections_;  // server thread only
  std::mt19937 random_{20261129};
  std::thread thread_;
};

}  // namespace hl::worker::testing
