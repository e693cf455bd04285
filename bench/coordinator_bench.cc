// hl_coordinator_bench: the coordinator alone (bench/README.md).
//
//   hl_coordinator_bench throughput [--jobs N] [--workers W] [--dir D]
//     N URLs (default 200,000) submitted through IngestBatch (synced, group
//     commit), dispatched by the Broker to W in-process workers (DEALER
//     threads answering each job at once with a canned observation) and
//     stored; prints jobs/s from submission to the last stored result and
//     the CPU time per job (process, broker thread, ingest thread).
//   hl_coordinator_bench queue [--jobs N] [--dir D]
//     N URLs (default 10,000,000) written to a list file, then ingested
//     (queued, not dispatched); prints the time and the peak RSS.
//   hl_coordinator_bench export [--jobs N] [--rechecked R] [--dir D]
//     N URLs (default 200,000) ingested and given a located observation of
//     a typical size, one in R (default 10; 0: none) a second check; then
//     the run is exported (coordinator/queries.h, as `hostlocator export`
//     and the API do) as JSON Lines and as CSV; prints each time.
//   hl_coordinator_bench politeness [--jobs N] [--workers W]
//                                   [--hot-host-share S] [--fleet-cap C]
//     N URLs (default 200,000), a share S (default 0.5) of them on one host
//     spread through the list, the rest each on its own registrable domain,
//     queued first, then dispatched by the Broker to W answering workers
//     until every result is stored: once with the fleet caps per host and
//     per registrable domain C (default 2; no address cap: the canned
//     answer gives every host the same address), once with no cap, each on
//     a new store; prints jobs/s and the broker thread's CPU per job.
//
// The data folder (default: a new folder under /tmp) is deleted at the end
// unless --keep 1 is given (then `hostlocator export --data D` of another
// build can be timed on the same store).
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/protocol.h"
#include "coordinator/broker.h"
#include "coordinator/ingest.h"
#include "coordinator/queries.h"
#include "coordinator/store.h"

namespace hl::coordinator {
namespace {

using Seconds = std::chrono::duration<double>;

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // kilobytes on Linux
}

// CPU seconds (user + system) of the calling thread or of the process.
double CpuS(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

std::string UrlOf(uint64_t i) {
  // Distinct registrable domains, so the fleet-wide politeness caps never
  // hold a job (they are checked all the same).
  return "http://h" + std::to_string(i) + ".test/p\n";
}

// Answers every job at once until `stop`.
void AnsweringWorker(zmq::context_t* context, const std::string& endpoint,
                     uint32_t capacity, const std::atomic<bool>* stop) {
  zmq::socket_t socket(*context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  pb::Envelope ready;
  ready.mutable_ready()->set_capacity(capacity);
  ready.mutable_ready()->set_worker_name("bench");
  socket.send(zmq::buffer(EncodeEnvelope(ready)), zmq::send_flags::none);
  pb::Envelope reply;
  pb::JobResult* result = reply.mutable_results()->add_results();
  pb::Observation* obs = result->mutable_observation();
  obs->set_status("located");
  obs->set_tool_version("bench");
  obs->add_addresses()->set_ip("192.0.2.1");
  obs->mutable_verdict()->add_hosting_countries("DE");
  auto last_heartbeat = std::chrono::steady_clock::now();
  while (!stop->load()) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() - last_heartbeat >
        std::chrono::milliseconds(200)) {
      pb::Envelope heartbeat;
      heartbeat.mutable_heartbeat();
      socket.send(zmq::buffer(EncodeEnvelope(heartbeat)),
                  zmq::send_flags::none);
      last_heartbeat = std::chrono::steady_clock::now();
    }
    zmq::message_t message;
    while (socket.recv(message, zmq::recv_flags::dontwait)) {
      auto envelope = DecodeEnvelope(message.to_string_view());
      if (!envelope.ok() || !envelope->has_jobs()) continue;
      for (const pb::Job& job : envelope->jobs().jobs()) {
        result->set_job_id(job.job_id());
        result->set_attempt(job.attempt());
        obs->set_url(job.url());
        socket.send(zmq::buffer(EncodeEnvelope(reply)), zmq::send_flags::none);
      }
    }
  }
}

// `count` answering workers on `endpoint` until Stop (or destruction).
class AnsweringFleet {
 public:
  AnsweringFleet(zmq::context_t* context, const std::string& endpoint,
                 int count) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back(AnsweringWorker, context, endpoint, 2000, &stop_);
    }
  }
  ~AnsweringFleet() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// A broker over `store` on `endpoint` and, once started, `workers`
