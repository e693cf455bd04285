// Ingest through the API (issue 4: at least 100,000 URLs/s for a
// 1,000,000-line submission): one POST of an N-line list to an ApiServer on
// loopback, timed from the request to the acknowledgement (sent only after
// the synced commit), against IngestBatch straight into a Store in the same
// run. Each side gets a fresh store. Prints the figures; not a timed test.
//
//   hl_bench_api_ingest [--lines N] [--dir D]
#include <httplib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/clock.h"
#include "coordinator/api.h"
#include "coordinator/ingest.h"
#include "coordinator/tokens.h"

namespace {

using namespace hl;
using namespace hl::coordinator;

// Wall and process CPU time (every thread: the server's and the client's)
// since construction. On a shared, loaded machine URLs per CPU second is
// the steadier figure.
class Timer {
 public:
  Timer() : wall_(std::chrono::steady_clock::now()), cpu_(Cpu()) {}
  double wall() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         wall_)
        .count();
  }
  double cpu() const { return Cpu() - cpu_; }

 private:
  static double Cpu() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  }
  std::chrono::steady_clock::time_point wall_;
  double cpu_;
};

void Print(const char* what, uint64_t lines, double wall, double cpu) {
  std::printf(
      "%-20s %6.2f s, %8.0f URLs/s; %6.2f CPU s, %8.0f URLs per CPU s\n", what,
      wall, lines / wall, cpu, lines / cpu);
}

// N distinct URLs over 10,000 hosts, one a line.
std::string MakeList(uint64_t lines) {
  std::string text;
  text.reserve(lines * 40);
  char buf[80];
  for (uint64_t i = 0; i < lines; ++i) {
    const int n =
        std::snprintf(buf, sizeof(buf), "http://h%05llu.bench.test/page/%llu\n",
                      static_cast<unsigned long long>(i % 10000),
                      static_cast<unsigned long long>(i));
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "hl_bench_api_ingest: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t lines = 1'000'000;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--lines") == 0) {
      lines = std::stoull(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--dir") == 0) {
      dir = argv[i + 1];
    } else {
      return Fail("usage: hl_bench_api_ingest [--lines N] [--dir D]");
    }
  }
  const bool keep = !dir.empty();
  if (!keep) {
    dir = (std::filesystem::temp_directory_path() /
           ("hl-bench-api-" + std::to_string(::getpid())))
              .string();
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string text = MakeList(lines);
  std::printf("list: %llu lines, %.1f MB\n",
              static_cast<unsigned long long>(lines), text.size() / 1e6);

  // Straight into a Store.
  double direct_s = 0, direct_cpu = 0;
  {
    auto store = Store::Open(dir + "/direct");
    if (!store.ok()) return Fail(store.status().message());
    auto reader = InputReader::FromText(text);
    if (!reader.ok()) return Fail(reader.status().message());
    BatchSpec spec;
    spec.source = "bench";
    const Timer timer;
    auto summary = IngestBatch(**store, **reader, spec, SystemClockMs(), {});
    direct_s = timer.wall();
    direct_cpu = timer.cpu();
    if (!summary.ok()) return Fail(summary.status().message());
  }

  // Through the API on loopback.
  double api_s = 0, api_cpu = 0;
  {
    auto store = Store::Open(dir + "/api");
    if (!store.ok()) return Fail(store.status().message());
    TokenTable tokens;
    auto secret = tokens.Add("bench", RoleSet(Role::kSubmit), 0);
    if (!secret.ok()) return Fail(secret.status().message());
    const std::string tokens_file = dir + "/tokens";
    if (Status s = tokens.Save(tokens_file); !s.ok()) {
      return Fail(s.message());
    }
    ApiOptions options;
    options.port = 0;
    options.tokens_file = tokens_file;
    options.max_request_bytes = text.size() + 1024;
    ApiServer server(store->get(), nullptr, options, SystemClockMs);
    if (Status s = server.Start(); !s.ok()) return Fail(s.message());
    httplib::Client client("127.0.0.1", server.port());
    client.set_bearer_token_auth(*secret);
    client.set_read_timeout(600);
    client.set_write_timeout(600);
    const Timer timer;
    auto res = client.Post("/api/v1/batches", text, "text/plain");
    api_s = timer.wall();
    api_cpu = timer.cpu();
    if (!res)
      return Fail("the request failed: " + httplib::to_string(res.error()));
    if (res->status != 201) {
      return Fail("the server answered " + std::to_string(res->status) + ": " +
                  res->body);
    }
    server.Stop();
  }
  Print("direct IngestBatch:", lines, direct_s, direct_cpu);
  Print("through the API:", lines, api_s, api_cpu);
  std::printf(
      "API / direct: %.2f of the direct rate (wall), %.2f (CPU); the "
      "API answers after the synced commit\n",
      direct_s / api_s, direct_cpu / api_cpu);
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
