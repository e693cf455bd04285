#include "coordinator/enricher.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/jurisdiction.h"
#include "common/verdict.h"
#include "coordinator/rdap_cache.h"
#include "tests/coordinator/family_entries.h"

namespace hl::coordinator {
namespace {

using ::testing::HasSubstr;

// A located observation of www.example.com answered from `ip`, whose
// geolocation says `country` and AS `asn`; concluded.
pb::Observation Located(const std::string& ip = "192.0.2.10",
                        const std::string& country = "DE",
                        uint32_t asn = 64501) {
  pb::Observation o;
  o.set_url("http://www.example.com/");
  o.set_host("www.example.com");
  o.mutable_dns()->add_cname_chain("www.example.com");
  o.mutable_dns()->add_addresses()->set_ip(ip);
  pb::AddressInfo* a = o.add_addresses();
  a->set_ip(ip);
  a->set_country(country);
  a->set_asn(asn);
  o.set_pinned_ip(ip);
  o.mutable_http()->set_status(200);
  o.mutable_http()->set_connected_ip(ip);
  o.add_data_sources()->set_role("country");
  Conclude(&o);
  return o;
}

rdap::Network Net(const std::string& country) {
  rdap::Network n;
  n.server = "https://rir.example/ip/192.0.2.10";
  n.handle = "NET-1";
  n.name = "EXAMPLE-NET";
  n.organisation = "Example Hosting";
  n.country = country;
  n.abuse_email = "abuse@hosting.example";
  n.start_address = "192.0.2.0";
  n.end_address = "192.0.2.255";
  return n;
}

rdap::Autnum As(const std::string& country) {
  rdap::Autnum a;
  a.server = "https://rir.example/autnum/64501";
  a.handle = "AS64501";
  a.name = "EXAMPLE-AS";
  a.country = country;
  return a;
}

rdap::Domain Registration() {
  rdap::Domain d;
  d.server = "https://registry.example/domain/example.com";
  d.name = "example.com";
  d.registrar = "Example Registrar";
  d.registrar_country = "US";
  d.abuse_email = "abuse@registrar.example";
  return d;
}

TEST(PlanEnrichmentTest, FinalHopAddressesOnceAndTheRegistrableDomain) {
  struct Case {
    std::string name;
    pb::Observation obs;
    std::vector<std::string> ips;
    std::string domain;
  };
  std::vector<Case> cases;
  cases.push_back({"one address", Located(), {"192.0.2.10"}, "example.com"});
  {
    pb::Observation o = Located();
    pb::Hop* hop = o.add_redirects();
    hop->set_url("http://cdn.example.net/x");
    hop->set_host("cdn.example.net");
    for (const char* ip : {"198.51.100.1", "2001:db8::1", "198.51.100.1"}) {
      pb::AddressInfo* a = hop->add_addresses();
      a->set_ip(ip);
      a->set_asn(64502);
    }
    hop->set_pinned_ip("198.51.100.1");
    hop->mutable_http()->set_status(200);
    Conclude(&o);
    cases.push_back({"redirect: the last hop, duplicates once",
                     o,
                     {"198.51.100.1", "2001:db8::1"},
                     "example.net"});
  }
  {
    pb::Observation o = Located();
    for (int i = 0; i < 12; ++i) {
      o.add_addresses()->set_ip("192.0.2." + std::to_string(20 + i));
    }
    o.add_addresses()->set_ip("not an address");
    cases.push_back({"at most kMaxEnrichedAddresses",
                     o,
                     {"192.0.2.10", "192.0.2.20", "192.0.2.21", "192.0.2.22",
                      "192.0.2.23", "192.0.2.24", "192.0.2.25", "192.0.2.26"},
                     "example.com"});
  }
  {
    pb::Observation o;
    o.set_url("http://192.0.2.7/");
    o.set_host("192.0.2.7");
    o.add_addresses()->set_ip("192.0.2.7");
    o.set_pinned_ip("192.0.2.7");
    o.mutable_http()->set_status(200);
    Conclude(&o);
    cases.push_back({"IP literal: no domain", o, {"192.0.2.7"}, ""});
  }
  {
    pb::Observation o;
    o.set_url("http://gone.example.org/");
    o.set_host("gone.example.org");
    o.mutable_dns()->mutable_error()->set_error_class("nxdomain");
    Conclude(&o);
    cases.push_back({"NXDOMAIN: the domain only", o, {}, "example.org"});
  }
  for (const Case& c : cases) {
    // Read from the observation's bytes, as the store reads a result.
    pb::EnrichmentSource source;
    ASSERT_TRUE(source.ParseFromString(c.obs.SerializeAsString())) << c.name;
    const EnrichmentPlan plan = PlanEnrichment(source);
    std::vector<std::string> ips;
    for (const auto& a : plan.addresses) ips.push_back(a.ip);
    EXPECT_EQ(ips, c.ips) << c.name;
    EXPECT_EQ(plan.domain, c.domain) << c.name;
  }
}

TEST(EnrichmentTest, FactsDecideTheConfidenceAndFailuresAreNotes) {
  struct Case {
    std::string name;
    Result<rdap::Network> network;
    Result<rdap::Autnum> autnum;
    Result<rdap::Domain> domain;
    std::string state;
    std::string confidence;
    size_t notes;
    std::string disagreement;  // a part of one, "" for none
  };
  const std::vector<Case> cases = {
      {"all agree", Net("DE"), As("DE"), Registration(), "complete", "high", 0,
       ""},
      {"registry differs", Net("DE"), As("SG"), Registration(), "complete",
       "medium", 0, "the ASN registry"},
      {"network differs", Net("NL"), As("DE"), Registration(), "complete",
       "medium", 0, "the RDAP network record"},
      {"no network record (404)", NotFound("no RDAP record"), As("DE"),
       Registration(), "complete", "medium", 0, ""},
      {"network unavailable (429)",
       Unavailable("RDAP server answered 429 for https://rir.example/ip/x"),
       As("DE"), Registration(), "partial", "medium", 1, ""},
      {"everything fails", DataLoss("malformed RDAP answer"),
       Unavailable("timeout"), FailedPrecondition("no server for example.com"),
       "unavailable", "low", 3, ""},
  };
  for (const Case& c : cases) {
    pb::Observation o = Located();
    EXPECT_EQ(o.verdict().jurisdiction().confidence(), "low") << c.name;
    EnrichmentFacts facts;
    facts.addresses.push_back({.ip = "192.0.2.10",
                               .asn = 64501,
                               .network = c.network,
                               .autnum = c.autnum});
    facts.domain = c.domain;
    facts.bootstrap = "ipv4 2019-06-07T19:00:02Z";
    ApplyEnrichment(Enrichment(facts, "example.com", 1'800'000'000'000), &o);
    const pb::Jurisdiction& j = o.verdict().jurisdiction();
    EXPECT_EQ(o.rdap().state(), c.state) << c.name;
    EXPECT_EQ(j.confidence(), c.confidence) << c.name;
    ASSERT_EQ(static_cast<size_t>(o.rdap().notes_size()), c.notes) << c.name;
    for (const std::string& note : o.rdap().notes()) {
      EXPECT_THAT(note, HasSubstr("rdap: ")) << c.name;
      EXPECT_THAT(note, HasSubstr(" unavailable: ")) << c.name;
    }
    if (!c.disagreement.empty()) {
      ASSERT_EQ(j.disagreements_size(), 2) << c.name;
      EXPECT_THAT(j.disagreements(0) + j.disagreements(1),
                  HasSubstr(c.disagreement))
          << c.name;
    }
    EXPECT_EQ(o.rdap().enriched_unix_ms(), 1'800'000'000'000) << c.name;
    EXPECT_EQ(o.rdap().bootstrap(), "ipv4 2019-06-07T19:00:02Z");
    ASSERT_EQ(o.rdap().networks_size(), 1);
    EXPECT_EQ(o.addresses(0).rdap_country(), o.rdap().networks(0).country());
    EXPECT_EQ(o.addresses(0).registry_country(),
              o.rdap().networks(0).registry_country());
    EXPECT_EQ(o.registration().registrar(),
              c.domain.ok() ? "Example Registrar" : "")
        << c.name;
    // The reasons say the revised decision once, and nothing of the old.
    int summaries = 0;
    int current = 0;
    for (const std::string& r : o.verdict().reasons()) {
      summaries += r.starts_with("jurisdiction: ");
      current += r == DescribeJurisdiction(j);
    }
    EXPECT_EQ(summaries, 1) << c.name;
    EXPECT_EQ(current, 1) << c.name;
  }
}

TEST(EnrichmentTest, ApplyingIsIdempotentAndKeepsTheReferrals) {
  pb::Observation o = Located();
  pb::ReferralTarget* t =
      o.mutable_verdict()->mutable_jurisdiction()->add_referrals();
  t->set_country("DE");
  t->set_kind("hotline");
  EnrichmentFacts facts;
  facts.addresses.push_back({.ip = "192.0.2.10",
                             .asn = 64501,
                             .network = Net("DE"),
                             .autnum = As("SG")});
  const pb::Observation enrichment = Enrichment(facts, "example.com", 1);
  ApplyEnrichment(enrichment, &o);
  const pb::Observation once = o;
  ApplyEnrichment(enrichment, &o);
  EXPECT_EQ(o.SerializeAsString(), once.SerializeAsString());
  ASSERT_EQ(o.verdict().jurisdiction().referrals_size(), 1);
  EXPECT_EQ(o.verdict().jurisdiction().referrals(0).kind(), "hotline");
}

// Answers from tables; counts the questions.
class TableLookup : public rdap::Lookup {
 public:
  Result<rdap::Network> LookupIp(const net::IpAddress& ip) override {
    ++asked;
    if (exhausted > 0) {
      --exhausted;
      return ResourceExhausted("rate limit");
    }
    auto it = networks.find(ip.ToString());
    if (it == networks.end()) return NotFound("no record");
    return Net(it->second);
  }
  Result<rdap::Autnum> LookupAsn(uint32_t) override {
    ++asked;
    return As("DE");
  }
  Result<rdap::Domain> LookupDomain(const std::string&) override {
    ++asked;
    return Registration();
  }
  std::map<std::string, std::string> networks;
  int exhausted = 0;
  int asked = 0;
};

class EnricherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-enricher-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open() {
    auto store = Store::Open(dir_.string(), {.enrich_results = true});
    EXPECT_TRUE(store.ok()) << store.status().message();
    return std::move(store).value();
  }

