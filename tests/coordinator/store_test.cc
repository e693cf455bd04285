#include "coordinator/store.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "coordinator/queries.h"

namespace hl::coordinator {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenStore() {
    auto store = Store::Open(dir_.string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }

  // Ingests `urls` (line i+1 each) as one run; "!" prefixes a rejection.
  pb::RunRecord IngestRun(Store& store, const std::vector<std::string>& urls) {
    auto run = store.BeginRun(pb::RunRecord(), 1000);
    EXPECT_TRUE(run.ok());
    auto ingest = store.StartIngest(run->run_id(), 1000);
    for (size_t i = 0; i < urls.size(); ++i) {
      if (urls[i].starts_with("!")) {
        EXPECT_TRUE(
            ingest->AddRejected(i + 1, urls[i], "invalid host", "x").ok());
      } else {
        EXPECT_TRUE(
            ingest->AddUrl(i + 1, urls[i], urls[i], pb::RequestContext()).ok());
      }
    }
    EXPECT_TRUE(ingest->Commit().ok());
    return *run;
  }

  std::vector<pb::LineRecord> Lines(Store& store, uint64_t run_id) {
    std::vector<pb::LineRecord> lines;
    EXPECT_TRUE(store
                    .ForEachLine(run_id,
                                 [&](const pb::LineRecord& l) {
                                   lines.push_back(l);
                                   return Status::Ok();
                                 })
                    .ok());
    return lines;
  }

  std::filesystem::path dir_;
};

TEST_F(StoreTest, DuplicatesShareOneJobAndEveryLineIsKept) {
  auto store = OpenStore();
  auto run =
      IngestRun(*store, {"http://a/", "!ftp://x", "http://b/", "http://a/"});
  EXPECT_EQ(store->pending_count(), 2u);
  auto lines = Lines(*store, run.run_id());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].line(), 1u);
  EXPECT_EQ(lines[1].rejection(), "invalid host");
  EXPECT_EQ(lines[1].job_id(), 0u);
  EXPECT_NE(lines[0].job_id(), 0u);
  EXPECT_EQ(lines[0].job_id(), lines[3].job_id());
  EXPECT_NE(lines[0].job_id(), lines[2].job_id());
}

TEST_F(StoreTest, TheRequestContextIsPartOfAJobsIdentity) {
  auto store = OpenStore();
  auto run = store->BeginRun(pb::RunRecord(), 1000);
  ASSERT_TRUE(run.ok());
  auto ingest = store->StartIngest(run->run_id(), 1000);
  pb::RequestContext from_forum;
  from_forum.set_referer("http://forum.example/t/1");
  ASSERT_TRUE(ingest->AddUrl(1, "u", "http://a/", pb::RequestContext()).ok());
  ASSERT_TRUE(ingest->AddUrl(2, "u", "http://a/", from_forum).ok());
  ASSERT_TRUE(ingest->AddUrl(3, "u", "http://a/", from_forum).ok());
  ASSERT_TRUE(ingest->Commit().ok());
  EXPECT_EQ(store->pending_count(), 2u);
  auto lines = Lines(*store, run->run_id());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].job_id(), lines[1].job_id());
  EXPECT_EQ(lines[1].job_id(), lines[2].job_id());
  auto leased = store->LeasePending(2, 2000);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 2u);
  EXPECT_FALSE((*leased)[0].has_context());
  EXPECT_EQ((*leased)[1].context().referer(), "http://forum.example/t/1");
}

TEST_F(StoreTest, LeasesInIdOrderAndStoresResultsIdempotently) {
  auto store = OpenStore();
  IngestRun(*store, {"http://a/", "http://b/", "http://c/"});
  auto leased = store->LeasePending(2, 2000);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 2u);
  EXPECT_EQ((*leased)[0].url(), "http://a/");
  EXPECT_EQ((*leased)[1].url(), "http://b/");
  EXPECT_EQ((*leased)[0].attempts(), 1u);
  EXPECT_EQ(store->pending_count(), 1u);
  EXPECT_EQ(store->leased_count(), 2u);

  pb::Observation obs;
  obs.set_url("http://a/");
  const uint64_t a = (*leased)[0].job_id();
  EXPECT_EQ(store->StoreResult(a, 2, obs, 3000).status().code(),
            StatusCode::kAlreadyExists);  // wrong attempt
  EXPECT_TRUE(store->StoreResult(a, 1, obs, 3000).ok());
  EXPECT_EQ(store->StoreResult(a, 1, obs, 3000).status().code(),
            StatusCode::kAlreadyExists);  // duplicate
  auto job = store->GetJob(a);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), pb::JOB_STATE_DONE);
  EXPECT_EQ(job->checks(), 1u);
  auto latest = store->LatestResult(a);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->url(), "http://a/");
  auto none = store->LatestResult((*leased)[1].job_id());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// The records a lease returns are the jobs' own, whether the queue's next
