// The worker's side of the protocol against a bare ROUTER socket playing
// the coordinator.
#include "worker/worker.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/protocol.h"
#include "tests/worker/loopback_servers.h"
#include "tests/worker/test_geo.h"

namespace hl::worker {
namespace {

constexpr int64_t kNow = 1'764'381'692'000;
constexpr char kEndpoint[] = "inproc://hostlocator-worker-test";

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    geo_file_ = std::make_unique<testing::TestGeo>(
        std::vector<testing::TestNetwork>{{"127.10.0.0/16", "DE", 0, ""}});
    ASSERT_TRUE(geo_file_->status().ok()) << geo_file_->status().ToString();
    geo_ = geo_file_->locator();
    // A resolver that never answers: every probe of a domain takes the
    // resolver timeout.
    silent_dns_fd_ =
        testing::BindLoopback("127.53.2.1", SOCK_DGRAM, &silent_dns_port_);
    ASSERT_GE(silent_dns_fd_, 0);
  }

  void TearDown() override {
    if (silent_dns_fd_ >= 0) close(silent_dns_fd_);
  }

  ProberFactory Factory() {
    return [this](EventLoop* loop) {
      Config config = DefaultConfig();
      config.resolver.servers = {
          testing::HostPort("127.53.2.1", silent_dns_port_)};
      config.resolver.timeout_ms = 600;
      config.resolver.tries = 1;
      return Prober::Create(
          config, geo_, std::make_shared<const ProviderTable>(),
          {.tool_version = "hostlocator-test",
           .config_digest = "c0ffee",
           .worker_name = "worker-test"},
          [] { return kNow; }, loop);
    };
  }

  // A ROUTER on kEndpoint playing the coordinator.
  static zmq::socket_t BindRouter(zmq::context_t& context, int rcvtimeo_ms) {
    zmq::socket_t router(context, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::rcvtimeo, rcvtimeo_ms);
    router.bind(kEndpoint);
    return router;
  }

  static WorkerOptions Options(uint32_t capacity, uint32_t heartbeat_ms) {
    WorkerOptions options;
    options.endpoint = kEndpoint;
    options.name = "worker-test";
    options.capacity = capacity;
    options.heartbeat_interval_ms = heartbeat_ms;
    options.heartbeat_liveness = 1000;
    return options;
  }

  // One JOBS message with a job of `url` for each of `job_ids`.
  static void SendJobs(zmq::socket_t& router, const std::string& peer,
                       const std::vector<uint64_t>& job_ids,
                       const std::string& url = "http://slow.test/") {
    pb::Envelope envelope;
    for (uint64_t job_id : job_ids) {
      pb::Job* job = envelope.mutable_jobs()->add_jobs();
      job->set_job_id(job_id);
      job->set_url(url);
      job->set_attempt(1);
    }
    Send(router, peer, EncodeEnvelope(envelope));
  }

  // `body` to the worker with routing id `peer`.
  static void Send(zmq::socket_t& router, const std::string& peer,
                   const std::string& body) {
    router.send(zmq::buffer(peer), zmq::send_flags::sndmore);
    router.send(zmq::buffer(body), zmq::send_flags::none);
  }

  // A HEARTBEAT, which keeps the worker on the connection of `peer`.
  static void SendHeartbeat(zmq::socket_t& router, const std::string& peer) {
    pb::Envelope heartbeat;
    heartbeat.mutable_heartbeat();
    Send(router, peer, EncodeEnvelope(heartbeat));
  }

  // The next message from the worker, with its routing id in *peer.
  static std::optional<pb::Envelope> Receive(zmq::socket_t& router,
                                             std::string* peer) {
    zmq::message_t id, body;
    if (!router.recv(id) || !router.recv(body)) return std::nullopt;
    *peer = id.to_string();
    auto decoded = DecodeEnvelope(body.to_string_view());
    if (!decoded.ok()) return std::nullopt;
    return *decoded;
  }

