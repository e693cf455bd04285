#include "worker/dns_resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "worker/event_loop.h"

namespace hl::worker {
namespace {

using testing::DnsTestServer;

constexpr int64_t kNow = 1'700'000'000'000;
// Longest a test waits for the loop.
constexpr int64_t kDeadlineMs = 5000;

std::unique_ptr<EventLoop> NewLoop() {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status().ToString();
  return std::move(loop).value();
}

std::unique_ptr<DnsResolver> NewResolver(const ResolverConfig& config,
                                         EventLoop* loop) {
  auto resolver = DnsResolver::Create(config, loop, [] { return kNow; });
  EXPECT_TRUE(resolver.ok()) << resolver.status().ToString();
  return resolver.ok() ? std::move(resolver).value() : nullptr;
}

// Runs `loop` until `done` holds or kDeadlineMs passed; false on the
// deadline.
bool RunUntil(EventLoop* loop, const std::function<bool()>& done) {
  bool expired = false;
  const EventLoop::TimerId timer =
      loop->After(kDeadlineMs, [&expired] { expired = true; });
  EXPECT_TRUE(loop->RunUntil([&] { return done() || expired; }).ok());
  loop->Cancel(timer);
  return !expired;
}

// Resolves `host` on the loop; an observation with error class "no answer"
// when the callback did not run in time.
pb::DnsObservation ResolveOn(EventLoop* loop, DnsResolver* resolver,
                             const std::string& host) {
  std::optional<pb::DnsObservation> result;
  resolver->Resolve(host, [&result](pb::DnsObservation obs) { result = obs; });
  if (!RunUntil(loop, [&result] { return result.has_value(); })) {
    ADD_FAILURE() << "no answer for " << host;
    result.emplace().mutable_error()->set_error_class("no answer");
  }
  return *result;
}

std::vector<std::string> Resolvers(const pb::DnsObservation& obs) {
  std::vector<std::string> resolvers;
  for (const pb::DnsQuery& query : obs.queries()) {
    resolvers.push_back(query.resolver());
  }
  return resolvers;
}

class DnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = DnsTestServer::Start("127.53.0.1");
    ASSERT_NE(server_, nullptr);
    loop_ = NewLoop();
  }

  std::unique_ptr<DnsResolver> Resolver(uint32_t timeout_ms = 1000,
                                        uint32_t tries = 2) {
    ResolverConfig config;
    config.servers = {server_->address()};
    config.timeout_ms = timeout_ms;
    config.tries = tries;
    return NewResolver(config, loop_.get());
  }

  pb::DnsObservation Resolve(const std::string& host,
                             DnsResolver* resolver = nullptr) {
    std::unique_ptr<DnsResolver> owned;
    if (resolver == nullptr) {
      owned = Resolver();
      resolver = owned.get();
    }
    return ResolveOn(loop_.get(), resolver, host);
  }

  static std::vector<std::string> Chain(const pb::DnsObservation& obs) {
    return {obs.cname_chain().begin(), obs.cname_chain().end()};
  }

  std::unique_ptr<DnsTestServer> server_;
  std::unique_ptr<EventLoop> loop_;
};

TEST_F(DnsResolverTest, FollowsCnameChainToAddressesWithTtls) {
  const std::vector<DnsTestServer::Rr> chain = {
      DnsTestServer::Cname("www.example.test", "CDN.Example.NET", 3600),
      DnsTestServer::Cname("cdn.example.net", "edge.cdn.test", 60)};
  std::vector<DnsTestServer::Rr> a = chain, aaaa = chain;
  a.push_back(DnsTestServer::A("edge.cdn.test", "192.0.2.10", 300));
  a.push_back(DnsTestServer::A("Edge.CDN.test", "192.0.2.11", 299));
  aaaa.push_back(DnsTestServer::Aaaa("edge.cdn.test", "2001:db8::10", 600));
  server_->Answer("www.example.test", DnsTestServer::kA, a);
  server_->Answer("www.example.test", DnsTestServer::kAaaa, aaaa);

  const pb::DnsObservation obs = Resolve("www.example.test");

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(Chain(obs),
            (std::vector<std::string>{"www.example.test", "cdn.example.net",
                                      "edge.cdn.test"}));
  ASSERT_EQ(obs.addresses_size(), 3);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.10");
  EXPECT_EQ(obs.addresses(0).ttl(), 300u);
  EXPECT_EQ(obs.addresses(1).ip(), "192.0.2.11");
  EXPECT_EQ(obs.addresses(1).ttl(), 299u);
  EXPECT_EQ(obs.addresses(2).ip(), "2001:db8::10");
  EXPECT_EQ(obs.addresses(2).ttl(), 600u);

  ASSERT_EQ(obs.queries_size(), 2);
  const std::vector<std::string> sent = server_->responses();
  ASSERT_EQ(sent.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const pb::DnsQuery& query = obs.queries(i);
    EXPECT_EQ(query.name(), "www.example.test");
    EXPECT_EQ(query.type(), i == 0 ? "A" : "AAAA");
    EXPECT_EQ(query.resolver(), server_->address());
    EXPECT_EQ(query.rcode(), "NOERROR");
    EXPECT_EQ(query.sent_unix_ms(), kNow);
    EXPECT_GT(query.elapsed_us(), 0u);
    // The answer as it came off the wire.
    EXPECT_TRUE(query.raw_answer() == sent[0] || query.raw_answer() == sent[1]);
  }
  EXPECT_NE(obs.queries(0).raw_answer(), obs.queries(1).raw_answer());
}