  // Ingests `n` URLs, leases them and stores Located() for each (from
  // 10.0.0.J for job J with `ip_per_job`).
  void StoreResults(Store& store, int n, bool ip_per_job = false) {
    auto run = store.BeginRun(pb::RunRecord(), 1000);
    ASSERT_TRUE(run.ok());
    auto ingest = store.StartIngest(run->run_id(), 1000);
    for (int i = 0; i < n; ++i) {
      const std::string url = "http://h" + std::to_string(i) + ".example.com/";
      ASSERT_TRUE(ingest->AddUrl(i + 1, url, url, pb::RequestContext()).ok());
    }
    ASSERT_TRUE(ingest->Commit().ok());
    ingest.reset();
    auto leased = store.LeasePending(n, 2000);
    ASSERT_TRUE(leased.ok());
    for (const pb::JobRecord& job : *leased) {
      const pb::Observation obs =
          ip_per_job ? Located("10.0.0." + std::to_string(job.job_id()))
                     : Located();
      ASSERT_TRUE(
          store.StoreResult(job.job_id(), job.attempts(), obs, 3000).ok());
    }
  }

  std::filesystem::path dir_;
  int64_t now_ms_ = 1'800'000'000'000;
};

TEST_F(EnricherTest, StoredResultsArePendingUntilEnriched) {
  auto store = Open();
  StoreResults(*store, 3);
  auto pending = store->CountPendingEnrichment();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 3u);
  auto before = store->LatestResult(1);
  ASSERT_TRUE(before.ok() && before->has_value());
  EXPECT_EQ((*before)->rdap().state(), "pending");

