// The broker against real ZeroMQ DEALER peers over inproc://, driven by hand
// so each protocol rule can be provoked: credit, results, silent workers,
// duplicates, the attempt cap, foreign versions and malformed messages.
#include "coordinator/broker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "common/curve.h"
#include "common/protocol.h"
#include "coordinator/zap.h"

namespace hl::coordinator {
namespace {

using namespace std::chrono_literals;

// A worker peer speaking the protocol by hand.
class FakeWorker {
 public:
  // With `keys`, a CURVE client of the server key `server_public`.
  FakeWorker(zmq::context_t* context, const std::string& endpoint,
             const CurveKeyPair* keys = nullptr,
             const std::string& server_public = "")
      : socket_(*context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (keys != nullptr) {
      socket_.set(zmq::sockopt::curve_serverkey, server_public);
      socket_.set(zmq::sockopt::curve_publickey, keys->public_z85);
      socket_.set(zmq::sockopt::curve_secretkey, keys->secret_z85);
    }
    socket_.connect(endpoint);
  }
  // Never blocks: a refused CURVE handshake leaves no pipe to queue in.
  void SendRaw(const std::string& bytes) {
    (void)socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  }
  void Send(const pb::Envelope& envelope) { SendRaw(EncodeEnvelope(envelope)); }
  void Ready(uint32_t capacity) {
    pb::Envelope e;
    e.mutable_ready()->set_capacity(capacity);
    e.mutable_ready()->set_worker_name("fake");
    Send(e);
  }
  void Result(const pb::Job& job) {
    pb::Envelope e;
    pb::JobResult* result = e.mutable_results()->add_results();
    result->set_job_id(job.job_id());
    result->set_attempt(job.attempt());
    result->mutable_observation()->set_url(job.url());
    result->mutable_observation()->set_status("located");
    Send(e);
  }
  // The next message that is not a heartbeat, within `timeout`; sends a
  // heartbeat every 20 ms meanwhile, as a live worker does, unless told not
  // to.
  std::optional<pb::Envelope> Receive(std::chrono::milliseconds timeout,
                                      bool heartbeats = true) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pb::Envelope heartbeat;
    heartbeat.mutable_heartbeat();
    while (std::chrono::steady_clock::now() < deadline) {
      if (heartbeats) Send(heartbeat);
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      zmq::message_t message;
      if (!socket_.recv(message, zmq::recv_flags::dontwait)) continue;
      pb::Envelope envelope;
      if (!envelope.ParseFromArray(message.data(),
                                   static_cast<int>(message.size()))) {
        ADD_FAILURE() << "undecodable message from the broker";
        continue;
      }
      if (!envelope.has_heartbeat()) return envelope;
    }
    return std::nullopt;
  }
  std::vector<pb::Job> ReceiveJobs(std::chrono::milliseconds timeout,
                                   bool heartbeats = true) {
    auto envelope = Receive(timeout, heartbeats);
    if (!envelope || !envelope->has_jobs()) return {};
    return {envelope->jobs().jobs().begin(), envelope->jobs().jobs().end()};
  }