TEST_F(DnsResolverTest, ReQueriesCnameTargetAnsweredSeparately) {
  server_->Answer(
      "www.example.test", DnsTestServer::kA,
      {DnsTestServer::Cname("www.example.test", "host.other.test", 120)});
  server_->Answer(
      "www.example.test", DnsTestServer::kAaaa,
      {DnsTestServer::Cname("www.example.test", "host.other.test", 120)});
  server_->Answer("host.other.test", DnsTestServer::kA,
                  {DnsTestServer::A("host.other.test", "198.51.100.7", 30)});

  const pb::DnsObservation obs = Resolve("www.example.test");

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  EXPECT_EQ(Chain(obs),
            (std::vector<std::string>{"www.example.test", "host.other.test"}));
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).ip(), "198.51.100.7");
  EXPECT_EQ(obs.addresses(0).ttl(), 30u);
  ASSERT_EQ(obs.queries_size(), 4);
  EXPECT_EQ(obs.queries(0).name(), "www.example.test");
  EXPECT_EQ(obs.queries(1).name(), "www.example.test");
  EXPECT_EQ(obs.queries(2).name(), "host.other.test");
  EXPECT_EQ(obs.queries(2).type(), "A");
  EXPECT_EQ(obs.queries(3).name(), "host.other.test");
  EXPECT_EQ(obs.queries(3).type(), "AAAA");
  EXPECT_EQ(obs.queries(3).rcode(), "NOERROR");
}

TEST_F(DnsResolverTest, CnameLoopAcrossQueriesIsAnError) {
  for (uint16_t type : {DnsTestServer::kA, DnsTestServer::kAaaa}) {
    server_->Answer("a.loop.test", type,
                    {DnsTestServer::Cname("a.loop.test", "b.loop.test", 60)});
    server_->Answer("b.loop.test", type,
                    {DnsTestServer::Cname("b.loop.test", "a.loop.test", 60)});
  }

  const pb::DnsObservation obs = Resolve("a.loop.test");

  EXPECT_EQ(obs.error().error_class(), "cname_loop");
  EXPECT_EQ(obs.addresses_size(), 0);
  EXPECT_EQ(Chain(obs),
            (std::vector<std::string>{"a.loop.test", "b.loop.test"}));
  EXPECT_EQ(obs.queries_size(), 4);
}

TEST_F(DnsResolverTest, CnameLoopInOneAnswerIsAnError) {
  for (uint16_t type : {DnsTestServer::kA, DnsTestServer::kAaaa}) {
    server_->Answer("a.loop.test", type,
                    {DnsTestServer::Cname("a.loop.test", "b.loop.test", 60),
                     DnsTestServer::Cname("b.loop.test", "a.loop.test", 60)});
  }

  const pb::DnsObservation obs = Resolve("a.loop.test");

  EXPECT_EQ(obs.error().error_class(), "cname_loop");
  EXPECT_EQ(obs.queries_size(), 2);
}

// A looping AAAA answer must not hide the A records (and so the hosting
// location): the error is set only when no address was found.
TEST_F(DnsResolverTest, LoopInOneAnswerDoesNotHideTheOthersAddresses) {
  server_->Answer("a.mixed.test", DnsTestServer::kA,
                  {DnsTestServer::A("a.mixed.test", "192.0.2.1", 60)});
  server_->Answer("a.mixed.test", DnsTestServer::kAaaa,
                  {DnsTestServer::Cname("a.mixed.test", "b.mixed.test", 60),
                   DnsTestServer::Cname("b.mixed.test", "a.mixed.test", 60)});

  const pb::DnsObservation obs = Resolve("a.mixed.test");

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.1");
  EXPECT_EQ(Chain(obs), (std::vector<std::string>{"a.mixed.test"}));
}