// answering workers; Run returns once `jobs` results are stored or after
// RequestStop.
class BenchBroker {
 public:
  BenchBroker(Store* store, const std::string& endpoint, PolitenessCaps caps,
              uint64_t jobs)
      : options_(OptionsOf(endpoint, caps)),
        broker_(&context_, store, options_, SystemClockMs) {
    broker_.set_result_sink(
        [this, jobs](const pb::JobRecord&, std::string_view) {
          if (++stored_ == jobs) stop_ = true;
        });
  }
  // Binds the broker and starts the answering workers.
  Status Start(int workers) {
    HL_RETURN_IF_ERROR(broker_.Bind());
    fleet_.emplace(&context_, options_.endpoint, workers);
    return Status::Ok();
  }
  Status Run() { return broker_.Run(stop_, /*until_drained=*/false); }
  void RequestStop() { stop_ = true; }
  void StopFleet() {
    if (fleet_) fleet_->Stop();
  }
  const BrokerStats& stats() const { return broker_.stats(); }

 private:
  static BrokerOptions OptionsOf(const std::string& endpoint,
                                 PolitenessCaps caps) {
    BrokerOptions options;
    options.endpoint = endpoint;
    options.politeness = caps;
    return options;
  }

  zmq::context_t context_;
  BrokerOptions options_;
  Broker broker_;
  std::optional<AnsweringFleet> fleet_;
  std::atomic<bool> stop_{false};
  uint64_t stored_ = 0;
};

int Throughput(uint64_t jobs, int workers, const std::string& dir) {
  auto store = Store::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::string list;
  for (uint64_t i = 0; i < jobs; ++i) list += UrlOf(i);
  auto reader = InputReader::FromText(std::move(list));
  if (!reader.ok()) return 1;

  BenchBroker broker(store->get(), "inproc://coordinator-bench",
                     PolitenessCapsOf(DefaultConfig()), jobs);
  if (!broker.Start(workers).ok()) return 1;

  // Submission and dispatch overlap, as in the daemon: the ingest thread
  // commits groups of lines while the broker leases what is committed.
  const double process_cpu_before = CpuS(RUSAGE_SELF);
  const double broker_cpu_before = CpuS(RUSAGE_THREAD);
  const auto start = std::chrono::steady_clock::now();
  auto ingest_end = start;
  Status ingest_status;
  double ingest_cpu = 0;
  std::thread submitter([&] {
    auto ingested = IngestBatch(**store, **reader, BatchSpec{}, SystemClockMs(),
                                RejectionSink());
    ingest_status = ingested.status();
    ingest_end = std::chrono::steady_clock::now();
    ingest_cpu = CpuS(RUSAGE_THREAD);
    if (!ingested.ok()) broker.RequestStop();
  });
  Status served = broker.Run();
  const auto end = std::chrono::steady_clock::now();
  const double broker_cpu = CpuS(RUSAGE_THREAD) - broker_cpu_before;
  const double process_cpu = CpuS(RUSAGE_SELF) - process_cpu_before;
  submitter.join();
  broker.StopFleet();
  if (!ingest_status.ok() || !served.ok()) {
    std::fprintf(stderr, "%s %s\n", ingest_status.ToString().c_str(),
                 served.ToString().c_str());
    return 1;
  }
  const double ingest_s = Seconds(ingest_end - start).count();
  const double serve_s = Seconds(end - ingest_end).count();
  const double total_s = Seconds(end - start).count();
  std::printf(
      "throughput: %llu jobs, %d workers: ingest done after %.2f s (%.0f "
      "URLs/s), last result stored %.2f s later; submission to last "
      "stored result %.2f s = %.0f jobs/s; results %llu, duplicates %llu; "
      "peak RSS %.0f MB\n"
      "CPU: %.2f s = %.1f us per job = %.0f jobs per CPU s (broker thread "
      "%.2f s, ingest thread %.2f s, the rest: RocksDB's and the workers')\n",
      static_cast<unsigned long long>(jobs), workers, ingest_s, jobs / ingest_s,
      serve_s, total_s, jobs / total_s,
      static_cast<unsigned long long>(broker.stats().results),
      static_cast<unsigned long long>(broker.stats().duplicate_results),
      PeakRssMb(), process_cpu, process_cpu / jobs * 1e6, jobs / process_cpu,
      broker_cpu, ingest_cpu);
  return broker.stats().results == jobs ? 0 : 1;
}