 private:
  zmq::socket_t socket_;
};

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-broker-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    store_ = std::move(Store::Open(dir_.string())).value();
    endpoint_ = "inproc://broker-test";
  }
  void TearDown() override {
    StopBroker();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AddUrls(int n) {
    auto run = store_->BeginRun(pb::RunRecord(), 0);
    auto ingest = store_->StartIngest(run->run_id(), 0);
    for (int i = 1; i <= n; ++i) {
      const std::string url = "http://host" + std::to_string(i) + ".test/";
      ASSERT_TRUE(ingest->AddUrl(i, url, url, pb::RequestContext()).ok());
    }
    ASSERT_TRUE(ingest->Commit().ok());
  }

  // Starts the broker on its own thread; `until_drained` ends it when all
  // work is done.
  void StartBroker(BrokerOptions options, bool until_drained = false) {
    options.endpoint = endpoint_;
    broker_ = std::make_unique<Broker>(&context_, store_.get(), options,
                                       SystemClockMs);
    ASSERT_TRUE(broker_->Bind().ok());
    endpoint_ = broker_->bound_endpoint();
    broker_->set_result_sink([this](const pb::JobRecord&, std::string_view) {
      ++sunk_;
      dispatched_when_stored_.push_back(broker_->stats().dispatched);
    });
    thread_ = std::thread([this, until_drained] {
      run_status_ = broker_->Run(stop_, until_drained);
      finished_ = true;
    });
  }
  void StopBroker() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool WaitFinished(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!finished_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    return finished_;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  zmq::context_t context_;
  std::string endpoint_;
  std::unique_ptr<Broker> broker_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int> sunk_{0};
  // The broker's dispatched count as each result was stored (written on
  // the broker's thread, read after it ended).
  std::vector<uint64_t> dispatched_when_stored_;
  Status run_status_;
};

// The credit a result returns is leased before the result is stored: the
// second job is on its way when the first result reaches the store.
TEST_F(BrokerTest, LeasesReturnedCreditBeforeStoringTheResults) {
  AddUrls(2);
  StartBroker(BrokerOptions{}, /*until_drained=*/true);
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(1);
  auto jobs = worker.ReceiveJobs(2s);
  ASSERT_EQ(jobs.size(), 1u);
  // No heartbeat until the next job: another message in the result's round
  // would have it stored at once.
  worker.Result(jobs[0]);
  jobs = worker.ReceiveJobs(2s, /*heartbeats=*/false);
  ASSERT_EQ(jobs.size(), 1u);
  worker.Result(jobs[0]);
  ASSERT_TRUE(WaitFinished(5s));
  ASSERT_EQ(dispatched_when_stored_.size(), 2u);
  EXPECT_EQ(dispatched_when_stored_[0], 2u)
      << "the second job was leased only after the first result was stored";
}

// A worker of capacity 64 is leased in groups of two credits (a 32nd of
// its capacity): one returned credit waits for the next.
TEST_F(BrokerTest, LeasesCreditInGroupsOfAThirtySecondOfTheCapacity) {
  AddUrls(70);
  StartBroker(BrokerOptions{});
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(64);
  std::vector<pb::Job> jobs;
  while (jobs.size() < 64) {
    auto more = worker.ReceiveJobs(2s);
    ASSERT_FALSE(more.empty()) << "only " << jobs.size() << " jobs";
    jobs.insert(jobs.end(), more.begin(), more.end());
  }
  EXPECT_EQ(jobs.size(), 64u);
  worker.Result(jobs[0]);
  EXPECT_FALSE(worker.Receive(300ms).has_value())
      << "leased one credit of a worker of capacity 64";
  worker.Result(jobs[1]);
  EXPECT_EQ(worker.ReceiveJobs(2s).size(), 2u);
}

TEST_F(BrokerTest, DispatchesOnlyAgainstCreditAndDrains) {
  AddUrls(5);
  StartBroker(BrokerOptions{}, /*until_drained=*/true);
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(2);
  auto jobs = worker.ReceiveJobs(2s);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_FALSE(worker.Receive(200ms).has_value()) << "sent beyond credit";
  int done = 0;
  while (done < 5) {
    ASSERT_FALSE(jobs.empty()) << "no more jobs after " << done;
    for (const auto& job : jobs) {
      worker.Result(job);
      ++done;
    }
    jobs = done < 5 ? worker.ReceiveJobs(2s) : std::vector<pb::Job>{};
  }
  ASSERT_TRUE(WaitFinished(5s));
  EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
  EXPECT_EQ(sunk_.load(), 5);
  EXPECT_EQ(broker_->stats().results, 5u);
  for (uint64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(store_->GetJob(id)->state(), pb::JOB_STATE_DONE);
  }
}

TEST_F(BrokerTest, SilentWorkersJobsGoToAnotherWorker) {
  AddUrls(3);
  BrokerOptions options;
  options.heartbeat_interval_ms = 50;
  options.heartbeat_liveness = 3;
  StartBroker(options, /*until_drained=*/true);
  FakeWorker silent(&context_, endpoint_);
  silent.Ready(3);
  auto taken = silent.ReceiveJobs(2s);
  ASSERT_EQ(taken.size(), 3u);
  // `silent` now says nothing more; a second worker arrives.
  FakeWorker healthy(&context_, endpoint_);
  healthy.Ready(3);
  auto jobs = healthy.ReceiveJobs(3s);
  ASSERT_EQ(jobs.size(), 3u);
  for (const auto& job : jobs) {
    EXPECT_EQ(job.attempt(), 2u);
    healthy.Result(job);
  }
  ASSERT_TRUE(WaitFinished(5s));
  EXPECT_EQ(broker_->stats().workers_lost, 1u);
  EXPECT_EQ(broker_->stats().requeued, 3u);
  // The silent worker's late result is dropped and counted.
  EXPECT_EQ(sunk_.load(), 3);
}

TEST_F(BrokerTest, LateDuplicateResultsAreDroppedAndCounted) {
  AddUrls(1);
  StartBroker(BrokerOptions{});
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(1);
  auto jobs = worker.ReceiveJobs(2s);
  ASSERT_EQ(jobs.size(), 1u);
  worker.Result(jobs[0]);
  worker.Result(jobs[0]);
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (broker_->stats().duplicate_results < 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  StopBroker();
  EXPECT_EQ(broker_->stats().results, 1u);
  EXPECT_EQ(broker_->stats().duplicate_results, 1u);
  EXPECT_EQ(store_->GetJob(1)->checks(), 1u);
}

TEST_F(BrokerTest, ExpiredLeasesReachTheAttemptCap) {
  AddUrls(1);
  BrokerOptions options;
  options.lease_timeout_ms = 60;
  options.max_attempts = 2;
  StartBroker(options, /*until_drained=*/true);
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(10);
  // Takes the job twice, never answers; keeps itself alive with heartbeats.
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto jobs = worker.ReceiveJobs(2s);
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].attempt(), attempt);
  }
  ASSERT_TRUE(WaitFinished(3s));
  auto job = store_->GetJob(1);
  EXPECT_EQ(job->state(), pb::JOB_STATE_DEAD);
  EXPECT_EQ(job->last_error(), "lease expired");
  EXPECT_EQ(broker_->stats().dead_lettered, 1u);
}