TEST_F(DnsResolverTest, OverlongCnameChainIsBounded) {
  // 18 CNAMEs with short names, so that the answer fits in 512 bytes.
  std::vector<DnsTestServer::Rr> chain;
  for (int i = 0; i < 18; ++i) {
    chain.push_back(DnsTestServer::Cname("n" + std::to_string(i) + ".t",
                                         "n" + std::to_string(i + 1) + ".t",
                                         60));
  }
  chain.push_back(DnsTestServer::A("n18.t", "192.0.2.1", 60));
  server_->Answer("n0.t", DnsTestServer::kA, chain);
  server_->Answer("n0.t", DnsTestServer::kAaaa, chain);

  const pb::DnsObservation obs = Resolve("n0.t");

  EXPECT_EQ(obs.error().error_class(), "cname_loop");
  EXPECT_EQ(obs.addresses_size(), 0);
  EXPECT_EQ(obs.cname_chain_size(),
            static_cast<int>(DnsResolver::kMaxCnameChain) + 1);
}

TEST_F(DnsResolverTest, NxdomainIsAResult) {
  const pb::DnsObservation obs = Resolve("missing.example.test");

  EXPECT_EQ(obs.error().error_class(), "nxdomain");
  EXPECT_EQ(obs.addresses_size(), 0);
  EXPECT_EQ(Chain(obs), std::vector<std::string>{"missing.example.test"});
  ASSERT_EQ(obs.queries_size(), 2);
  for (const pb::DnsQuery& query : obs.queries()) {
    EXPECT_EQ(query.rcode(), "NXDOMAIN");
    ASSERT_GE(query.raw_answer().size(), 12u);
    EXPECT_EQ(query.raw_answer()[3] & 0x0f, DnsTestServer::kNxDomain);
  }
}

TEST_F(DnsResolverTest, NameWithoutAddressesIsNoAddress) {
  server_->Answer("mail.example.test", 15 /* MX */, {});

  const pb::DnsObservation obs = Resolve("mail.example.test");

  EXPECT_EQ(obs.error().error_class(), "no_address");
  EXPECT_EQ(obs.queries(0).rcode(), "NOERROR");
  EXPECT_EQ(obs.queries(1).rcode(), "NOERROR");
}

TEST_F(DnsResolverTest, ServfailIsAResult) {
  server_->Rcode("broken.example.test", DnsTestServer::kServFail);

  const pb::DnsObservation obs = Resolve("broken.example.test");

  EXPECT_EQ(obs.error().error_class(), "servfail");
  ASSERT_EQ(obs.queries_size(), 2);
  for (const pb::DnsQuery& query : obs.queries()) {
    EXPECT_EQ(query.rcode(), "SERVFAIL");
    ASSERT_GE(query.raw_answer().size(), 12u);
    EXPECT_EQ(query.raw_answer()[3] & 0x0f, DnsTestServer::kServFail);
  }
}

TEST_F(DnsResolverTest, RefusedIsAResult) {
  server_->Rcode("closed.example.test", DnsTestServer::kRefused);

  const pb::DnsObservation obs = Resolve("closed.example.test");

  EXPECT_EQ(obs.error().error_class(), "dns_refused");
  ASSERT_EQ(obs.queries_size(), 2);
  for (const pb::DnsQuery& query : obs.queries()) {
    EXPECT_EQ(query.rcode(), "REFUSED");
    EXPECT_FALSE(query.raw_answer().empty());
  }
}

TEST_F(DnsResolverTest, AnswerToAnotherQuestionIsDropped) {
  for (const char* name : {"www.example.test", "evil.example.test"}) {
    server_->Answer(name, DnsTestServer::kA,
                    {DnsTestServer::A(name, "192.0.2.66", 60)});
  }
  server_->EchoQuestionAs("evil.example.test");

  const pb::DnsObservation obs =
      Resolve("www.example.test", Resolver(200, 1).get());

  EXPECT_EQ(obs.addresses_size(), 0);
  EXPECT_EQ(obs.error().error_class(), "dns_timeout");
}

