#include "worker/receive_buffer.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "worker/dns_resolver.h"
#include "worker/event_loop.h"

namespace hl::worker {
namespace {

using testing::DnsTestServer;
using ::testing::HasSubstr;

// net.core.rmem_max: what SO_RCVBUF grants at most.
int RmemMax() {
  std::ifstream file("/proc/sys/net/core/rmem_max");
  int bytes = 0;
  file >> bytes;
  return bytes;
}

// Whether this process may pass net.core.rmem_max (SO_RCVBUFFORCE).
bool HasNetAdmin() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      constexpr int kCapNetAdmin = 12;
      return (std::stoull(line.substr(7), nullptr, 16) >> kCapNetAdmin) & 1;
    }
  }
  return false;
}

// What the kernel reports for `fd`, halved: setsockopt's unit.
int Reported(int fd) {
  int reported = 0;
  socklen_t size = sizeof(reported);
  EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &reported, &size), 0);
  return reported / 2;
}

// The size a raise to `bytes` gets from the kernel, from first principles.
int Expected(int bytes) {
  return HasNetAdmin() ? bytes : std::min(bytes, RmemMax());
}

struct RaiseCase {
  const char* name;
  // Receive buffer set (SO_RCVBUF) before the raise; 0 for the default.
  int preset;
  int asked;
  int granted;
};

struct StepCase {
  const char* name;
  ReceiveBufferFacts facts;
  ReceiveBufferStep step;
};

TEST(NextReceiveBufferStepTest, FromTable) {
  using enum ReceiveBufferStep;
  constexpr int kMiB = 1 << 20;
  const StepCase cases[] = {
      {"has what it asks", {.asked = kMiB, .current = kMiB}, kKeep},
      {"has more", {.asked = kMiB, .current = 2 * kMiB}, kKeep},
      {"short: forced first", {.asked = kMiB, .current = 106496}, kForce},
      {"short, rmem_max known before FORCE is asked",
       {.asked = kMiB, .current = 106496, .rmem_max = 212992},
       kForce},
      {"FORCE refused, rmem_max above the ask",
       {.asked = kMiB,
        .current = 106496,
        .force_refused = true,
        .rmem_max = 4 * kMiB},
       kFallback},
      {"FORCE refused, rmem_max between the buffer and the ask",
       {.asked = kMiB,
        .current = 106496,
        .force_refused = true,
        .rmem_max = 212992},
       kFallback},
      {"FORCE refused, rmem_max unreadable",
       {.asked = kMiB, .current = 106496, .force_refused = true},
       kFallback},
      {"FORCE refused, rmem_max as tuned machines set it",
       {.asked = kMiB,
        .current = 106496,
        .force_refused = true,
        .rmem_max = INT_MAX},
       kFallback},
      // rmem_default > 2 x rmem_max: SO_RCVBUF would set rmem_max.
      {"FORCE refused, rmem_max below the buffer: never lowered",
       {.asked = kMiB,
        .current = 425984,
        .force_refused = true,
        .rmem_max = 212992},
       kKeep},
      {"FORCE refused, rmem_max the buffer: nothing to gain",
       {.asked = kMiB,
        .current = 212992,
        .force_refused = true,
        .rmem_max = 212992},
       kKeep},
  };
  for (const StepCase& c : cases) {
    EXPECT_EQ(NextReceiveBufferStep(c.facts), c.step) << c.name;
  }
}

TEST(RaiseReceiveBufferTest, GrantsWhatTheKernelAllowsAndReadsItBack) {
  // Tuned machines set the cap as high as INT_MAX: twice it must not
  // overflow.
  const int cap = std::min(RmemMax(), 1 << 28);
  ASSERT_GT(cap, 0);
  const RaiseCase cases[] = {
      {"within the cap", 0, cap, cap},
      // SO_RCVBUF alone would stop at the cap.
      {"past the cap", 0, 2 * cap, Expected(2 * cap)},
      {"never lowered", cap / 2, cap / 4, cap / 2},
  };
  for (const RaiseCase& c : cases) {
    SCOPED_TRACE(c.name);
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    if (c.preset > 0) {
      ASSERT_EQ(
          setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &c.preset, sizeof(c.preset)),
          0);
    }
    const Result<ReceiveBuffer> buffer = RaiseReceiveBuffer(fd, c.asked);
    ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
    EXPECT_EQ(buffer->asked, c.asked);
    EXPECT_EQ(buffer->granted, c.granted);
    EXPECT_EQ(buffer->granted, Reported(fd));
    close(fd);
  }
}

TEST(RaiseReceiveBufferTest, NotASocketIsAnError) {
  EXPECT_FALSE(RaiseReceiveBuffer(-1, 1 << 20).ok());
}

TEST(ReceiveBufferShortfallTest, SaysWhatToDoOnlyWhenShort) {
  EXPECT_EQ(ReceiveBufferShortfall({.asked = 1048576, .granted = 1048576}), "");
  EXPECT_EQ(ReceiveBufferShortfall({.asked = 1048576, .granted = 2097152}), "");
  const std::string shortfall =
      ReceiveBufferShortfall({.asked = 1048576, .granted = 212992});
  EXPECT_THAT(shortfall, HasSubstr("212992 bytes of the 1048576 asked"));
  EXPECT_THAT(shortfall, HasSubstr("sysctl -w net.core.rmem_max=1048576"));
  EXPECT_THAT(shortfall, HasSubstr("CAP_NET_ADMIN"));
}

// The receive buffer of each UDP socket of this process that is connected
// to `server` ("ip:port").
std::vector<int> UdpReceiveBuffersTo(const std::string& server) {
  std::vector<int> buffers;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    int type = 0;
    socklen_t size = sizeof(type);
    sockaddr_in peer{};
    socklen_t peer_size = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0 ||
        type != SOCK_DGRAM ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0 ||
        peer.sin_family != AF_INET) {
      continue;
    }
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    if (std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port)) ==
        server) {
      buffers.push_back(Reported(fd));
    }
  }
  return buffers;
}

TEST(DnsReceiveBufferTest, ResolverSocketsGetTheRaisedBuffer) {
  auto server = DnsTestServer::Start("127.53.8.1");
  ASSERT_NE(server, nullptr);
  server->DelayAnswers(200);  // the socket stays open meanwhile
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  ResolverConfig config;
  config.servers = {server->address()};
  auto resolver =
      DnsResolver::Create(config, loop->get(), [] { return int64_t{0}; });
  ASSERT_TRUE(resolver.ok()) << resolver.status().ToString();

  std::optional<pb::DnsObservation> obs;
  (*resolver)->Resolve("www.example.test",
                       [&obs](pb::DnsObservation done) { obs = done; });
  std::vector<int> buffers;
  ASSERT_TRUE((*loop)
                  ->RunUntil([&] {
                    buffers = UdpReceiveBuffersTo(server->address());
                    return !buffers.empty() || obs.has_value();
                  })
                  .ok());

  ASSERT_FALSE(buffers.empty()) << "no UDP socket to " << server->address();
  for (int buffer : buffers) {
    EXPECT_EQ(buffer, Expected(DnsResolver::kUdpReceiveBuffer));
  }
}

}  // namespace
}  // namespace hl::worker