// entry is a neighbour of the last one, far from it (a re-queued job below
// the scan) or among jobs ingested after the scan began.
TEST_F(StoreTest, LeasesReturnEachJobsRecordAcrossGapsAndRequeues) {
  auto store = OpenStore();
  std::vector<std::string> urls;
  for (int i = 0; i < 30; ++i)
    urls.push_back("http://h" + std::to_string(i) + "/");
  IngestRun(*store, urls);
  auto first = store->LeasePending(30, 2000);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 30u);
  std::vector<uint64_t> requeued;
  for (const pb::JobRecord& job : *first) {
    if (job.job_id() == (*first)[0].job_id() ||
        job.job_id() == (*first)[14].job_id() ||
        job.job_id() == (*first)[29].job_id()) {
      ASSERT_TRUE(store->Requeue(job.job_id(), "again", 3, true, 2500).ok());
      requeued.push_back(job.job_id());
    } else {
      pb::Observation obs;
      obs.set_url(job.url());
      ASSERT_TRUE(store->StoreResult(job.job_id(), 1, obs, 2500).ok());
    }
  }
  urls.clear();
  for (int i = 30; i < 50; ++i)
    urls.push_back("http://h" + std::to_string(i) + "/");
  IngestRun(*store, urls);
  auto second = store->LeasePending(100, 3000);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 23u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*second)[i].job_id(), requeued[i]);
  for (const pb::JobRecord& job : *second) {
    auto stored = store->GetJob(job.job_id());
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(job.url(), stored->url()) << job.job_id();
    EXPECT_EQ(stored->state(), pb::JOB_STATE_LEASED);
  }
  EXPECT_EQ((*second)[2].attempts(), 2u);
  EXPECT_EQ((*second)[3].url(), "http://h30/");
  EXPECT_EQ((*second)[22].url(), "http://h49/");
}

// One call, one write: each result gets the outcome it would have had
// alone, in order; what was stored survives a reopen.
TEST_F(StoreTest, StoresTheResultsOfARoundTogether) {
  uint64_t a = 0, b = 0, c = 0;
  pb::Observation obs;
  obs.set_status("located");
  {
    auto store = OpenStore();
    IngestRun(*store, {"http://a/", "http://b/", "http://c/"});
    auto leased = store->LeasePending(3, 1000);
    ASSERT_TRUE(leased.ok());
    ASSERT_EQ(leased->size(), 3u);
    a = (*leased)[0].job_id();
    b = (*leased)[1].job_id();
    c = (*leased)[2].job_id();
    // c goes back to the queue and is leased again: attempt 1 is stale.
    ASSERT_TRUE(store->Requeue(c, "lease expired", 3, true, 1500).ok());
    ASSERT_EQ(store->LeasePending(1, 1600)->at(0).attempts(), 2u);
    struct Case {
      uint64_t job_id;
      uint32_t attempt;
      StatusCode want;
    };
    const std::vector<Case> cases = {
        {a, 1, StatusCode::kOk},
        {a, 1, StatusCode::kAlreadyExists},  // repeated in the round
        {b, 2, StatusCode::kAlreadyExists},  // not the current attempt
        {b, 1, StatusCode::kOk},
        {c, 1, StatusCode::kAlreadyExists},  // an earlier lease
        {c, 2, StatusCode::kOk},
        {999, 1, StatusCode::kNotFound},
    };
    std::vector<Store::ResultIn> in;
    const std::string bytes = obs.SerializeAsString();
    for (const Case& k : cases) {
      in.push_back({k.job_id, k.attempt, bytes, obs.status()});
    }
    auto outcomes = store->StoreResults(in, 2000);
    ASSERT_TRUE(outcomes.ok());
    ASSERT_EQ(outcomes->size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ((*outcomes)[i].status().code(), cases[i].want) << "case " << i;
      if ((*outcomes)[i].ok()) {
        EXPECT_EQ((*outcomes)[i]->job_id(), cases[i].job_id);
        EXPECT_EQ((*outcomes)[i]->state(), pb::JOB_STATE_DONE);
      }
    }
    EXPECT_EQ(store->leased_count(), 0u);
    EXPECT_EQ(store->pending_count(), 0u);
    // Nothing is left to store twice.
    EXPECT_EQ(store->StoreResult(c, 2, obs, 2100).status().code(),
              StatusCode::kAlreadyExists);
  }
  auto store = OpenStore();
  for (uint64_t id : {a, b, c}) {
    auto job = store->GetJob(id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->state(), pb::JOB_STATE_DONE) << "job " << id;
    EXPECT_EQ(job->checks(), 1u) << "job " << id;
    EXPECT_EQ(job->last_error(), "") << "job " << id;
    auto history = store->History(id);
    ASSERT_TRUE(history.ok());
    EXPECT_EQ(history->size(), 1u) << "job " << id;
  }
  EXPECT_EQ(*store->RecoverLeases(3000), 0u);
}