TEST_F(DnsResolverTest, SilentServerTimesOutWithinTimeoutTimesTries) {
  server_->DropNext(std::numeric_limits<int>::max());
  constexpr uint32_t kTimeoutMs = 200, kTries = 2;
  auto resolver = Resolver(kTimeoutMs, kTries);

  const auto start = std::chrono::steady_clock::now();
  const pb::DnsObservation obs = Resolve("www.example.test", resolver.get());
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(obs.error().error_class(), "dns_timeout");
  EXPECT_LT(elapsed, std::chrono::milliseconds(kTimeoutMs * kTries + 1000));
  // Every attempt is recorded: A and AAAA, tries times each.
  ASSERT_EQ(obs.queries_size(), 2 * static_cast<int>(kTries));
  for (const pb::DnsQuery& query : obs.queries()) {
    EXPECT_EQ(query.rcode(), "TIMEOUT");
    EXPECT_TRUE(query.raw_answer().empty());
    EXPECT_GE(query.elapsed_us(), kTimeoutMs * 1000u * 9 / 10);
  }
  EXPECT_EQ(server_->queries(), 2 * static_cast<int>(kTries));
}

TEST_F(DnsResolverTest, RetriesAfterATimeout) {
  server_->Answer("www.example.test", DnsTestServer::kA,
                  {DnsTestServer::A("www.example.test", "192.0.2.80", 60)});
  server_->DropNext(2);

  const pb::DnsObservation obs =
      Resolve("www.example.test", Resolver(200, 2).get());

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.80");
  ASSERT_EQ(obs.queries_size(), 4);
  EXPECT_EQ(obs.queries(0).rcode(), "TIMEOUT");
  EXPECT_EQ(obs.queries(1).rcode(), "NOERROR");
}

TEST_F(DnsResolverTest, AddsNsAndPtrRecords) {
  server_->Answer("example.test", DnsTestServer::kNs,
                  {DnsTestServer::Ns("example.test", "NS1.Example.NET", 60),
                   DnsTestServer::Ns("example.test", "ns2.example.net", 60)});
  server_->Answer(
      "10.2.0.192.in-addr.arpa", DnsTestServer::kPtr,
      {DnsTestServer::Ptr("10.2.0.192.in-addr.arpa", "host.example.test", 60)});
  pb::DnsObservation obs;
  obs.add_addresses()->set_ip("192.0.2.10");
  obs.add_addresses()->set_ip("2001:db8::1");
  auto resolver = Resolver();
  std::optional<pb::DnsObservation> result;

  resolver->AddNsAndPtr("example.test", obs,
                        [&result](pb::DnsObservation out) { result = out; });

  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return result.has_value(); }));
  EXPECT_EQ(result->ns_domain(), "example.test");
  EXPECT_EQ(std::vector<std::string>(result->ns().begin(), result->ns().end()),
            (std::vector<std::string>{"ns1.example.net", "ns2.example.net"}));
  ASSERT_EQ(result->ptr_size(), 2);
  EXPECT_EQ(result->ptr(0).ip(), "192.0.2.10");
  ASSERT_EQ(result->ptr(0).names_size(), 1);
  EXPECT_EQ(result->ptr(0).names(0), "host.example.test");
  EXPECT_EQ(result->ptr(1).ip(), "2001:db8::1");
  EXPECT_EQ(result->ptr(1).names_size(), 0);
  ASSERT_EQ(result->queries_size(), 3);
  EXPECT_EQ(result->queries(0).type(), "NS");
  EXPECT_EQ(result->queries(1).name(), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(result->queries(2).rcode(), "NXDOMAIN");
  EXPECT_FALSE(result->has_error());
}

TEST_F(DnsResolverTest, CallbacksRunOnTheLoopNeverInsideTheCall) {
  auto resolver = Resolver();
  int resolved = 0, added = 0;

  resolver->Resolve("missing.example.test",
                    [&resolved](pb::DnsObservation) { ++resolved; });
  // Nothing to ask: the answer is immediate, the callback still deferred.
  resolver->AddNsAndPtr("", pb::DnsObservation(),
                        [&added](pb::DnsObservation) { ++added; });

  EXPECT_EQ(resolved, 0);
  EXPECT_EQ(added, 0);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return resolved > 0; }));
  EXPECT_EQ(added, 1);
  // Exactly once.
  ASSERT_TRUE(loop_->RunOnce(50).ok());
  EXPECT_EQ(resolved, 1);
  EXPECT_EQ(added, 1);
}