  // The results and whether a goodbye came, from what a stopped worker
  // sent (read until 200 ms pass without a message).
  struct Farewell {
    std::vector<uint64_t> results;
    bool goodbye = false;
  };
  static Farewell ReadFarewell(zmq::socket_t& router) {
    Farewell f;
    std::string peer;
    router.set(zmq::sockopt::rcvtimeo, 200);
    while (auto message = Receive(router, &peer)) {
      for (const pb::JobResult& result : message->results().results()) {
        f.results.push_back(result.job_id());
      }
      if (message->has_disconnect()) f.goodbye = true;
    }
    return f;
  }

  // A worker with `options` running on its own thread against a ROUTER on
  // kEndpoint that plays the coordinator (receives time out after
  // `rcvtimeo_ms`). Destroying it stops the worker and joins its thread.
  class Session {
   public:
    Session(WorkerTest* test, const WorkerOptions& options, int rcvtimeo_ms)
        : router_(BindRouter(context_, rcvtimeo_ms)),
          worker_(&context_, options, test->Factory(), SteadyClockMs),
          finished_(done_.get_future()),
          thread_([this] { done_.set_value(worker_.Run(stop_)); }) {}
    ~Session() { Stop(); }

    // The worker's next message, with its routing id in *peer.
    std::optional<pb::Envelope> Receive(std::string* peer) {
      return WorkerTest::Receive(router_, peer);
    }
    // The worker's first message, which must be a READY; its routing id in
    // *peer.
    ::testing::AssertionResult ReceiveReady(std::string* peer,
                                            pb::Envelope* ready = nullptr) {
      std::optional<pb::Envelope> message = Receive(peer);
      if (!message) return ::testing::AssertionFailure() << "no message";
      if (!message->has_ready()) {
        return ::testing::AssertionFailure()
               << "not a READY: " << message->ShortDebugString();
      }
      if (ready != nullptr) *ready = *std::move(message);
      return ::testing::AssertionSuccess();
    }
    // Asks the worker to stop without waiting for it.
    void RequestStop() { stop_ = true; }
    // Whether Worker::Run returned within `timeout`.
    bool ReturnsWithin(std::chrono::milliseconds timeout) {
      return finished_.wait_for(timeout) == std::future_status::ready;
    }
    // Stops the worker (shutting the context down if it does not return
    // within 5 s) and returns what Worker::Run returned; the router stays
    // readable when the worker returned by itself.
    Status Stop() {
      if (!thread_.joinable()) return status_;
      stop_ = true;
      if (!ReturnsWithin(std::chrono::seconds(5))) {
        router_.close();
        context_.shutdown();
      }
      thread_.join();
      status_ = finished_.get();
      return status_;
    }

    zmq::socket_t& router() { return router_; }

   private:
    zmq::context_t context_;
    zmq::socket_t router_;
    std::atomic<bool> stop_{false};
    Worker worker_;
    std::promise<Status> done_;
    std::future<Status> finished_;
    Status status_;
    std::thread thread_;
  };

  std::unique_ptr<testing::TestGeo> geo_file_;
  std::shared_ptr<const geo::GeoLocator> geo_;
  int silent_dns_fd_ = -1;
  uint16_t silent_dns_port_ = 0;
};

// Jobs the coordinator sends while the worker drains (it may, against the
// credit the last results returned) are not started; the worker still
// finishes the probe under way, says goodbye and returns.
TEST_F(WorkerTest, JobsArrivingWhileStoppingDoNotKeepTheWorkerRunning) {
  Session session(this, Options(/*capacity=*/1, /*heartbeat_ms=*/20), 5000);
  std::string peer;
  ASSERT_TRUE(session.ReceiveReady(&peer));
  SendJobs(session.router(), peer, {1});
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  session.RequestStop();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  SendJobs(session.router(), peer, {2});

  ASSERT_TRUE(session.ReturnsWithin(std::chrono::seconds(5)))
      << "the worker kept waiting for a job it never ran";
  EXPECT_TRUE(session.Stop().ok());

  const Farewell farewell = ReadFarewell(session.router());
  EXPECT_EQ(farewell.results, std::vector<uint64_t>{1});
  EXPECT_TRUE(farewell.goodbye);
}