// Occurrences of `text` in the files of `dir` (WAL and tables as written).
int CountInFiles(const std::filesystem::path& dir, const std::string& text) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string contents = bytes.str();
    for (size_t at = contents.find(text); at != std::string::npos;
         at = contents.find(text, at + 1)) {
      ++n;
    }
  }
  return n;
}

// Write-ahead log files do not pile up behind a family written only at the
// start (here the run record): the logs on disk stay bounded while results
// many times that size are stored.
TEST_F(StoreTest, LogFilesStayBoundedBehindRarelyWrittenFamilies) {
  constexpr int kJobs = 2500;
  constexpr size_t kResultBytes = 40 << 10;  // 100 MB of results in all
  constexpr uintmax_t kLogBound = 80 << 20;  // the bound, 64 MB, + a file
  auto store = OpenStore();
  std::vector<std::string> urls;
  for (int i = 0; i < kJobs; ++i) {
    urls.push_back("http://h" + std::to_string(i) + ".example/");
  }
  IngestRun(*store, urls);
  pb::Observation obs;
  obs.set_status("located");
  pb::HttpHeader* header = obs.mutable_http()->add_headers();
  header->set_name("x-padding");
  header->set_value(std::string(kResultBytes, 'p'));
  const std::string bytes = obs.SerializeAsString();
  uintmax_t most_logs = 0;
  for (int round = 0; round < kJobs / 100; ++round) {
    auto leased = store->LeasePending(100, 1000 + round);
    ASSERT_TRUE(leased.ok());
    std::vector<Store::ResultIn> in;
    for (const pb::JobRecord& job : *leased) {
      in.push_back({job.job_id(), job.attempts(), bytes, obs.status()});
    }
    ASSERT_TRUE(store->StoreResults(in, 2000 + round).ok());
    uintmax_t logs = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      if (entry.path().extension() != ".log") continue;
      // A log file RocksDB's background thread deleted since the listing
      // holds nothing.
      std::error_code gone;
      const uintmax_t size = entry.file_size(gone);
      if (!gone) logs += size;
    }
    most_logs = std::max(most_logs, logs);
  }
  EXPECT_LE(most_logs, kLogBound);
  EXPECT_GT(most_logs, uintmax_t{8} << 20);  // the test wrote through logs
}