  TableLookup lookup;
  lookup.networks["192.0.2.10"] = "DE";
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  auto step = enricher.Step();
  ASSERT_TRUE(step.ok()) << step.status().message();
  EXPECT_EQ(step->completed, 3u);
  EXPECT_EQ(*store->CountPendingEnrichment(), 0u);
  auto after = store->LatestResult(1);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->rdap().state(), "complete");
  EXPECT_EQ((*after)->verdict().jurisdiction().confidence(), "high");
  EXPECT_EQ((*after)->registration().registrar(), "Example Registrar");
  EXPECT_EQ((*after)->rdap().enriched_unix_ms(), now_ms_);
  // Rewritten with its provenance (kept by reference, common/protocol.h).
  ASSERT_EQ((*after)->data_sources_size(), 1);
  EXPECT_EQ((*after)->data_sources(0).role(), "country");
  EXPECT_EQ((*after)->data_sources_ref(), "");
  EXPECT_EQ(enricher.Step()->completed, 0u);
}

TEST_F(EnricherTest, ARateLimitedLookupLeavesTheResultPending) {
  auto store = Open();
  StoreResults(*store, 1);
  TableLookup lookup;
  lookup.exhausted = 1;
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  auto step = enricher.Step();
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(step->completed, 0u);
  EXPECT_EQ(step->deferred, 1u);
  EXPECT_EQ(lookup.asked, 1);  // the rest of the item waits as well
  EXPECT_EQ(*store->CountPendingEnrichment(), 1u);
  step = enricher.Step();
  EXPECT_EQ(step->completed, 1u);
  EXPECT_EQ(*store->CountPendingEnrichment(), 0u);
}