TEST_F(BrokerTest, RefusesAnotherProtocolVersionWithAReason) {
  AddUrls(1);
  StartBroker(BrokerOptions{});
  FakeWorker worker(&context_, endpoint_);
  pb::Envelope ready;
  ready.set_protocol_version(kProtocolVersion + 1);
  ready.mutable_ready()->set_capacity(5);
  worker.SendRaw(ready.SerializeAsString());
  auto reply = worker.Receive(2s);
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->has_disconnect());
  EXPECT_NE(reply->disconnect().reason().find("protocol version"),
            std::string::npos);
  EXPECT_FALSE(worker.Receive(200ms).has_value()) << "got jobs anyway";
  StopBroker();
  EXPECT_EQ(broker_->stats().refused_messages, 1u);
  EXPECT_EQ(broker_->stats().dispatched, 0u);
}

TEST_F(BrokerTest, SurvivesMalformedMessages) {
  AddUrls(1);
  StartBroker(BrokerOptions{});
  FakeWorker noisy(&context_, endpoint_);
  noisy.SendRaw("");  // decodes as version 0: refused with a reason
  noisy.SendRaw(std::string("\xff\xff\xff\xff garbage", 13));
  pb::Envelope empty;
  noisy.Send(empty);  // right version, no body
  zmq::socket_t multi(context_, zmq::socket_type::dealer);
  multi.set(zmq::sockopt::linger, 0);
  multi.connect(endpoint_);
  multi.send(zmq::str_buffer("a"), zmq::send_flags::sndmore);
  multi.send(zmq::str_buffer("b"), zmq::send_flags::none);
  // The broker still serves a well-behaved worker afterwards.
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(1);
  auto jobs = worker.ReceiveJobs(2s);
  ASSERT_EQ(jobs.size(), 1u);
  StopBroker();
  EXPECT_TRUE(run_status_.ok());
  EXPECT_EQ(broker_->stats().refused_messages, 4u);
}