// The data sources of a result are written once per distinct set, and
// every read gives back the observation as it was offered.
TEST_F(StoreTest, DataSourcesAreStoredOncePerSetAndReadBackWhole) {
  const auto with_sources = [](const std::string& url,
                               const std::string& attribution) {
    pb::Observation obs;
    obs.set_url(url);
    obs.set_status("located");
    for (const char* role : {"country", "asn"}) {
      pb::DataSource* source = obs.add_data_sources();
      source->set_role(role);
      source->set_attribution(attribution + "/" + role);
      source->set_sha256(std::string(64, 'a'));
    }
    obs.set_worker("w1");  // a field after data_sources
    return obs;
  };
  const std::string marker = "attribution-marker-7f3a";
  std::vector<std::string> urls;
  for (int i = 0; i < 20; ++i) {
    urls.push_back("http://h" + std::to_string(i) + ".example/");
  }
  std::vector<pb::Observation> offered;
  {
    auto store = OpenStore();
    IngestRun(*store, urls);
    auto leased = store->LeasePending(urls.size(), 1000);
    ASSERT_TRUE(leased.ok());
    std::vector<std::string> bytes;
    for (size_t i = 0; i < urls.size(); ++i) {
      // The last result cites another set; one has none.
      offered.push_back(
          with_sources(urls[i], i + 1 == urls.size() ? "another set" : marker));
      if (i == 3) offered.back().clear_data_sources();
      bytes.push_back(offered.back().SerializeAsString());
    }
    std::vector<Store::ResultIn> in;
    for (size_t i = 0; i < urls.size(); ++i) {
      in.push_back({(*leased)[i].job_id(), 1, bytes[i], "located"});
    }
    auto outcomes = store->StoreResults(in, 2000);
    ASSERT_TRUE(outcomes.ok());
    for (const auto& outcome : *outcomes) EXPECT_TRUE(outcome.ok());
    EXPECT_EQ(CountInFiles(dir_, marker + "/country"), 1);
    for (size_t i = 0; i < urls.size(); ++i) {
      auto latest = store->LatestResult((*leased)[i].job_id());
      ASSERT_TRUE(latest.ok() && latest->has_value());
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          **latest, offered[i]))
          << i;
    }
  }
  // Reopened: the sets come from the store, not from what this process saw.
  auto store = OpenStore();
  for (size_t i = 0; i < urls.size(); ++i) {
    auto history = store->History(i + 1);
    ASSERT_TRUE(history.ok() && history->size() == 1u);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        history->front(), offered[i]))
        << i;
  }
  // A reference to a set the store does not hold is data loss, not an
  // observation without provenance.
  pb::Observation dangling;
  dangling.set_data_sources_ref(std::string(64, '0'));
  EXPECT_EQ(store->AttachDataSources(&dangling).code(), StatusCode::kDataLoss);
}

// An observation as a worker routes it: a verdict whose jurisdiction has
// referral targets named after `directory`, with the directory's warning;
// an empty `directory` routes to none.
pb::Observation Routed(const std::string& url, const std::string& directory) {
  pb::Observation obs;
  obs.set_url(url);
  obs.set_status("located");
  pb::Verdict* verdict = obs.mutable_verdict();
  verdict->add_hosting_countries("DE");
  verdict->add_reasons("HTTP HEAD answered from 192.0.2.1");
  pb::Jurisdiction* j = verdict->mutable_jurisdiction();
  j->set_attribution("hosted");
  j->add_primary_countries("DE");
  j->set_confidence("low");
  j->set_registrable_domain("example");
  if (!directory.empty()) {
    for (const char* name : {"first hotline", "second hotline"}) {
      pb::ReferralTarget* t = j->add_referrals();
      t->set_country("DE");
      t->set_kind("hotline");
      t->set_route("primary");
      t->set_name(directory + "/" + name);
      t->set_source("a member list");
    }
    j->set_directory_unverified(true);
    j->set_referral_warning("the referral directory " + directory +
                            " is not verified");
  }
  j->set_home_country("NL");
  verdict->add_reasons("jurisdiction: hosted DE");
  obs.add_data_sources()->set_role("country");
  obs.set_worker("w1");
  return obs;
}

// Referral targets, the same in every result routed to one country, are
// written once per distinct set; every read gives the observation back.
TEST_F(StoreTest, ReferralTargetsAreStoredOncePerSetAndReadBackWhole) {
  const std::string marker = "directory-marker-5e1c";
  std::vector<pb::Observation> offered;
  for (int i = 0; i < 12; ++i) {
    const std::string url = "http://h" + std::to_string(i) + ".example/";
    offered.push_back(Routed(url, i == 10   ? "another directory"
                                  : i == 11 ? ""
                                            : marker));
  }
  {
    auto store = OpenStore();
    std::vector<std::string> urls;
    for (const auto& o : offered) urls.push_back(o.url());
    IngestRun(*store, urls);
    auto leased = store->LeasePending(urls.size(), 1000);
    ASSERT_TRUE(leased.ok() && leased->size() == urls.size());
    std::vector<std::string> bytes;
    for (const auto& o : offered) bytes.push_back(o.SerializeAsString());
    std::vector<Store::ResultIn> in;
    for (size_t i = 0; i < urls.size(); ++i) {
      in.push_back({(*leased)[i].job_id(), 1, bytes[i], "located"});
    }
    auto outcomes = store->StoreResults(in, 2000);
    ASSERT_TRUE(outcomes.ok());
    for (const auto& outcome : *outcomes) EXPECT_TRUE(outcome.ok());
    EXPECT_EQ(CountInFiles(dir_, marker + "/first hotline"), 1);
    for (size_t i = 0; i < offered.size(); ++i) {
      auto latest = store->LatestResult(i + 1);
      ASSERT_TRUE(latest.ok() && latest->has_value());
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          **latest, offered[i]))
          << i;
      EXPECT_EQ((*latest)->SerializeAsString(), bytes[i]) << i;
    }
  }
  auto store = OpenStore();
  for (size_t i = 0; i < offered.size(); ++i) {
    auto history = store->History(i + 1);
    ASSERT_TRUE(history.ok() && history->size() == 1u);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        history->front(), offered[i]))
        << i;
  }
  pb::Observation dangling;
  dangling.set_referrals_ref(std::string(64, '0'));
  EXPECT_EQ(store->AttachDataSources(&dangling).code(), StatusCode::kDataLoss);
}