TEST_F(EnricherTest, StepsContinueWhereThePreviousStoppedAndWrapAround) {
  auto store = Open();
  StoreResults(*store, 3);
  TableLookup lookup;
  lookup.exhausted = 1;  // the first result's first lookup is deferred
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  const auto state = [&](uint64_t job_id) {
    auto r = store->LatestResult(job_id);
    return r.ok() && r->has_value() ? (*r)->rdap().state() : "?";
  };
  auto step = enricher.Step(1);
  ASSERT_TRUE(step.ok()) << step.status().message();
  EXPECT_EQ(step->deferred, 1u);
  // The next step goes on after the deferred result, not back to it.
  EXPECT_EQ(enricher.Step(1)->completed, 1u);
  EXPECT_EQ(state(1), "pending");
  EXPECT_EQ(state(2), "complete");
  EXPECT_EQ(enricher.Step(1)->completed, 1u);
  EXPECT_EQ(state(3), "complete");
  // The end reached: the next step starts over and finds the first.
  EXPECT_EQ(enricher.Step(1)->completed, 0u);
  EXPECT_EQ(enricher.Step(1)->completed, 1u);
  EXPECT_EQ(state(1), "complete");
  EXPECT_EQ(*store->CountPendingEnrichment(), 0u);
}

// Pending results are read in key order with their own bytes, whatever
// lies between them: results enriched already (with their enrichment
// records), long and short runs of them, a later check of a job.
TEST_F(EnricherTest, PendingEnrichmentReadsEachPendingResultInOrder) {
  auto store = Open();
  StoreResults(*store, 30, /*ip_per_job=*/true);
  const std::set<uint64_t> pending_jobs = {1, 2, 9, 10, 11, 17, 30};
  std::vector<Store::Enriched> done;
  for (uint64_t job = 1; job <= 30; ++job) {
    if (pending_jobs.contains(job)) continue;
    pb::Observation enrichment;
    enrichment.mutable_rdap()->set_state("complete");
    done.push_back({job, 0, enrichment});
  }
  ASSERT_TRUE(store->CompleteEnrichment(done).ok());
  auto queued = store->QueueChecks({10}, 4000);
  ASSERT_TRUE(queued.ok() && queued->queued == 1u);
  auto leased = store->LeasePending(1, 4000);
  ASSERT_TRUE(leased.ok() && leased->size() == 1u);
  ASSERT_TRUE(store
                  ->StoreResult(10, leased->front().attempts(),
                                Located("10.0.0.110"), 5000)
                  .ok());
  // (job, check, the result's address), in order.
  const std::vector<std::tuple<uint64_t, uint32_t, std::string>> all = {
      {1, 0, "10.0.0.1"},   {2, 0, "10.0.0.2"},    {9, 0, "10.0.0.9"},
      {10, 0, "10.0.0.10"}, {10, 1, "10.0.0.110"}, {11, 0, "10.0.0.11"},
      {17, 0, "10.0.0.17"}, {30, 0, "10.0.0.30"}};
  for (const auto& [from_job, from_check] :
       std::vector<std::pair<uint64_t, uint32_t>>{
           {0, 0}, {2, 0}, {3, 0}, {10, 1}, {12, 0}, {30, 0}, {31, 0}}) {
    for (size_t max : {100, 3}) {
      std::vector<std::tuple<uint64_t, uint32_t, std::string>> expected;
      for (const auto& e : all) {
        if (std::pair{std::get<0>(e), std::get<1>(e)} >=
                std::pair{from_job, from_check} &&
            expected.size() < max) {
          expected.push_back(e);
        }
      }
      auto items = store->PendingEnrichment(max, from_job, from_check);
      ASSERT_TRUE(items.ok()) << items.status().message();
      std::vector<std::tuple<uint64_t, uint32_t, std::string>> read;
      for (const Store::EnrichmentItem& item : *items) {
        read.emplace_back(item.job_id, item.check,
                          item.source.addresses_size() == 1
                              ? item.source.addresses(0).ip()
                              : "?");
      }
      EXPECT_EQ(read, expected)
          << "from " << from_job << "/" << from_check << ", max " << max;
    }
  }
}