// One thread keeps every job of its credit in flight at once: 50 probes
// that each wait 600 ms for a silent resolver end together, not one after
// the other (which would take 30 s).
TEST_F(WorkerTest, OneThreadRunsItsWholeCreditConcurrently) {
  Session session(this, Options(/*capacity=*/50, /*heartbeat_ms=*/1000), 10000);
  std::string peer;
  pb::Envelope ready;
  ASSERT_TRUE(session.ReceiveReady(&peer, &ready));
  EXPECT_EQ(ready.ready().capacity(), 50u);
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t id = 1; id <= 50; ++id) SendJobs(session.router(), peer, {id});
  std::set<uint64_t> results;
  while (results.size() < 50) {
    std::optional<pb::Envelope> message = session.Receive(&peer);
    if (!message) break;
    for (const pb::JobResult& result : message->results().results()) {
      EXPECT_EQ(result.observation().error().error_class(), "dns_timeout");
      results.insert(result.job_id());
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(session.Stop().ok());
  EXPECT_EQ(results.size(), 50u);
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
}

// The results a turn of the worker's loop finishes leave in one RESULTS
// message, in the order they finished: invalid URLs finish on the turn
// that received their jobs.
TEST_F(WorkerTest, SendsTheResultsOfOneTurnInOneMessage) {
  Session session(this, Options(/*capacity=*/5, /*heartbeat_ms=*/1000), 5000);
  std::string peer;
  ASSERT_TRUE(session.ReceiveReady(&peer));
  SendJobs(session.router(), peer, {1, 2, 3, 4, 5}, "not a url");
  std::optional<pb::Envelope> message;
  do {
    message = session.Receive(&peer);
  } while (message && message->has_heartbeat());
  EXPECT_TRUE(session.Stop().ok());
  ASSERT_TRUE(message.has_value());
  ASSERT_TRUE(message->has_results());
  std::vector<uint64_t> job_ids;
  for (const pb::JobResult& result : message->results().results()) {
    EXPECT_EQ(result.observation().error().error_class(), "invalid_url");
    job_ids.push_back(result.job_id());
  }
  EXPECT_EQ(job_ids, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

TEST(ReconnectDelayTest, DoublesUpToTheCapWithEqualJitter) {
  struct Case {
    uint32_t attempt;
    double unit;
    int64_t expected;
  };
  const Case cases[] = {
      {0, 0.0, 50},     {0, 0.999, 99},  {1, 0.0, 100},
      {3, 0.5, 600},    {6, 0.0, 3200},  {7, 0.0, 5000},
      {7, 0.999, 9995}, {40, 0.0, 5000}, {200, 0.5, 7500},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "attempt " << c.attempt << " unit " << c.unit);
    EXPECT_EQ(ReconnectDelayMs(c.attempt, 100, 10000, c.unit), c.expected);
  }
}

// A coordinator speaking another protocol version ends the worker with a
// message naming both versions; it does not reconnect in a loop.
TEST_F(WorkerTest, RefusesACoordinatorOfAnotherProtocolVersion) {
  Session session(this, Options(/*capacity=*/1, /*heartbeat_ms=*/50), 5000);
  std::string peer;
  ASSERT_TRUE(session.ReceiveReady(&peer));
  pb::Envelope future;
  future.set_protocol_version(kProtocolVersion + 1);
  future.mutable_heartbeat();
  Send(session.router(), peer, future.SerializeAsString());
  ASSERT_TRUE(session.ReturnsWithin(std::chrono::seconds(5)));
  const Status status = session.Stop();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("protocol version " +
                                  std::to_string(kProtocolVersion + 1)),
            std::string::npos)
      << status.message();
  EXPECT_NE(
      status.message().find("version " + std::to_string(kProtocolVersion)),
      std::string::npos)
      << status.message();
}

// A coordinator that falls silent: the worker connects again (a new routing
// id), registers with the capacity it has free, delivers the result of the
// probe of the first connection and then grants that probe's credit.
TEST_F(WorkerTest, ReconnectsToASilentCoordinatorAndDeliversResults) {
  WorkerOptions options = Options(/*capacity=*/2, /*heartbeat_ms=*/50);
  options.heartbeat_liveness = 3;
  options.reconnect_base_ms = 10;
  options.reconnect_max_ms = 100;
  Session session(this, options, 5000);
  std::string first;
  pb::Envelope ready;
  ASSERT_TRUE(session.ReceiveReady(&first, &ready));
  EXPECT_EQ(ready.ready().capacity(), 2u);
  session.router().set(zmq::sockopt::rcvtimeo, 100);
  SendJobs(session.router(), first, {7});  // 600 ms: the resolver never answers
  // Silent to the first connection; the later one is answered (any message
  // counts as life), so the worker stays on it.
  std::vector<uint32_t> capacities;  // of READYs on later connections
  std::string result_peer;
  bool credit_granted = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline && !credit_granted) {
    std::string peer;
    std::optional<pb::Envelope> message = session.Receive(&peer);
    if (!message) continue;
    if (peer != first) SendHeartbeat(session.router(), peer);
    if (message->has_ready() && peer != first) {
      capacities.push_back(message->ready().capacity());
      // After the result, on the connection that carried it: READY(1)
      // grants the credit of the probe that came from the first one.
      credit_granted = peer == result_peer && message->ready().capacity() == 1;
    }
    if (message->has_results() && peer != first && result_peer.empty()) {
      EXPECT_EQ(message->results().results_size(), 1);
      EXPECT_EQ(message->results().results(0).job_id(), 7u);
      result_peer = peer;
    }
  }
  EXPECT_TRUE(session.Stop().ok());
  ASSERT_FALSE(capacities.empty()) << "never registered again";
  EXPECT_EQ(capacities.front(), 1u) << "the probe under way holds a credit";
  EXPECT_FALSE(result_peer.empty())
      << "the result did not arrive after reconnecting";
  EXPECT_TRUE(credit_granted);
}

