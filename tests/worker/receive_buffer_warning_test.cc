// The resolver's warning when the kernel grants a UDP socket less receive
// buffer than asked: logged once per process, whatever the sockets. The
// kernel grants this process (root, or rmem_max above 1 MiB) all it asks,
// so this binary interposes getsockopt and reports every UDP socket's
// receive buffer as at most kShortGrant; its own binary keeps the
// interposer away from the other tests and gives "once per process" a
// process of its own.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "worker/dns_resolver.h"
#include "worker/event_loop.h"

namespace {

// setsockopt's unit, as ReceiveBuffer's.
constexpr int kShortGrant = 65536;

// The UDP sockets whose receive buffer was read, from every thread.
struct Reads {
  std::mutex mutex;
  std::set<int> fds;
};

Reads& Seen() {
  static Reads* reads = new Reads;
  return *reads;
}

}  // namespace

extern "C" {

int getsockopt(int fd, int level, int name, void* value,
               socklen_t* size) noexcept {
  using Getsockopt = int (*)(int, int, int, void*, socklen_t*);
  static const auto next =
      reinterpret_cast<Getsockopt>(dlsym(RTLD_NEXT, "getsockopt"));
  const int result = next(fd, level, name, value, size);
  int type = 0;
  socklen_t type_size = sizeof(type);
  if (result == 0 && level == SOL_SOCKET && name == SO_RCVBUF &&
      next(fd, SOL_SOCKET, SO_TYPE, &type, &type_size) == 0 &&
      type == SOCK_DGRAM) {
    int* reported = static_cast<int*>(value);
    *reported = std::min(*reported, 2 * kShortGrant);
    std::lock_guard<std::mutex> lock(Seen().mutex);
    Seen().fds.insert(fd);
  }
  return result;
}

}  // extern "C"

namespace hl::worker {
namespace {

using testing::DnsTestServer;
using ::testing::HasSubstr;

// How many lines of `log` contain `text`.
int Lines(const std::string& log, const std::string& text) {
  std::istringstream lines(log);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    n += line.find(text) != std::string::npos;
  }
  return n;
}

TEST(ReceiveBufferWarningTest, ShortGrantWarnedOncePerProcess) {
  std::ostringstream log;
  spdlog::default_logger()->sinks().push_back(
      std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  auto server = DnsTestServer::Start("127.53.8.2");
  ASSERT_NE(server, nullptr);
  // The sockets of both resolvers stay open meanwhile: two sockets at once.
  server->DelayAnswers(200);
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  ResolverConfig config;
  config.servers = {server->address()};
  std::vector<std::unique_ptr<DnsResolver>> resolvers;
  std::vector<std::optional<pb::DnsObservation>> done(2);
  for (size_t i = 0; i < done.size(); ++i) {
    auto resolver =
        DnsResolver::Create(config, loop->get(), [] { return int64_t{0}; });
    ASSERT_TRUE(resolver.ok()) << resolver.status().ToString();
    (*resolver)->Resolve("www.example.test", [&done, i](pb::DnsObservation o) {
      done[i] = std::move(o);
    });
    resolvers.push_back(std::move(resolver).value());
  }
  ASSERT_TRUE((*loop)
                  ->RunUntil([&] {
                    return std::all_of(done.begin(), done.end(),
                                       [](const auto& d) { return d; });
                  })
                  .ok());
  spdlog::default_logger()->flush();
  spdlog::default_logger()->sinks().pop_back();

  {
    std::lock_guard<std::mutex> lock(Seen().mutex);
    EXPECT_GE(Seen().fds.size(), 2u) << "fewer UDP sockets raised than two";
  }
  EXPECT_EQ(Lines(log.str(), "receive buffer"), 1) << log.str();
  EXPECT_THAT(log.str(),
              HasSubstr("DNS: the kernel granted a receive buffer of 65536 "
                        "bytes of the 1048576 asked"));
  EXPECT_THAT(log.str(), HasSubstr("sysctl -w net.core.rmem_max=1048576"));
}

}  // namespace
}  // namespace hl::worker