TEST_F(EnricherTest, PendingEnrichmentSurvivesARestart) {
  {
    auto store = Open();
    StoreResults(*store, 2);
  }
  auto store = Open();
  EXPECT_EQ(*store->CountPendingEnrichment(), 2u);
  TableLookup lookup;
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  EXPECT_EQ(enricher.Step()->completed, 2u);
  auto r = store->LatestResult(2);
  ASSERT_TRUE(r.ok() && r->has_value());
  // No network record (404) is a fact: complete, the country unknown.
  EXPECT_EQ((*r)->rdap().state(), "complete");
  EXPECT_EQ((*r)->addresses(0).rdap_country(), "");
  EXPECT_EQ((*r)->addresses(0).registry_country(), "DE");
}

// The result stays as written; its enrichment is a record of its own that
// every read applies. Storing it again (an enrichment redone after a
// crash) replaces it: never two.
TEST_F(EnricherTest, AnEnrichmentIsKeptBesideTheResultOnceAndAppliedOnRead) {
  auto store = Open();
  StoreResults(*store, 2);
  TableLookup lookup;
  lookup.networks["192.0.2.10"] = "DE";
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  ASSERT_EQ(enricher.Step()->completed, 2u);
  // One question each for the network, the AS and the domain they share.
  EXPECT_EQ(lookup.asked, 3);
  auto enriched = store->LatestResult(1);
  ASSERT_TRUE(enriched.ok() && enriched->has_value());
  EXPECT_EQ((*enriched)->rdap().state(), "complete");
  EXPECT_EQ((*enriched)->addresses(0).rdap_country(), "DE");

  pb::Observation redone;
  redone.mutable_rdap()->set_state("unavailable");
  redone.mutable_rdap()->add_networks()->set_ip("192.0.2.10");
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(store->CompleteEnrichment({{1, 0, redone}}).ok());
  }
  auto history = store->History(1);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  const pb::Observation& read = history->front();
  EXPECT_EQ(read.rdap().state(), "unavailable");
  EXPECT_EQ(read.addresses(0).rdap_country(), "");
  // Revised from the stored result, not from an earlier revision.
  EXPECT_EQ(read.verdict().jurisdiction().confidence(), "low");
  int summaries = 0;
  for (const std::string& r : read.verdict().reasons()) {
    summaries += r.starts_with("jurisdiction: ");
  }
  EXPECT_EQ(summaries, 1);
  auto latest = store->LatestResult(1);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(**latest, read));
  // The other result keeps its own.
  EXPECT_EQ((*store->LatestResult(2))->addresses(0).rdap_country(), "DE");
}

// A new check of an early job is stored behind where the enricher stopped:
// the next step goes back for it, without a pass from the start.
TEST_F(EnricherTest, AResultStoredBehindTheLastStepIsEnrichedNext) {
  auto store = Open();
  StoreResults(*store, 3);
  TableLookup lookup;
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  ASSERT_EQ(enricher.Step()->completed, 3u);
  ASSERT_EQ(enricher.Step()->completed, 0u);
  auto queued = store->QueueChecks({1}, 4000);
  ASSERT_TRUE(queued.ok() && queued->queued == 1u);
  auto leased = store->LeasePending(1, 4000);
  ASSERT_TRUE(leased.ok() && leased->size() == 1u);
  ASSERT_TRUE(
      store->StoreResult(1, leased->front().attempts(), Located(), 5000).ok());
  EXPECT_EQ((*store->LatestResult(1))->rdap().state(), "pending");
  EXPECT_EQ(enricher.Step()->completed, 1u);
  auto history = store->History(1);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].rdap().state(), "complete");
  EXPECT_EQ((*history)[1].rdap().state(), "complete");
  EXPECT_EQ(*store->CountPendingEnrichment(), 0u);
}