// Messages of a peer that has not sent READY (or was forgotten as silent)
// get no answer, not even heartbeats: such a worker sees a silent
// coordinator, reconnects and registers again.
TEST_F(BrokerTest, AnswersOnlyRegisteredWorkers) {
  BrokerOptions options;
  options.heartbeat_interval_ms = 20;
  StartBroker(options);
  zmq::socket_t raw(context_, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 200);
  raw.connect(endpoint_);
  pb::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  raw.send(zmq::buffer(EncodeEnvelope(heartbeat)));
  zmq::message_t reply;
  EXPECT_FALSE(raw.recv(reply).has_value()) << "answered an unknown peer";
  pb::Envelope ready;
  ready.mutable_ready()->set_capacity(0);
  raw.send(zmq::buffer(EncodeEnvelope(ready)));
  ASSERT_TRUE(raw.recv(reply).has_value());
  auto decoded = DecodeEnvelope(reply.to_string_view());
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->has_heartbeat());
  EXPECT_EQ(decoded->heartbeat().interval_ms(), 20u);
  EXPECT_EQ(broker_->live_workers(), 1u);
}

// A duplicate result returns no credit: credit stays what READY granted.
TEST_F(BrokerTest, DuplicateResultsReturnNoCredit) {
  AddUrls(3);
  StartBroker(BrokerOptions{});
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(1);
  auto jobs = worker.ReceiveJobs(2s);
  ASSERT_EQ(jobs.size(), 1u);
  worker.Result(jobs[0]);
  worker.Result(jobs[0]);  // would grant a second credit if it counted
  auto next = worker.ReceiveJobs(2s);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_FALSE(worker.Receive(300ms).has_value()) << "sent beyond credit";
  StopBroker();
  EXPECT_EQ(broker_->stats().duplicate_results, 1u);
}

// Stopping the coordinator: workers are told to come back later and their
// leases return to the queue without costing an attempt.
TEST_F(BrokerTest, FarewellTellsWorkersToReconnectAndRequeuesTheirJobs) {
  AddUrls(2);
  StartBroker(BrokerOptions{});
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(2);
  ASSERT_EQ(worker.ReceiveJobs(2s).size(), 2u);
  StopBroker();
  ASSERT_TRUE(broker_->Farewell("coordinator stopping").ok());
  auto bye = worker.Receive(2s);
  ASSERT_TRUE(bye.has_value());
  ASSERT_TRUE(bye->has_disconnect());
  EXPECT_TRUE(bye->disconnect().reconnect());
  EXPECT_EQ(store_->pending_count(), 2u);
  for (uint64_t id : {1, 2}) {
    EXPECT_EQ(store_->GetJob(id)->state(), pb::JOB_STATE_PENDING);
  }
  EXPECT_EQ(broker_->live_workers(), 0u);
}

// Oversized messages over TCP: ZeroMQ drops them (and the connection) before
// the broker reads them; the broker keeps serving.
TEST_F(BrokerTest, SurvivesOversizedMessagesOverTcp) {
  AddUrls(1);
  endpoint_ = "tcp://127.0.0.1:*";
  StartBroker(BrokerOptions{});
  FakeWorker noisy(&context_, endpoint_);
  noisy.SendRaw(std::string(kMaxMessageBytes + 1, 'x'));
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(1);
  ASSERT_EQ(worker.ReceiveJobs(3s).size(), 1u);
  StopBroker();
  EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
}