TEST_F(DnsResolverTest, InFlightLimitHoldsFurtherQueriesInOrder) {
  constexpr int kNames = 20, kDelayMs = 40;
  server_->DelayAnswers(kDelayMs);
  ResolverConfig config;
  config.servers = {server_->address()};
  config.max_in_flight = 3;
  auto resolver = NewResolver(config, loop_.get());
  std::vector<pb::DnsObservation> results;

  for (int i = 0; i < kNames; ++i) {
    const std::string name = "host" + std::to_string(i) + ".example.test";
    server_->Answer(name, DnsTestServer::kA,
                    {DnsTestServer::A(name, "192.0.2.1", 60)});
    resolver->Resolve(
        name, [&results](pb::DnsObservation obs) { results.push_back(obs); });
  }
  EXPECT_EQ(resolver->in_flight(), 3u);
  EXPECT_EQ(resolver->waiting(), 2u * kNames - 3);

  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return results.size() == kNames; }));
  EXPECT_EQ(server_->max_outstanding(), 3);
  EXPECT_EQ(server_->queries(), 2 * kNames);
  EXPECT_EQ(resolver->in_flight(), 0u);
  EXPECT_EQ(resolver->waiting(), 0u);
  for (const pb::DnsObservation& obs : results) {
    EXPECT_FALSE(obs.has_error()) << obs.error().message();
    // The wait for a slot is not part of the query's time.
    for (const pb::DnsQuery& query : obs.queries()) {
      EXPECT_GE(query.elapsed_us(), kDelayMs * 1000u * 9 / 10);
      EXPECT_LT(query.elapsed_us(), 4 * kDelayMs * 1000u);
    }
  }
}

// Cancel ends a question at once: what it learned comes back with each
// unanswered message marked CANCELLED, the waiting message is never sent,
// the one in flight gives up its slot at once (the next question's message
// goes out without waiting for the abandoned one's timeout) and is dropped
// when c-ares reports it (not retried), and the cancelled `done` never
// runs.
TEST_F(DnsResolverTest, CancelEndsAQuestionAndFreesItsSlots) {
  server_->DropNext(1);  // the A of the cancelled question
  // Far beyond the test's deadline: `next` is answered only if the
  // abandoned A's slot is given up at once.
  constexpr uint32_t kTimeoutMs = 4 * kDeadlineMs;
  ResolverConfig config;
  config.servers = {server_->address()};
  config.timeout_ms = kTimeoutMs;
  config.tries = 3;
  config.max_in_flight = 1;
  auto resolver = NewResolver(config, loop_.get());
  server_->Answer("next.example.test", DnsTestServer::kA,
                  {DnsTestServer::A("next.example.test", "192.0.2.7", 60)});
  bool cancelled_done = false;
  const DnsResolver::OpId id = resolver->Resolve(
      "stuck.example.test",
      [&cancelled_done](pb::DnsObservation) { cancelled_done = true; });
  std::optional<pb::DnsObservation> next;
  resolver->Resolve("next.example.test",
                    [&next](pb::DnsObservation obs) { next = obs; });
  ASSERT_EQ(resolver->in_flight(), 1u);
  ASSERT_EQ(resolver->waiting(), 3u);

  std::optional<pb::DnsObservation> partial = resolver->Cancel(id);

  ASSERT_TRUE(partial.has_value());
  EXPECT_FALSE(resolver->Cancel(id).has_value());
  EXPECT_EQ(Chain(*partial), std::vector<std::string>{"stuck.example.test"});
  EXPECT_EQ(partial->addresses_size(), 0);
  EXPECT_FALSE(partial->has_error());
  ASSERT_EQ(partial->queries_size(), 2);
  EXPECT_EQ(partial->queries(0).type(), "A");
  EXPECT_EQ(partial->queries(0).rcode(), "CANCELLED");
  EXPECT_EQ(partial->queries(0).resolver(), server_->address());
  EXPECT_EQ(partial->queries(1).type(), "AAAA");
  EXPECT_EQ(partial->queries(1).rcode(), "CANCELLED");
  EXPECT_EQ(partial->queries(1).resolver(), "");  // it was waiting
  // The slot went to next's A at once; its AAAA waits.
  EXPECT_EQ(resolver->in_flight(), 1u);
  EXPECT_EQ(resolver->waiting(), 1u);

  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return next.has_value(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(kTimeoutMs));
  EXPECT_FALSE(next->has_error()) << next->error().message();
  ASSERT_EQ(next->addresses_size(), 1);
  EXPECT_EQ(next->addresses(0).ip(), "192.0.2.7");
  EXPECT_FALSE(cancelled_done);
  // One message for stuck (dropped by the server, never asked again), two
  // for next.
  EXPECT_EQ(server_->queries(), 3);
  EXPECT_EQ(resolver->in_flight(), 0u);
  EXPECT_EQ(resolver->waiting(), 0u);
}