// One politeness run: queues `jobs` URLs (a share `hot_share` on one host),
// then times their dispatch under `caps`.
int PolitenessRun(uint64_t jobs, int workers, double hot_share,
                  PolitenessCaps caps, const std::string& dir) {
  auto store = Store::Open(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::string list;
  uint64_t hot = 0;
  for (uint64_t i = 0; i < jobs; ++i) {
    // Job i is on the hot host when it brings the hot share to the next
    // whole number: evenly spread.
    if (static_cast<uint64_t>((i + 1) * hot_share) >
        static_cast<uint64_t>(i * hot_share)) {
      list += "http://hot.bench.test/p" + std::to_string(i) + "\n";
      ++hot;
    } else {
      list += UrlOf(i);
    }
  }
  auto reader = InputReader::FromText(std::move(list));
  if (!reader.ok()) return 1;
  if (!IngestBatch(**store, **reader, BatchSpec{}, SystemClockMs(),
                   RejectionSink())
           .ok()) {
    return 1;
  }
  BenchBroker broker(store->get(), "inproc://coordinator-bench-politeness",
                     caps, jobs);
  if (!broker.Start(workers).ok()) return 1;
  const double cpu_before = CpuS(RUSAGE_THREAD);
  const auto start = std::chrono::steady_clock::now();
  Status served = broker.Run();
  const double s = Seconds(std::chrono::steady_clock::now() - start).count();
  const double cpu_s = CpuS(RUSAGE_THREAD) - cpu_before;
  broker.StopFleet();
  if (!served.ok()) {
    std::fprintf(stderr, "%s\n", served.ToString().c_str());
    return 1;
  }
  std::printf(
      "politeness: %llu jobs (%llu on one host), %d workers, caps per "
      "host/domain/address %u/%u/%u: dispatched and stored in %.2f s = %.0f "
      "jobs/s; broker thread CPU %.2f s = %.1f us per job; results %llu\n",
      static_cast<unsigned long long>(jobs),
      static_cast<unsigned long long>(hot), workers, caps.per_host,
      caps.per_domain, caps.per_address, s, jobs / s, cpu_s, cpu_s / jobs * 1e6,
      static_cast<unsigned long long>(broker.stats().results));
  return broker.stats().results == jobs ? 0 : 1;
}

int Politeness(uint64_t jobs, int workers, double hot_share, uint32_t cap,
               const std::string& dir) {
  const int capped =
      PolitenessRun(jobs, workers, hot_share,
                    {.per_host = cap, .per_domain = cap}, dir + "-capped");
  std::filesystem::remove_all(dir + "-capped");
  const int free = PolitenessRun(jobs, workers, hot_share, {}, dir);
  return capped != 0 ? capped : free;
}

int Queue(uint64_t jobs, const std::string& dir) {
  const std::string list_path = dir + ".urls";
  {
    std::ofstream out(list_path);
    std::string block;
    for (uint64_t i = 0; i < jobs; ++i) {
      block += UrlOf(i);
      if (block.size() > (1 << 20)) {
        out << block;
        block.clear();
      }
    }
    out << block;
  }
  const double rss_before = PeakRssMb();
  auto store = Store::Open(dir);
  auto reader = InputReader::Open(list_path);
  if (!store.ok() || !reader.ok()) return 1;
  const auto start = std::chrono::steady_clock::now();
  auto ingested = IngestBatch(**store, **reader, BatchSpec{}, SystemClockMs(),
                              RejectionSink());
  const double ingest_s =
      Seconds(std::chrono::steady_clock::now() - start).count();
  std::filesystem::remove(list_path);
  if (!ingested.ok()) {
    std::fprintf(stderr, "%s\n", ingested.status().ToString().c_str());
    return 1;
  }
  // The head of the queue is still served promptly.
  const auto lease_start = std::chrono::steady_clock::now();
  auto leased = (*store)->LeasePending(1000, SystemClockMs());
  const double lease_ms =
      Seconds(std::chrono::steady_clock::now() - lease_start).count() * 1000;
  std::printf(
      "queue: %llu URLs queued in %.1f s (%.0f URLs/s), pending %llu; "
      "leasing 1,000 took %.1f ms; peak RSS %.0f MB (%.0f MB before the "
      "store opened)\n",
      static_cast<unsigned long long>(jobs), ingest_s, jobs / ingest_s,
      static_cast<unsigned long long>((*store)->pending_count()), lease_ms,
      PeakRssMb(), rss_before);
  return leased.ok() ? 0 : 1;
}

// A located observation of a typical size: a CNAME, two addresses, a
// HEAD answer with a few headers, a provider, a verdict and data sources.
pb::Observation TypicalObservation(const std::string& url, int64_t now_ms) {
  pb::Observation obs;
  obs.set_url(url);
  obs.set_host(url.substr(7, url.find('/', 7) - 7));
  obs.set_status("located");
  obs.set_checked_at_unix_ms(now_ms);
  auto* dns = obs.mutable_dns();
  dns->add_cname_chain(obs.host());
  dns->add_cname_chain("edge.hoster.example");
  for (const char* ip : {"192.0.2.1", "192.0.2.2"}) {
    auto* a = dns->add_addresses();
    a->set_ip(ip);
    a->set_ttl(300);
    auto* info = obs.add_addresses();
    info->set_ip(ip);
    info->set_country("DE");
    info->set_asn(64500);
    info->set_as_org("Example Hosting GmbH");
    info->set_network("192.0.2.0/24");
  }
  obs.set_pinned_ip("192.0.2.1");
  auto* http = obs.mutable_http();
  http->set_method("HEAD");
  http->set_request_url(url);
  http->set_status(200);
  http->set_http_version("1.1");
  for (const auto& [name, value] :
       {std::pair{"Server", "nginx"}, std::pair{"Content-Type", "text/html"},
        std::pair{"Date", "Sun, 29 Nov 2026 10:00:00 GMT"}}) {
    auto* h = http->add_headers();
    h->set_name(name);
    h->set_value(value);
  }
  http->set_connected_ip("192.0.2.1");
  http->set_connected_port(80);
  obs.add_providers()->set_name("Example Hosting");
  obs.mutable_verdict()->add_hosting_countries("DE");
  obs.mutable_verdict()->add_reasons("HTTP HEAD answered from 192.0.2.1 (DE)");
  auto* source = obs.add_data_sources();
  source->set_role("country");
  source->set_build_epoch(now_ms / 1000 - 86400);
  source->set_sha256(std::string(64, 'a'));
  obs.set_tool_version("bench");
  return obs;
}

// Leases everything pending and stores a typical observation for each.
Status AnswerAll(Store& store, int64_t now_ms) {
  while (true) {
    auto leased = store.LeasePending(4096, now_ms);
    if (!leased.ok()) return leased.status();
    if (leased->empty()) return Status::Ok();
    std::vector<std::string> observations;
    observations.reserve(leased->size());
    std::vector<Store::ResultIn> in;
    for (const pb::JobRecord& job : *leased) {
      observations.push_back(
          TypicalObservation(job.url(), now_ms).SerializeAsString());
    }
    for (size_t i = 0; i < leased->size(); ++i) {
      in.push_back({(*leased)[i].job_id(), (*leased)[i].attempts(),
                    observations[i], "located"});
    }
    auto stored = store.StoreResults(in, now_ms);
    if (!stored.ok()) return stored.status();
  }
}

int Export(uint64_t jobs, uint64_t rechecked, const std::string& dir) {
  auto store = Store::Open(dir);
  if (!store.ok()) return 1;
  std::string list;
  for (uint64_t i = 0; i < jobs; ++i) list += UrlOf(i);
  auto reader = InputReader::FromText(list);
  if (!reader.ok()) return 1;
  const int64_t now = SystemClockMs();
  auto ingested =
      IngestBatch(**store, **reader, BatchSpec{}, now, RejectionSink());
  if (!ingested.ok() || !AnswerAll(**store, now).ok()) return 1;
  if (rechecked > 0) {
    // Submitted again with maximum age 0: every R-th URL is checked again.
    std::string again;
    for (uint64_t i = 0; i < jobs; i += rechecked) again += UrlOf(i);
    auto second = InputReader::FromText(again);
    BatchSpec spec;
    spec.max_result_age_ms = 0;
    if (!second.ok() ||
        !IngestBatch(**store, **second, spec, now + 1000, RejectionSink())
             .ok() ||
        !AnswerAll(**store, now + 3'600'000).ok()) {
      return 1;
    }
  }
  const uint64_t run = ingested->run.run_id();
  for (auto [name, format] : {std::pair{"jsonl", ExportFormat::kJsonl},
                              std::pair{"csv", ExportFormat::kCsv}}) {
    const auto start = std::chrono::steady_clock::now();
    uint64_t next_line = 0;
    uint64_t bytes = 0;
    std::string chunk;
    while (true) {
      auto ended = AppendExportChunk(**store, run, format, 1 << 16, &next_line,
                                     &chunk, HistorySettings{});
      if (!ended.ok()) return 1;
      bytes += chunk.size();
      chunk.clear();
      if (*ended) break;
    }
    const double s = Seconds(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "export %s: %llu lines (one in %llu checked twice), %.1f MB in "
        "%.2f s = %.0f lines/s\n",
        name, static_cast<unsigned long long>(jobs),
        static_cast<unsigned long long>(rechecked), bytes / 1e6, s, jobs / s);
  }
  return 0;
}

}  // namespace
}  // namespace hl::coordinator

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s throughput|queue|export|politeness [--jobs N] "
                 "[--workers W] [--rechecked R] [--hot-host-share S] "
                 "[--fleet-cap C] [--dir D] [--keep 1]\n",
                 argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  uint64_t jobs = mode == "queue" ? 10'000'000 : 200'000;
  int workers = 4;
  uint64_t rechecked = 10;
  bool keep = false;
  double hot_share = 0.5;
  uint32_t fleet_cap = 2;
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("hl-coordinator-bench-" + std::to_string(::getpid())))
                        .string();
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--jobs") jobs = std::stoull(argv[i + 1]);
    if (flag == "--workers") workers = std::stoi(argv[i + 1]);
    if (flag == "--dir") dir = argv[i + 1];
    if (flag == "--rechecked") rechecked = std::stoull(argv[i + 1]);
    if (flag == "--keep") keep = std::string(argv[i + 1]) == "1";
    if (flag == "--hot-host-share") hot_share = std::stod(argv[i + 1]);
    if (flag == "--fleet-cap") fleet_cap = std::stoul(argv[i + 1]);
  }
  int rc = 2;
  if (mode == "throughput")
    rc = hl::coordinator::Throughput(jobs, workers, dir);
  if (mode == "queue") rc = hl::coordinator::Queue(jobs, dir);
  if (mode == "export") rc = hl::coordinator::Export(jobs, rechecked, dir);
  if (mode == "politeness") {
    rc = hl::coordinator::Politeness(jobs, workers, hot_share, fleet_cap, dir);
  }
  if (!keep) std::filesystem::remove_all(dir);
  return rc;
}