// Results sent before the coordinator fell silent are sent again on the
// next connection, the newest of them within max_retained_result_bytes.
TEST_F(WorkerTest, ResendsTheNewestResultsWithinTheRetainedBytes) {
  struct Case {
    size_t max_retained_result_bytes;
    size_t want_resent;
  };
  for (const Case& c : {Case{8 << 20, 3}, Case{1, 1}}) {
    WorkerOptions options = Options(/*capacity=*/3, /*heartbeat_ms=*/50);
    options.heartbeat_liveness = 3;
    options.reconnect_base_ms = 10;
    options.reconnect_max_ms = 100;
    options.max_retained_result_bytes = c.max_retained_result_bytes;
    Session session(this, options, 100);
    std::string first;
    std::optional<pb::Envelope> ready;
    for (int i = 0; i < 50 && !(ready && ready->has_ready()); ++i) {
      ready = session.Receive(&first);
    }
    ASSERT_TRUE(ready.has_value() && ready->has_ready());
    for (uint64_t job_id : {1, 2, 3}) {
      SendJobs(session.router(), first, {job_id});
    }
    // Answered until the three results (600 ms each, at once) arrive, then
    // silent on this connection.
    size_t results = 0;
    std::set<uint64_t> resent;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(4);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string peer;
      std::optional<pb::Envelope> message = session.Receive(&peer);
      if (!message) {
        if (!resent.empty()) break;  // a quiet 100 ms after the resend
        continue;
      }
      if (peer == first && results < 3) {
        results += message->results().results_size();
        if (results < 3) SendHeartbeat(session.router(), peer);
      }
      if (peer != first) {
        for (const pb::JobResult& result : message->results().results()) {
          resent.insert(result.job_id());
        }
      }
    }
    EXPECT_TRUE(session.Stop().ok());
    EXPECT_EQ(results, 3u);
    EXPECT_EQ(resent.size(), c.want_resent)
        << "bound " << c.max_retained_result_bytes;
  }
}