// An abandoned message's late answer is dropped and frees nothing twice:
// the slots stay bounded by max_in_flight.
TEST_F(DnsResolverTest, LateAnswerOfACancelledQuestionIsDropped) {
  constexpr int kDelayMs = 100;
  server_->DelayAnswers(kDelayMs);
  ResolverConfig config;
  config.servers = {server_->address()};
  config.max_in_flight = 1;
  auto resolver = NewResolver(config, loop_.get());
  for (const char* name : {"first.example.test", "second.example.test"}) {
    server_->Answer(name, DnsTestServer::kA,
                    {DnsTestServer::A(name, "192.0.2.9", 60)});
  }
  bool cancelled_done = false;
  const DnsResolver::OpId id = resolver->Resolve(
      "first.example.test",
      [&cancelled_done](pb::DnsObservation) { cancelled_done = true; });
  std::optional<pb::DnsObservation> second;
  resolver->Resolve("second.example.test",
                    [&second](pb::DnsObservation obs) { second = obs; });
  ASSERT_TRUE(resolver->Cancel(id).has_value());

  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return second.has_value(); }));
  // first's A was answered (late, dropped) while second's ran one by one.
  EXPECT_EQ(server_->queries(), 3);
  EXPECT_FALSE(cancelled_done);
  EXPECT_FALSE(second->has_error()) << second->error().message();
  EXPECT_EQ(second->queries_size(), 2);
  EXPECT_EQ(resolver->in_flight(), 0u);
  EXPECT_EQ(resolver->waiting(), 0u);
  // The next question still gets one slot at a time.
  const pb::DnsObservation again =
      ResolveOn(loop_.get(), resolver.get(), "first.example.test");
  EXPECT_FALSE(again.has_error()) << again.error().message();
  EXPECT_EQ(server_->max_outstanding(), 2);
}

TEST_F(DnsResolverTest, AnswerTruncatedOverUdpIsAskedAgainOverTcp) {
  std::vector<DnsTestServer::Rr> records;
  for (int i = 0; i < 60; ++i) {
    records.push_back(DnsTestServer::A("big.example.test",
                                       "192.0.2." + std::to_string(i), 60));
  }
  server_->Answer("big.example.test", DnsTestServer::kA, records);
  server_->TruncateUdp(true);

  const pb::DnsObservation obs = Resolve("big.example.test");

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  ASSERT_EQ(obs.addresses_size(), 60);
  EXPECT_EQ(obs.addresses(59).ip(), "192.0.2.59");
  EXPECT_EQ(server_->tcp_queries(), 1);  // AAAA has no records to truncate
  ASSERT_EQ(obs.queries_size(), 2);
  EXPECT_EQ(obs.queries(0).rcode(), "NOERROR");
  EXPECT_GT(obs.queries(0).raw_answer().size(), 512u);
}

TEST_F(DnsResolverTest, KeepsAtMostMaxAddresses) {
  std::vector<DnsTestServer::Rr> a, aaaa;
  for (int i = 0; i < 100; ++i) {
    a.push_back(DnsTestServer::A("many.example.test",
                                 "192.0.2." + std::to_string(i), 60));
    aaaa.push_back(DnsTestServer::Aaaa("many.example.test",
                                       "2001:db8::" + std::to_string(i), 60));
  }
  server_->Answer("many.example.test", DnsTestServer::kA, a);
  server_->Answer("many.example.test", DnsTestServer::kAaaa, aaaa);
  server_->TruncateUdp(true);

  const pb::DnsObservation obs = Resolve("many.example.test");

  ASSERT_EQ(obs.addresses_size(), static_cast<int>(DnsResolver::kMaxAddresses));
  EXPECT_EQ(obs.addresses(63).ip(), "192.0.2.63");
  // The raw answers keep every record.
  ASSERT_EQ(obs.queries_size(), 2);
  EXPECT_GT(obs.queries(0).raw_answer().size(), 100u * 16);
  EXPECT_GT(obs.queries(1).raw_answer().size(), 100u * 28);
}

TEST_F(DnsResolverTest, DestroyingWithQueriesInFlightRunsNoCallback) {
  server_->DelayAnswers(100);
  server_->Answer("www.example.test", DnsTestServer::kA,
                  {DnsTestServer::A("www.example.test", "192.0.2.1", 60)});
  auto resolver = Resolver();
  int called = 0;
  resolver->Resolve("www.example.test",
                    [&called](pb::DnsObservation) { ++called; });
  pb::DnsObservation obs;
  obs.add_addresses()->set_ip("192.0.2.1");
  resolver->AddNsAndPtr("example.test", obs,
                        [&called](pb::DnsObservation) { ++called; });
  // Answers take 100 ms: these turns only send.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loop_->RunOnce(10).ok());
  EXPECT_EQ(resolver->in_flight(), 4u);
  EXPECT_GT(loop_->watched(), 0u);

  resolver.reset();

  EXPECT_EQ(loop_->watched(), 0u);
  bool waited = false;
  loop_->After(300, [&waited] { waited = true; });
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return waited; }));
  EXPECT_EQ(called, 0);
  EXPECT_EQ(loop_->pending_timers(), 0u);
}