// Opens the RocksDB database of `dir` directly and calls `fn` with it and
// its column families by name.
void WithRawDb(const std::filesystem::path& dir,
               const std::function<void(
                   rocksdb::DB*,
                   std::map<std::string, rocksdb::ColumnFamilyHandle*>&)>& fn) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(options, dir.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& n : names) {
    families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::Open(options, dir.string(), families, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  fn(db, by_name);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

// A version 2 folder holds results whole (data sources, referral targets
// and RDAP enrichment inline): it reads as written, read-only as it is and
// after being opened for writing, which marks it version 3.
TEST_F(StoreTest, AVersion2FolderReadsAsItWasWritten) {
  pb::Observation old_result = Routed("http://a.example/", "v2-directory");
  old_result.mutable_rdap()->set_state("complete");
  old_result.mutable_rdap()->add_networks()->set_ip("192.0.2.1");
  old_result.mutable_registration()->set_registrar("Example Registrar");
  {
    auto store = OpenStore();
    IngestRun(*store, {"http://a.example/"});
    auto leased = store->LeasePending(1, 1000);
    ASSERT_TRUE(leased.ok() && leased->size() == 1u);
    ASSERT_TRUE(store->StoreResult(1, 1, old_result, 2000).ok());
  }
  // As a version 2 binary wrote it: the record whole, no sets in `meta`.
  WithRawDb(dir_, [&](rocksdb::DB* db, auto& cf) {
    std::string key(8, '\0');
    key[7] = 1;
    key += std::string(4, '\0');
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf["results"], key,
                        old_result.SerializeAsString())
                    .ok());
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), cf["meta"], "schema_version", "2")
            .ok());
    ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), cf["meta"],
                                "data_sources/", "data_sources0")
                    .ok());
    ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), cf["meta"],
                                "referrals/", "referrals0")
                    .ok());
  });
  const auto expect_whole = [&](Store& store) {
    auto latest = store.LatestResult(1);
    ASSERT_TRUE(latest.ok() && latest->has_value())
        << latest.status().message();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(**latest,
                                                                   old_result));
    auto history = store.History(1);
    ASSERT_TRUE(history.ok() && history->size() == 1u);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        history->front(), old_result));
  };
  {
    auto read_only = Store::OpenReadOnly(dir_.string());
    ASSERT_TRUE(read_only.ok()) << read_only.status().message();
    expect_whole(**read_only);
  }
  {
    auto store = OpenStore();
    expect_whole(*store);
  }
  WithRawDb(dir_, [&](rocksdb::DB* db, auto& cf) {
    std::string version;
    ASSERT_TRUE(
        db->Get(rocksdb::ReadOptions(), cf["meta"], "schema_version", &version)
            .ok());
    EXPECT_EQ(version, "3");
  });
}

TEST_F(StoreTest, RequeueUntilAttemptCapThenDead) {
  auto store = OpenStore();
  IngestRun(*store, {"http://a/"});
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto leased = store->LeasePending(5, 1000);
    ASSERT_TRUE(leased.ok());
    ASSERT_EQ(leased->size(), 1u) << "attempt " << attempt;
    EXPECT_EQ((*leased)[0].attempts(), attempt);
    ASSERT_TRUE(store
                    ->Requeue((*leased)[0].job_id(), "lease expired", 3,
                              /*count_attempt=*/true, 1000)
                    .ok());
  }
  EXPECT_EQ(store->pending_count(), 0u);
  auto job = store->GetJob(1);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), pb::JOB_STATE_DEAD);
  EXPECT_EQ(job->last_error(), "lease expired");
  // The reports show it as an error saying why, not as a line without
  // outcome.
  LineOutcome outcome;
  auto final = ReadOutcome(*store, Lines(*store, 1).at(0), nullptr, &outcome);
  ASSERT_TRUE(final.ok());
  EXPECT_TRUE(*final);
  ASSERT_TRUE(outcome.latest.has_value());
  EXPECT_EQ(outcome.latest->status(), "error");
  EXPECT_EQ(outcome.latest->url(), "http://a/");
  EXPECT_EQ(outcome.latest->error().error_class(), "gave_up");
  EXPECT_EQ(outcome.latest->error().message(),
            "3 probes ended without a result; the last: lease expired");

  // A later run with the same URL revives the dead job.
  IngestRun(*store, {"http://a/"});
  EXPECT_EQ(store->pending_count(), 1u);
  EXPECT_EQ(store->GetJob(1)->attempts(), 0u);
}