// Records the addresses asked about, in order.
class RecordingLookup : public TableLookup {
 public:
  Result<rdap::Network> LookupIp(const net::IpAddress& ip) override {
    ips.push_back(ip.ToString());
    return TableLookup::LookupIp(ip);
  }
  std::vector<std::string> ips;
};

// An `enrich` entry whose result is gone (a purge removes results, not
// their entries) between two pending results: PendingEnrichment drops it
// on the way, and both neighbours are enriched once each, whether a step
// takes all three entries or one result at a time.
TEST_F(EnricherTest, AStaleEntryBetweenTwoPendingResultsIsDropped) {
  for (size_t max : {64, 2, 1}) {
    SCOPED_TRACE("max " + std::to_string(max));
    std::filesystem::remove_all(dir_);
    auto store = Open();
    // Job J from its own run; job 2's run alone starts before the cutoff.
    for (int j = 1; j <= 3; ++j) {
      auto run = store->BeginRun(pb::RunRecord(), j == 2 ? 100 : 1000);
      ASSERT_TRUE(run.ok());
      auto ingest = store->StartIngest(run->run_id(), 1000);
      const std::string url = "http://h" + std::to_string(j) + ".example.com/";
      ASSERT_TRUE(ingest->AddUrl(1, url, url, pb::RequestContext()).ok());
      ASSERT_TRUE(ingest->Commit().ok());
      ingest.reset();
      auto leased = store->LeasePending(1, 2000);
      ASSERT_TRUE(leased.ok() && leased->size() == 1u);
      ASSERT_EQ(leased->front().job_id(), static_cast<uint64_t>(j));
      ASSERT_TRUE(store
                      ->StoreResult(j, leased->front().attempts(),
                                    Located("10.0.0." + std::to_string(j)),
                                    3000)
                      .ok());
    }
    auto purged = store->Purge(500, false, "tester", 4000);
    ASSERT_TRUE(purged.ok()) << purged.status().message();
    ASSERT_EQ(purged->results, 1u);
    auto gone = store->History(2);
    ASSERT_TRUE(!gone.ok() || gone->empty());
    ASSERT_EQ(*store->CountPendingEnrichment(), 3u);  // job 2's is stale

    RecordingLookup lookup;
    lookup.networks = {{"10.0.0.1", "DE"}, {"10.0.0.3", "DE"}};
    Enricher enricher(
        store.get(), &lookup, [this] { return now_ms_; }, "b");
    uint64_t completed = 0;
    for (int step = 0; step < 4; ++step) {
      auto outcome = enricher.Step(max);
      ASSERT_TRUE(outcome.ok()) << outcome.status().message();
      EXPECT_EQ(outcome->deferred, 0u);
      completed += outcome->completed;
    }
    EXPECT_EQ(completed, 2u);
    EXPECT_EQ(lookup.ips, (std::vector<std::string>{"10.0.0.1", "10.0.0.3"}));
    EXPECT_EQ(*store->CountPendingEnrichment(), 0u);
    for (uint64_t job : {1, 3}) {
      auto history = store->History(job);
      ASSERT_TRUE(history.ok() && history->size() == 1u) << job;
      EXPECT_EQ(history->front().rdap().state(), "complete") << job;
      EXPECT_EQ(history->front().addresses(0).rdap_country(), "DE") << job;
    }
    gone = store->History(2);
    EXPECT_TRUE(!gone.ok() || gone->empty());
  }
}

// Purges the whole store (`store` runs started before `cutoff_ms`) at the
// first question, as a purge could between the read of a step's results
// and the write of their enrichment.
class PurgingLookup : public TableLookup {
 public:
  PurgingLookup(Store* store, int64_t cutoff_ms)
      : store_(store), cutoff_ms_(cutoff_ms) {}
  Result<rdap::Network> LookupIp(const net::IpAddress& ip) override {
    if (asked == 0) {
      EXPECT_TRUE(store_->Purge(cutoff_ms_, false, "tester", cutoff_ms_).ok());
    }
    return TableLookup::LookupIp(ip);
  }

 private:
  Store* store_;
  int64_t cutoff_ms_;
};