// A coordinator that says it stops is not a refusal: the worker connects
// again and registers.
TEST_F(WorkerTest, ReconnectsAfterTheCoordinatorSaysItStops) {
  WorkerOptions options = Options(/*capacity=*/2, /*heartbeat_ms=*/50);
  options.reconnect_base_ms = 10;
  Session session(this, options, 3000);
  std::string first;
  ASSERT_TRUE(session.ReceiveReady(&first));
  pb::Envelope bye;
  bye.mutable_disconnect()->set_reason("coordinator stopping");
  bye.mutable_disconnect()->set_reconnect(true);
  Send(session.router(), first, EncodeEnvelope(bye));
  std::optional<pb::Envelope> again;
  std::string peer = first;
  for (int i = 0; i < 100 && (peer == first || !again || !again->has_ready());
       ++i) {
    again = session.Receive(&peer);
  }
  EXPECT_TRUE(session.Stop().ok());
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->has_ready());
  EXPECT_NE(peer, first);
  EXPECT_EQ(again->ready().capacity(), 2u);
}

}  // namespace
}  // namespace hl::worker

namespace hl::worker {
namespace {

// A worker with a stats board reports its process's figures in a heartbeat
// every interval, also while it is busy: the probe under way is counted,
// then its completion.
TEST_F(WorkerTest, HeartbeatsCarryTheProcessFigures) {
  WorkerStatsBoard board("w-stats", 1);
  WorkerOptions options = Options(/*capacity=*/2, /*heartbeat_ms=*/50);
  options.stats = &board;
  Session session(this, options, 5000);
  std::string peer;
  ASSERT_TRUE(session.ReceiveReady(&peer));
  SendJobs(session.router(), peer, {1});  // 600 ms: the resolver never answers
  session.router().set(zmq::sockopt::rcvtimeo, 100);
  uint64_t most_in_flight = 0;
  uint64_t last_sequence = 0;
  std::optional<pb::WorkerStats> finished;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && !finished) {
    std::string from;
    std::optional<pb::Envelope> message = session.Receive(&from);
    if (!message || !message->has_heartbeat()) continue;
    ASSERT_TRUE(message->heartbeat().has_stats());
    const pb::WorkerStats& stats = message->heartbeat().stats();
    EXPECT_EQ(stats.process_name(), "w-stats");
    EXPECT_GT(stats.sequence(), last_sequence);
    last_sequence = stats.sequence();
    most_in_flight = std::max(most_in_flight, stats.probes_in_flight());
    if (stats.completed() == 1) finished = stats;
  }
  EXPECT_TRUE(session.Stop().ok());
  EXPECT_EQ(most_in_flight, 1u);
  ASSERT_TRUE(finished.has_value()) << "no report of the finished probe";
  EXPECT_EQ(finished->errors_by_class().at("dns_timeout"), 1u);
  EXPECT_GT(finished->resident_bytes(), 0u);
}

}  // namespace
}  // namespace hl::worker