TEST_F(DnsResolverTest, DestroyingFromACallbackAbandonsTheOthers) {
  auto resolver = Resolver();
  int called = 0;
  // Both answers arrive in one turn; the first callback destroys.
  for (int i = 0; i < 2; ++i) {
    resolver->AddNsAndPtr("", pb::DnsObservation(), [&](pb::DnsObservation) {
      ++called;
      resolver.reset();
    });
  }

  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return called > 0; }));
  ASSERT_TRUE(loop_->RunOnce(50).ok());
  EXPECT_EQ(called, 1);
}

TEST(DnsResolverCreateTest, RejectsServerListCaresDoesNotAccept) {
  auto loop = NewLoop();
  ResolverConfig config;
  config.servers = {"not-an-address:53"};
  auto resolver = DnsResolver::Create(config, loop.get(), [] { return kNow; });
  ASSERT_FALSE(resolver.ok());
  EXPECT_EQ(resolver.status().code(), StatusCode::kInvalidArgument);
}

TEST(DnsResolverCreateTest, RejectsMoreThanOneServerPerEntry) {
  auto loop = NewLoop();
  ResolverConfig config;
  config.servers = {"127.0.0.1:53,127.0.0.2:53"};
  auto resolver = DnsResolver::Create(config, loop.get(), [] { return kNow; });
  ASSERT_FALSE(resolver.ok());
  EXPECT_EQ(resolver.status().code(), StatusCode::kInvalidArgument);
}

class DnsResolverServersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    first_ = DnsTestServer::Start("127.53.0.2");
    second_ = DnsTestServer::Start("127.53.0.3");
    ASSERT_NE(first_, nullptr);
    ASSERT_NE(second_, nullptr);
    loop_ = NewLoop();
  }

  std::unique_ptr<DnsResolver> Resolver(ResolverMode mode,
                                        uint32_t timeout_ms = 1000) {
    ResolverConfig config;
    config.servers = {first_->address(), second_->address()};
    config.mode = mode;
    config.timeout_ms = timeout_ms;
    return NewResolver(config, loop_.get());
  }

  void AnswerBoth(const std::string& name, const std::string& ip) {
    for (DnsTestServer* server : {first_.get(), second_.get()}) {
      server->Answer(name, DnsTestServer::kA, {DnsTestServer::A(name, ip, 60)});
    }
  }

  std::unique_ptr<DnsTestServer> first_;
  std::unique_ptr<DnsTestServer> second_;
  std::unique_ptr<EventLoop> loop_;
};

// Each query records the one server it was sent to.
TEST_F(DnsResolverServersTest, RecordsEveryConfiguredServer) {
  first_->Answer("www.example.test", DnsTestServer::kA,
                 {DnsTestServer::A("www.example.test", "192.0.2.1", 60)});
  auto resolver = Resolver(ResolverMode::kRoundRobin);

  const pb::DnsObservation obs =
      ResolveOn(loop_.get(), resolver.get(), "www.example.test");

  ASSERT_EQ(obs.queries_size(), 2);
  EXPECT_EQ(obs.queries(0).resolver(), first_->address());
  EXPECT_EQ(obs.queries(1).resolver(), second_->address());
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.1");
}

TEST_F(DnsResolverServersTest, RoundRobinAlternatesServers) {
  AnswerBoth("one.example.test", "192.0.2.1");
  AnswerBoth("two.example.test", "192.0.2.2");
  AnswerBoth("three.example.test", "192.0.2.3");
  auto resolver = Resolver(ResolverMode::kRoundRobin);
  const std::string a = first_->address(), b = second_->address();

  const pb::DnsObservation one =
      ResolveOn(loop_.get(), resolver.get(), "one.example.test");
  // Three questions: the next server in turn each time.
  std::optional<pb::DnsObservation> two;
  resolver->Resolve("two.example.test",
                    [&two](pb::DnsObservation obs) { two = obs; });
  const pb::DnsObservation three =
      ResolveOn(loop_.get(), resolver.get(), "three.example.test");

  EXPECT_EQ(Resolvers(one), (std::vector<std::string>{a, b}));
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(Resolvers(*two), (std::vector<std::string>{a, b}));
  EXPECT_EQ(Resolvers(three), (std::vector<std::string>{a, b}));
  EXPECT_EQ(first_->queries(), 3);
  EXPECT_EQ(second_->queries(), 3);
  EXPECT_EQ(one.per_resolver_size(), 0);
}