// Results purged while their enrichment is looked up get none: no
// enrichment outlives its result.
TEST_F(EnricherTest, AResultPurgedDuringItsEnrichmentGetsNone) {
  {
    auto store = Open();
    StoreResults(*store, 2);
    PurgingLookup lookup(store.get(), 5000);
    Enricher enricher(
        store.get(), &lookup, [this] { return now_ms_; }, "b");
    auto step = enricher.Step();
    ASSERT_TRUE(step.ok()) << step.status().message();
    EXPECT_GT(lookup.asked, 0);
    auto history = store->History(1);
    EXPECT_TRUE(!history.ok() || history->empty());
    EXPECT_EQ(*store->CountPendingEnrichment(), 0u);
  }
  const auto entries = testing::FamilyEntries(dir_.string());
  EXPECT_EQ(entries.count("results") ? entries.at("results") : 0, 0);
  EXPECT_EQ(entries.count("jobs") ? entries.at("jobs") : 0, 0);
}

// A purge in between that keeps the step's results (each is then looked
// up again) leaves them their enrichment.
TEST_F(EnricherTest, APurgeThatKeepsTheResultsKeepsTheirEnrichment) {
  auto store = Open();
  StoreResults(*store, 2);
  PurgingLookup lookup(store.get(), 500);  // before the run: purges nothing
  Enricher enricher(
      store.get(), &lookup, [this] { return now_ms_; }, "b");
  ASSERT_EQ(enricher.Step()->completed, 2u);
  for (uint64_t job : {1, 2}) {
    auto r = store->LatestResult(job);
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ((*r)->rdap().state(), "complete");
  }
}

TEST_F(EnricherTest, WithoutTheSettingNothingIsPending) {
  auto store = Store::Open(dir_.string());
  ASSERT_TRUE(store.ok());
  StoreResults(**store, 1);
  EXPECT_EQ(*(*store)->CountPendingEnrichment(), 0u);
  EXPECT_FALSE((*(*store)->LatestResult(1))->has_rdap());
}

TEST_F(EnricherTest, StoreCacheHonoursExpiryAndRanges) {
  auto store = Open();
  StoreRdapCache cache(store.get());
  cache.Put("https://x/domain/a.com", "body", now_ms_ + 1000);
  cache.Put("https://x/domain/b.com", "", now_ms_ + 500);  // a 404
  EXPECT_EQ(cache.Get("https://x/domain/a.com", now_ms_ + 999), "body");
  EXPECT_EQ(cache.Get("https://x/domain/a.com", now_ms_ + 1000), std::nullopt);
  EXPECT_EQ(cache.Get("https://x/domain/b.com", now_ms_), "");
  EXPECT_EQ(cache.Get("https://x/domain/b.com", now_ms_ + 500), std::nullopt);
  EXPECT_EQ(cache.Get("https://x/domain/c.com", now_ms_), std::nullopt);

  auto ip = [](const char* text) { return *net::IpAddress::Parse(text); };
  cache.PutNetwork(ip("192.0.2.0"), ip("192.0.2.255"), "net", now_ms_ + 1000);
  cache.PutNetwork(ip("2001:db8::"), ip("2001:db8::ffff"), "v6",
                   now_ms_ + 1000);
  EXPECT_EQ(cache.FindNetwork(ip("192.0.2.0"), now_ms_), "net");
  EXPECT_EQ(cache.FindNetwork(ip("192.0.2.77"), now_ms_), "net");
  EXPECT_EQ(cache.FindNetwork(ip("192.0.2.255"), now_ms_), "net");
  EXPECT_EQ(cache.FindNetwork(ip("192.0.1.255"), now_ms_), std::nullopt);
  EXPECT_EQ(cache.FindNetwork(ip("192.0.3.0"), now_ms_), std::nullopt);
  EXPECT_EQ(cache.FindNetwork(ip("2001:db8::1"), now_ms_), "v6");
  EXPECT_EQ(cache.FindNetwork(ip("2001:db8::1:0"), now_ms_), std::nullopt);
  EXPECT_EQ(cache.FindNetwork(ip("192.0.2.77"), now_ms_ + 1000), std::nullopt);
  // The cache is the store's: it outlives the process.
  store.reset();
  store = Open();
  StoreRdapCache reopened(store.get());
  EXPECT_EQ(reopened.FindNetwork(ip("192.0.2.9"), now_ms_), "net");
  EXPECT_EQ(reopened.Get("https://x/domain/a.com", now_ms_), "body");
}

}  // namespace
}  // namespace hl::coordinator