// CURVE with the ZAP handler: a worker whose key is authorised gets jobs;
// one with another key gets nothing and its refusal is counted.
TEST_F(BrokerTest, CurveAdmitsOnlyAuthorisedWorkerKeys) {
  AddUrls(1);
  auto server = GenerateCurveKeyPair();
  auto admitted = GenerateCurveKeyPair();
  auto stranger = GenerateCurveKeyPair();
  ASSERT_TRUE(server.ok() && admitted.ok() && stranger.ok());
  auto zap = ZapHandler::Start(&context_, {admitted->public_z85});
  ASSERT_TRUE(zap.ok()) << zap.status().ToString();
  endpoint_ = "tcp://127.0.0.1:*";
  BrokerOptions options;
  options.curve_secret_key = server->secret_z85;
  StartBroker(options);

  FakeWorker intruder(&context_, endpoint_, &*stranger, server->public_z85);
  intruder.Ready(5);
  EXPECT_FALSE(intruder.Receive(500ms).has_value());
  EXPECT_EQ((*zap)->refused(), 1u);

  FakeWorker worker(&context_, endpoint_, &*admitted, server->public_z85);
  worker.Ready(5);
  ASSERT_EQ(worker.ReceiveJobs(3s).size(), 1u);
  StopBroker();
  EXPECT_EQ(broker_->stats().dispatched, 1u);
  EXPECT_EQ((*zap)->refused(), 1u);
  broker_.reset();  // its socket goes before the ZAP handler
}

TEST(ZapTest, DecidesFromTheAuthorisedKeys) {
  const std::string known(32, 'k');
  const std::string other(32, 'o');
  const std::unordered_set<std::string> authorized = {known};
  struct Case {
    std::string name;
    std::vector<std::string> frames;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"authorised", {"1.0", "7", "d", "127.0.0.1", "", "CURVE", known}, "200"},
      {"unknown key",
       {"1.0", "7", "d", "127.0.0.1", "", "CURVE", other},
       "400"},
      {"plain", {"1.0", "7", "d", "127.0.0.1", "", "NULL", known}, "400"},
      {"short key", {"1.0", "7", "d", "127.0.0.1", "", "CURVE", "k"}, "400"},
      {"version", {"2.0", "7", "d", "127.0.0.1", "", "CURVE", known}, "500"},
      {"frames", {"1.0", "7", "d"}, "500"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ZapReply reply = DecideZap(c.frames, authorized);
    EXPECT_EQ(reply.status_code, c.code);
    EXPECT_EQ(reply.request_id, "7");
    EXPECT_EQ(reply.user_id.empty(), c.code != "200");
  }
  EXPECT_EQ(DecideZap({}, authorized).status_code, "500");
}

}  // namespace
}  // namespace hl::coordinator

namespace hl::coordinator {
namespace {

// With periodic re-checks on, a located job comes back to the worker once
// its interval has passed, and each check is kept in its history.
TEST_F(BrokerTest, QueuesPeriodicRechecksAsTheyFallDue) {
  store_.reset();
  store_ = std::move(Store::Open(dir_.string(), {.recheck_interval_ms = 200}))
               .value();
  AddUrls(1);
  StartBroker(BrokerOptions{});
  FakeWorker worker(&context_, endpoint_);
  worker.Ready(1);
  for (int check = 1; check <= 2; ++check) {
    auto jobs = worker.ReceiveJobs(3s);
    ASSERT_EQ(jobs.size(), 1u) << "check " << check;
    EXPECT_EQ(jobs[0].job_id(), 1u);
    EXPECT_EQ(jobs[0].attempt(), 1u);  // a re-check starts a new attempt count
    worker.Result(jobs[0]);
  }
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (sunk_.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  StopBroker();
  EXPECT_GE(broker_->stats().rechecks_queued, 1u);
  auto history = store_->History(1);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u);
}

}  // namespace
}  // namespace hl::coordinator