TEST_F(StoreTest, UnstartedJobsHandedBackCostNoAttempt) {
  auto store = OpenStore();
  IngestRun(*store, {"http://a/"});
  for (int i = 0; i < 5; ++i) {
    auto leased = store->LeasePending(1, 1000);
    ASSERT_TRUE(leased.ok());
    ASSERT_EQ(leased->size(), 1u);
    ASSERT_TRUE(store
                    ->Requeue((*leased)[0].job_id(), "worker left", 1,
                              /*count_attempt=*/false, 1000)
                    .ok());
  }
  auto job = store->GetJob(1);
  EXPECT_EQ(job->state(), pb::JOB_STATE_PENDING);
  EXPECT_EQ(job->attempts(), 0u);
}

TEST_F(StoreTest, ReopenRecoversLeasesAndKeepsDoneJobs) {
  {
    auto store = OpenStore();
    IngestRun(*store, {"http://a/", "http://b/", "http://c/"});
    auto leased = store->LeasePending(3, 1000);
    ASSERT_TRUE(leased.ok());
    pb::Observation obs;
    ASSERT_TRUE(store->StoreResult((*leased)[0].job_id(), 1, obs, 1).ok());
  }  // "crash" with b and c leased
  auto store = OpenStore();
  EXPECT_EQ(store->pending_count(), 0u);
  auto recovered = store->RecoverLeases(5000);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(*recovered, 2u);
  EXPECT_EQ(store->pending_count(), 2u);
  auto leased = store->LeasePending(5, 6000);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 2u);
  EXPECT_EQ((*leased)[0].url(), "http://b/");
  EXPECT_EQ((*leased)[0].attempts(), 1u);  // the crash did not count

  // The done URL is reused by a new run, not queued again.
  auto run = IngestRun(*store, {"http://a/"});
  EXPECT_EQ(store->pending_count(), 0u);
  EXPECT_EQ(Lines(*store, run.run_id())[0].job_id(), 1u);
  auto latest = store->LatestRun();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->run_id(), run.run_id());
}

TEST_F(StoreTest, RefusesAnotherSchemaVersion) {
  { OpenStore(); }
  {
    rocksdb::DBOptions options;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    std::vector<std::string> names;
    ASSERT_TRUE(
        rocksdb::DB::ListColumnFamilies(options, dir_.string(), &names).ok());
    for (const auto& n : names)
      families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(options, dir_.string(), families, &handles, &db)
            .ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "meta") {
        ASSERT_TRUE(
            db->Put(rocksdb::WriteOptions(), handles[i], "schema_version", "99")
                .ok());
      }
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto store = Store::Open(dir_.string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 99"),
            std::string::npos);
}

TEST_F(StoreTest, SecondOpenOfTheSameFolderIsRefusedClearly) {
  auto first = OpenStore();
  auto second = Store::Open(dir_.string());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another hostlocator process"),
            std::string::npos)
      << second.status().message();
}

TEST_F(StoreTest, TheAuditLogAppendsInOrderAndSurvivesReopening) {
  {
    auto store = OpenStore();
    auto first = store->AppendAudit("analyst-1", "submit", "batch 1", 10);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->seq(), 1u);
    ASSERT_TRUE(store->AppendAudit("analyst-2", "export", "batch 1", 20).ok());
  }
  auto store = OpenStore();
  auto third = store->AppendAudit("admin", "purge", "older than 90 d", 30);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->seq(), 3u);
  std::vector<std::string> seen;
  ASSERT_TRUE(store
                  ->ForEachAudit(2,
                                 [&](const pb::AuditRecord& r) {
                                   seen.push_back(std::to_string(r.seq()) +
                                                  " " + r.actor() + " " +
                                                  r.action() + " " +
                                                  std::to_string(r.unix_ms()));
                                   return Status::Ok();
                                 })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"2 analyst-2 export 20",
                                            "3 admin purge 30"}));
}

}  // namespace
}  // namespace hl::coordinator
