#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tests/worker/loopback_servers.h"
#include "worker/prober.h"

namespace hl::worker {
namespace {

using testing::DnsTestServer;

constexpr int64_t kNow = 1'700'000'000'000;

class DnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = DnsTestServer::Start("127.53.0.1");
    ASSERT_NE(server_, nullptr);
  }

  std::unique_ptr<DnsResolver> Resolver(uint32_t timeout_ms = 1000,
                                        uint32_t tries = 2) {
    ResolverConfig config;
    config.servers = {server_->address()};
    config.timeout_ms = timeout_ms;
    config.tries = tries;
    auto resolver = DnsResolver::Create(config, [] { return kNow; });
    EXPECT_TRUE(resolver.ok()) << resolver.status().ToString();
    return std::move(resolver).value();
  }

  static std::vector<std::string> Chain(const pb::DnsObservation& obs) {
    return {obs.cname_chain().begin(), obs.cname_chain().end()};
  }

  std::unique_ptr<DnsTestServer> server_;
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

  const pb::DnsObservation obs = Resolver()->Resolve("www.example.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("www.example.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("a.loop.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("a.loop.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("a.mixed.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("n0.t");

  EXPECT_EQ(obs.error().error_class(), "cname_loop");
  EXPECT_EQ(obs.addresses_size(), 0);
  EXPECT_EQ(obs.cname_chain_size(),
            static_cast<int>(DnsResolver::kMaxCnameChain) + 1);
}

TEST_F(DnsResolverTest, NxdomainIsAResult) {
  const pb::DnsObservation obs = Resolver()->Resolve("missing.example.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("mail.example.test");

  EXPECT_EQ(obs.error().error_class(), "no_address");
  EXPECT_EQ(obs.queries(0).rcode(), "NOERROR");
  EXPECT_EQ(obs.queries(1).rcode(), "NOERROR");
}

TEST_F(DnsResolverTest, ServfailIsAResult) {
  server_->Rcode("broken.example.test", DnsTestServer::kServFail);

  const pb::DnsObservation obs = Resolver()->Resolve("broken.example.test");

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

  const pb::DnsObservation obs = Resolver()->Resolve("closed.example.test");

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

  const pb::DnsObservation obs = Resolver(200, 1)->Resolve("www.example.test");

  EXPECT_EQ(obs.addresses_size(), 0);
  EXPECT_EQ(obs.error().error_class(), "dns_timeout");
}

TEST_F(DnsResolverTest, SilentServerTimesOutWithinTimeoutTimesTries) {
  server_->DropNext(std::numeric_limits<int>::max());
  constexpr uint32_t kTimeoutMs = 200, kTries = 2;
  auto resolver = Resolver(kTimeoutMs, kTries);

  const auto start = std::chrono::steady_clock::now();
  const pb::DnsObservation obs = resolver->Resolve("www.example.test");
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

  const pb::DnsObservation obs = Resolver(200, 2)->Resolve("www.example.test");

  EXPECT_FALSE(obs.has_error()) << obs.error().message();
  ASSERT_EQ(obs.addresses_size(), 1);
  EXPECT_EQ(obs.addresses(0).ip(), "192.0.2.80");
  ASSERT_EQ(obs.queries_size(), 4);
  EXPECT_EQ(obs.queries(0).rcode(), "TIMEOUT");
  EXPECT_EQ(obs.queries(1).rcode(), "NOERROR");
}

TEST(DnsResolverCreateTest, RejectsServerListCaresDoesNotAccept) {
  ResolverConfig config;
  config.servers = {"not-an-address:53"};
  auto resolver = DnsResolver::Create(config, [] { return kNow; });
  ASSERT_FALSE(resolver.ok());
  EXPECT_EQ(resolver.status().code(), StatusCode::kInvalidArgument);
}

TEST(DnsResolverCreateTest, RecordsEveryConfiguredServer) {
  auto first = DnsTestServer::Start("127.53.0.2");
  auto second = DnsTestServer::Start("127.53.0.3");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  first->Answer("www.example.test", DnsTestServer::kA,
                {DnsTestServer::A("www.example.test", "192.0.2.1", 60)});
  ResolverConfig config;
  config.servers = {first->address(), second->address()};
  auto resolver = DnsResolver::Create(config, [] { return kNow; });
  ASSERT_TRUE(resolver.ok()) << resolver.status().ToString();

  const pb::DnsObservation obs = (*resolver)->Resolve("www.example.test");

  ASSERT_GE(obs.queries_size(), 1);
  EXPECT_EQ(obs.queries(0).resolver(),
            first->address() + "," + second->address());
}

}  // namespace
}  // namespace hl::worker