TEST_F(DnsResolverServersTest, RoundRobinFailsOverToTheNextServer) {
  first_->DropNext(std::numeric_limits<int>::max());
  AnswerBoth("www.example.test", "192.0.2.80");
  auto resolver = Resolver(ResolverMode::kRoundRobin, 200);

  const pb::DnsObservation obs =
      ResolveOn(loop_.get(), resolver.get(), "www.example.test");

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.80");
  // A: the first server, silent, then the second; AAAA: the second.
  ASSERT_EQ(obs.queries_size(), 3);
  EXPECT_EQ(obs.queries(0).type(), "A");
  EXPECT_EQ(obs.queries(0).resolver(), first_->address());
  EXPECT_EQ(obs.queries(0).rcode(), "TIMEOUT");
  EXPECT_EQ(obs.queries(1).type(), "A");
  EXPECT_EQ(obs.queries(1).resolver(), second_->address());
  EXPECT_EQ(obs.queries(1).rcode(), "NOERROR");
  EXPECT_EQ(obs.queries(2).type(), "AAAA");
  EXPECT_EQ(obs.queries(2).resolver(), second_->address());
}

TEST_F(DnsResolverServersTest, ModeAllRecordsServersThatDisagree) {
  first_->Answer("www.example.test", DnsTestServer::kA,
                 {DnsTestServer::A("www.example.test", "192.0.2.1", 60),
                  DnsTestServer::A("www.example.test", "192.0.2.9", 60)});
  second_->Answer("www.example.test", DnsTestServer::kA,
                  {DnsTestServer::A("www.example.test", "192.0.2.2", 60)});
  first_->Answer("only.example.test", DnsTestServer::kA,
                 {DnsTestServer::A("only.example.test", "192.0.2.3", 60)});
  auto resolver = Resolver(ResolverMode::kAll);

  const pb::DnsObservation obs =
      ResolveOn(loop_.get(), resolver.get(), "www.example.test");
  const pb::DnsObservation only =
      ResolveOn(loop_.get(), resolver.get(), "only.example.test");

  EXPECT_TRUE(obs.resolvers_disagree());
  // The observation is the first server's, with every server's queries.
  ASSERT_EQ(obs.addresses_size(), 2);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.1");
  EXPECT_EQ(Resolvers(obs),
            (std::vector<std::string>{first_->address(), first_->address(),
                                      second_->address(), second_->address()}));
  ASSERT_EQ(obs.per_resolver_size(), 2);
  EXPECT_EQ(obs.per_resolver(0).resolver(), first_->address());
  EXPECT_EQ(std::vector<std::string>(obs.per_resolver(0).addresses().begin(),
                                     obs.per_resolver(0).addresses().end()),
            (std::vector<std::string>{"192.0.2.1", "192.0.2.9"}));
  EXPECT_EQ(obs.per_resolver(0).error_class(), "");
  EXPECT_EQ(obs.per_resolver(1).resolver(), second_->address());
  EXPECT_EQ(std::vector<std::string>(obs.per_resolver(1).addresses().begin(),
                                     obs.per_resolver(1).addresses().end()),
            std::vector<std::string>{"192.0.2.2"});

  EXPECT_TRUE(only.resolvers_disagree());
  EXPECT_FALSE(only.has_error());
  ASSERT_EQ(only.per_resolver_size(), 2);
  EXPECT_EQ(only.per_resolver(1).addresses_size(), 0);
  EXPECT_EQ(only.per_resolver(1).error_class(), "nxdomain");
  EXPECT_EQ(first_->queries(), 4);
  EXPECT_EQ(second_->queries(), 4);
}

TEST_F(DnsResolverServersTest, ModeAllServersThatAgree) {
  // The same set, in another order and with other TTLs.
  first_->Answer("www.example.test", DnsTestServer::kA,
                 {DnsTestServer::A("www.example.test", "192.0.2.1", 60),
                  DnsTestServer::A("www.example.test", "192.0.2.2", 60)});
  second_->Answer("www.example.test", DnsTestServer::kA,
                  {DnsTestServer::A("www.example.test", "192.0.2.2", 30),
                   DnsTestServer::A("www.example.test", "192.0.2.1", 30)});
  auto resolver = Resolver(ResolverMode::kAll);

  const pb::DnsObservation obs =
      ResolveOn(loop_.get(), resolver.get(), "www.example.test");

  EXPECT_FALSE(obs.resolvers_disagree());
  ASSERT_EQ(obs.per_resolver_size(), 2);
  EXPECT_EQ(obs.per_resolver(0).addresses_size(), 2);
  EXPECT_EQ(obs.per_resolver(1).addresses_size(), 2);
  EXPECT_EQ(obs.queries_size(), 4);
}

}  // namespace
}  // namespace hl::worker