namespace hl::worker {
namespace {

TEST(LeaseAheadJobsTest, ScalesTheRecentRateToTheLookAheadUpToTheCapacity) {
  struct Case {
    uint64_t completed;
    int64_t window_ms;
    uint32_t ahead_ms;
    uint32_t capacity;
    uint32_t expected;
  };
  const Case cases[] = {
      {1500, 500, 300, 1000, 900},  // 3,000/s for 300 ms
      {1500, 500, 300, 800, 800},   // at most the capacity
      {1, 500, 300, 1000, 1},       // rounded up: 0.6 jobs
      {0, 500, 300, 1000, 0},       // nothing completed
      {100, 0, 300, 1000, 0},       // no window
      {100, -5, 300, 1000, 0},
      {100, 500, 0, 1000, 0},  // no look-ahead
      {2500, 1000, 250, 20000, 625},
      {UINT32_MAX, 1, 60000, 20000, 20000},  // no overflow
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.completed << " in " << c.window_ms << " ms, ahead "
                 << c.ahead_ms << " ms, capacity " << c.capacity);
    EXPECT_EQ(LeaseAheadJobs(c.completed, c.window_ms, c.ahead_ms, c.capacity),
              c.expected);
  }
}

// Jobs beyond the capacity wait in the worker's queue and start as probes
// end: with room for one probe, three jobs that each take the 600 ms
// resolver timeout end one after the other, not together.
TEST_F(WorkerTest, JobsBeyondTheCapacityStartAsProbesEnd) {
  Session session(this, Options(/*capacity=*/1, /*heartbeat_ms=*/1000), 5000);
  std::string peer;
  ASSERT_TRUE(session.ReceiveReady(&peer));
  for (uint64_t id = 1; id <= 3; ++id) SendJobs(session.router(), peer, {id});
  std::vector<uint64_t> order;
  std::vector<std::chrono::steady_clock::time_point> at;
  while (order.size() < 3) {
    std::optional<pb::Envelope> message = session.Receive(&peer);
    if (!message) break;
    for (const pb::JobResult& result : message->results().results()) {
      order.push_back(result.job_id());
      at.push_back(std::chrono::steady_clock::now());
    }
  }
  EXPECT_TRUE(session.Stop().ok());
  ASSERT_EQ(order, (std::vector<uint64_t>{1, 2, 3}));
  // Each probe lasts at least the resolver's 600 ms.
  EXPECT_GE(at[1] - at[0], std::chrono::milliseconds(400));
  EXPECT_GE(at[2] - at[1], std::chrono::milliseconds(400));
}

// Stopping drops the jobs still queued: only the probe under way ends with
// a result before the goodbye.
TEST_F(WorkerTest, StoppingDropsTheQueuedJobs) {
  Session session(this, Options(/*capacity=*/1, /*heartbeat_ms=*/1000), 5000);
  std::string peer;
  ASSERT_TRUE(session.ReceiveReady(&peer));
  SendJobs(session.router(), peer, {1});
  SendJobs(session.router(), peer, {2});
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(session.Stop().ok());

  const Farewell farewell = ReadFarewell(session.router());
  EXPECT_EQ(farewell.results, std::vector<uint64_t>{1});
  EXPECT_TRUE(farewell.goodbye);
}

// With a look-ahead, a worker that completes jobs asks for more than its
// capacity: a READY for the jobs its rate calls for (here the cap, the
// capacity: 2 jobs in about 0.5 s, scaled to 5 s), after its first READY.
TEST_F(WorkerTest, AsksForJobsAheadAtItsCompletionRate) {
  WorkerOptions options = Options(/*capacity=*/2, /*heartbeat_ms=*/1000);
  options.lease_ahead_ms = 5000;
  Session session(this, options, 5000);
  std::string peer;
  pb::Envelope ready;
  ASSERT_TRUE(session.ReceiveReady(&peer, &ready));
  EXPECT_EQ(ready.ready().capacity(), 2u);
  SendJobs(session.router(), peer, {1});
  SendJobs(session.router(), peer, {2});
  int results = 0;
  std::optional<uint32_t> more;
  while (!more) {
    std::optional<pb::Envelope> message = session.Receive(&peer);
    if (!message) break;
    results += message->results().results_size();
    if (message->has_ready()) more = message->ready().capacity();
  }
  EXPECT_TRUE(session.Stop().ok());
  EXPECT_EQ(results, 2);
  ASSERT_TRUE(more.has_value()) << "no READY for jobs ahead";
  EXPECT_EQ(*more, 2u);
}

}  // namespace
}  // namespace hl::worker
