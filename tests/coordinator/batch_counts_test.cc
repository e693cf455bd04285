// The per-batch counters: the pure arithmetic (a table of job changes),
// then the Store keeping them through every transition, for jobs shared by
// several batches, across a reopen, and when migrating a version 1 folder.
#include "coordinator/batch_counts.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>

#include "coordinator/store.h"

namespace hl::coordinator {
namespace {

// "rej pend fly done dead | loc unres err" of a batch's counters.
std::string Text(const pb::BatchCounts& c) {
  return std::to_string(c.rejected()) + " " + std::to_string(c.pending()) +
         " " + std::to_string(c.in_flight()) + " " + std::to_string(c.done()) +
         " " + std::to_string(c.dead()) + " | " + std::to_string(c.located()) +
         " " + std::to_string(c.unresolved()) + " " + std::to_string(c.error());
}

pb::JobRecord Job(pb::JobState state, std::string last_status,
                  std::vector<std::pair<uint64_t, uint64_t>> batches) {
  pb::JobRecord job;
  job.set_state(state);
  job.set_last_status(std::move(last_status));
  for (auto [run, lines] : batches) AddBatchLines(&job, run, lines);
  return job;
}

TEST(BatchCountsTest, JobChangesMoveEveryLineOfEveryBatch) {
  using S = pb::JobState;
  struct Case {
    const char* name;
    pb::JobRecord before, after;
    uint64_t run;
    std::string counts;  // run's counters from all-zero plus `before`'s
    uint64_t finished;
  };
  const Case cases[] = {
      {"lease", Job(S::JOB_STATE_PENDING, "", {{1, 2}}),
       Job(S::JOB_STATE_LEASED, "", {{1, 2}}), 1, "0 0 2 0 0 | 0 0 0", 0},
      {"result located, shared with batch 2",
       Job(S::JOB_STATE_LEASED, "", {{1, 2}, {2, 1}}),
       Job(S::JOB_STATE_DONE, "located", {{1, 2}, {2, 1}}), 2,
       "0 0 0 1 0 | 1 0 0", 1},
      {"re-check keeps the old outcome",
       Job(S::JOB_STATE_DONE, "located", {{1, 3}}),
       Job(S::JOB_STATE_PENDING, "located", {{1, 3}}), 1, "0 3 0 0 0 | 3 0 0",
       0},
      {"new result replaces the outcome",
       Job(S::JOB_STATE_LEASED, "located", {{1, 1}}),
       Job(S::JOB_STATE_DONE, "error", {{1, 1}}), 1, "0 0 0 1 0 | 0 0 1", 1},
      {"dead", Job(S::JOB_STATE_LEASED, "", {{4, 1}}),
       Job(S::JOB_STATE_DEAD, "", {{4, 1}}), 4, "0 0 0 0 1 | 0 0 0", 1},
      {"lines join a done job", Job(S::JOB_STATE_DONE, "unresolved", {{1, 1}}),
       Job(S::JOB_STATE_DONE, "unresolved", {{1, 1}, {5, 2}}), 5,
       "0 0 0 2 0 | 0 2 0", 0},
  };
  for (const Case& c : cases) {
    CountChanges changes;
    AddJobLines(c.before, +1, &changes);  // the counters before
    pb::BatchCounts counts = Applied({}, changes[c.run]);
    changes.clear();
    AddJobChange(c.before, c.after, &changes);
    EXPECT_EQ(Text(Applied(counts, changes[c.run])), c.counts) << c.name;
    EXPECT_EQ(changes[c.run].finished, c.finished) << c.name;
  }
}

TEST(BatchCountsTest, FinishRateCountsTheLastThirtySeconds) {
  FinishRate rate;
  EXPECT_EQ(rate.PerSecond(5000), 0);
  rate.Add(10'000, 20);                            // second 10
  rate.Add(11'500, 20);                            // second 11
  EXPECT_DOUBLE_EQ(rate.PerSecond(11'900), 20.0);  // 40 over 2 s
  EXPECT_DOUBLE_EQ(rate.PerSecond(39'000), 40.0 / 30);
  EXPECT_DOUBLE_EQ(rate.PerSecond(40'000), 20.0 / 30);  // second 10 left
  EXPECT_EQ(rate.PerSecond(41'000), 0);
  rate.Add(100'000, 30);  // the slot of an old second is reused
  EXPECT_DOUBLE_EQ(rate.PerSecond(100'000), 1.0);
}

class StoreCountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-counts-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto store = Store::Open(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  // Ingests `urls` as one run; "!" prefixes a rejected line.
  uint64_t Ingest(const std::vector<std::string>& urls, int64_t max_age = -1) {
    auto run = store_->BeginRun(pb::RunRecord(), 1000);
    EXPECT_TRUE(run.ok());
    auto ingest = store_->StartIngest(run->run_id(), 1000, max_age);
    for (size_t i = 0; i < urls.size(); ++i) {
      if (urls[i].starts_with("!")) {
        EXPECT_TRUE(ingest->AddRejected(i + 1, urls[i], "bad", "").ok());
      } else {
        EXPECT_TRUE(
            ingest->AddUrl(i + 1, urls[i], urls[i], pb::RequestContext()).ok());
      }
    }
    EXPECT_TRUE(ingest->Commit().ok());
    return run->run_id();
  }
  std::string Counts(uint64_t run) {
    auto live = store_->LiveCounts(run, 5000);
    EXPECT_TRUE(live.ok());
    return live.ok() ? Text(live->counts) : "";
  }
  // Leases everything pending; returns the job ids by URL.
  std::map<std::string, pb::JobRecord> LeaseAll() {
    std::map<std::string, pb::JobRecord> jobs;
    auto leased = store_->LeasePending(100, 2000);
    EXPECT_TRUE(leased.ok());
    for (const auto& job : *leased) jobs[job.url()] = job;
    return jobs;
  }
  void Finish(const pb::JobRecord& job, const std::string& status) {
    pb::Observation obs;
    obs.set_status(status);
    ASSERT_TRUE(
        store_->StoreResult(job.job_id(), job.attempts(), obs, 3000).ok());
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreCountsTest, EveryTransitionKeepsTheCountersOfSharedJobsExact) {
  const uint64_t a = Ingest({"http://x/", "!bad", "http://y/", "http://x/"});
  EXPECT_EQ(Counts(a), "1 3 0 0 0 | 0 0 0");
  auto jobs = LeaseAll();
  // Batch b shares x (leased) and adds z.
  const uint64_t b = Ingest({"http://x/", "http://z/"});
  EXPECT_EQ(Counts(a), "1 0 3 0 0 | 0 0 0");
  EXPECT_EQ(Counts(b), "0 1 1 0 0 | 0 0 0");
  Finish(jobs["http://x/"], "located");
  EXPECT_EQ(Counts(a), "1 0 1 2 0 | 2 0 0");
  EXPECT_EQ(Counts(b), "0 1 0 1 0 | 1 0 0");
  // y fails twice: back to the queue, then dead.
  ASSERT_TRUE(
      store_->Requeue(jobs["http://y/"].job_id(), "timeout", 2, true, 3000)
          .ok());
  EXPECT_EQ(Counts(a), "1 1 0 2 0 | 2 0 0");
  jobs = LeaseAll();  // y again, and z
  EXPECT_EQ(Counts(b), "0 0 1 1 0 | 1 0 0");
  ASSERT_TRUE(
      store_->Requeue(jobs["http://y/"].job_id(), "timeout", 2, true, 3000)
          .ok());
  EXPECT_EQ(Counts(a), "1 0 0 2 1 | 2 0 0");
  Finish(jobs["http://z/"], "unresolved");
  EXPECT_EQ(Counts(b), "0 0 0 2 0 | 1 1 0");
  // A re-check of batch a: x and y pending again, x keeps its outcome.
  auto queued = store_->QueueChecks(
      {jobs["http://y/"].job_id(), store_->FindJobId("http://x/", {})->value()},
      4000);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued->queued, 2u);
  EXPECT_EQ(Counts(a), "1 3 0 0 0 | 2 0 0");
  EXPECT_EQ(Counts(b), "0 1 0 1 0 | 1 1 0");
  // Leased when the process dies: reopening recovers the leases.
  jobs = LeaseAll();
  EXPECT_EQ(Counts(a), "1 0 3 0 0 | 2 0 0");
  Reopen();
  EXPECT_EQ(Counts(a), "1 0 3 0 0 | 2 0 0");
  ASSERT_TRUE(store_->RecoverLeases(5000).ok());
  EXPECT_EQ(Counts(a), "1 3 0 0 0 | 2 0 0");
  EXPECT_EQ(Counts(b), "0 1 0 1 0 | 1 1 0");
  // Re-submitting x with max age 0 queues it (it is pending: joined).
  const uint64_t c = Ingest({"http://x/"}, 0);
  EXPECT_EQ(Counts(c), "0 1 0 0 0 | 1 0 0");
  EXPECT_EQ(store_->LiveCounts(99, 0).status().code(), StatusCode::kNotFound);
}

TEST_F(StoreCountsTest, RepeatedLinesOfANewJobAreOneRecordWithEveryLine) {
  const uint64_t a =
      Ingest({"http://x/", "http://y/", "http://x/", "!bad", "http://x/"});
  EXPECT_EQ(Counts(a), "1 4 0 0 0 | 0 0 0");
  auto x = store_->FindJobId("http://x/", {});
  ASSERT_TRUE(x.ok() && x->has_value());
  auto job = store_->GetJob(**x);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->url(), "http://x/");
  EXPECT_EQ(job->state(), pb::JOB_STATE_PENDING);
  ASSERT_EQ(job->batches_size(), 1);
  EXPECT_EQ(job->batches(0).run_id(), a);
  EXPECT_EQ(job->batches(0).lines(), 3u);
  EXPECT_EQ(store_->pending_count(), 2u);
  // A second batch joins it: one more batch on the same record.
  const uint64_t b = Ingest({"http://x/", "http://x/"});
  job = store_->GetJob(**x);
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->batches_size(), 2);
  EXPECT_EQ(job->batches(1).run_id(), b);
  EXPECT_EQ(job->batches(1).lines(), 2u);
  EXPECT_EQ(Counts(b), "0 2 0 0 0 | 0 0 0");
  EXPECT_EQ(store_->pending_count(), 2u);
}

TEST_F(StoreCountsTest, PurgeDropsTheCountersOfPurgedBatchesOnly) {
  const uint64_t a = Ingest({"http://x/", "http://y/"});
  auto jobs = LeaseAll();
  Finish(jobs["http://x/"], "located");
  Finish(jobs["http://y/"], "error");
  auto run = store_->BeginRun(pb::RunRecord(), 9000);
  auto ingest = store_->StartIngest(run->run_id(), 9000);
  ASSERT_TRUE(ingest->AddUrl(1, "x", "http://x/", {}).ok());
  ASSERT_TRUE(ingest->Commit().ok());
  ingest.reset();
  ASSERT_TRUE(store_->Purge(5000, false, "admin", 9000).ok());
  EXPECT_EQ(store_->LiveCounts(a, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Counts(run->run_id()), "0 0 0 1 0 | 1 0 0");
  auto job = store_->GetJob(jobs["http://x/"].job_id());
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->batches_size(), 1);
  EXPECT_EQ(job->batches(0).run_id(), run->run_id());
  Reopen();
  EXPECT_EQ(Counts(run->run_id()), "0 0 0 1 0 | 1 0 0");
  EXPECT_EQ(store_->LiveCounts(a, 0).status().code(), StatusCode::kNotFound);
}

// Rewrites the folder as a version 1 binary left it: no counters, jobs
// without batches and last_status, schema version 1.
void DowngradeToV1(const std::string& dir) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& n : names)
    families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, families, &handles, &db).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "meta") {
      ASSERT_TRUE(
          db->Put(rocksdb::WriteOptions(), handles[i], "schema_version", "1")
              .ok());
    } else if (names[i] == "batch_counts" || names[i] == "jobs") {
      std::unique_ptr<rocksdb::Iterator> it(
          db->NewIterator(rocksdb::ReadOptions(), handles[i]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (names[i] == "batch_counts") {
          ASSERT_TRUE(
              db->Delete(rocksdb::WriteOptions(), handles[i], it->key()).ok());
          continue;
        }
        pb::JobRecord job;
        ASSERT_TRUE(job.ParseFromString(it->value().ToString()));
        job.clear_batches();
        job.clear_last_status();
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], it->key(),
                            job.SerializeAsString())
                        .ok());
      }
    }
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

TEST_F(StoreCountsTest, AVersionOneFolderGetsItsCountersWhenOpened) {
  const uint64_t a = Ingest({"http://x/", "!bad", "http://y/", "http://x/"});
  auto jobs = LeaseAll();
  Finish(jobs["http://x/"], "located");
  const uint64_t b = Ingest({"http://y/", "http://z/"});
  const std::string before_a = Counts(a), before_b = Counts(b);
  EXPECT_EQ(before_a, "1 0 1 2 0 | 2 0 0");
  store_.reset();
  DowngradeToV1(dir_.string());
  auto read_only = Store::OpenReadOnly(dir_.string());
  ASSERT_FALSE(read_only.ok());
  EXPECT_NE(read_only.status().message().find("migrate"), std::string::npos);
  Reopen();
  EXPECT_EQ(Counts(a), before_a);
  EXPECT_EQ(Counts(b), before_b);
  Finish(jobs["http://y/"], "error");  // the lease survived the migration
  EXPECT_EQ(Counts(b), "0 1 0 1 0 | 0 0 1");
  Reopen();  // version 2 now: opened without migrating again
  EXPECT_EQ(Counts(a), "1 0 0 3 0 | 2 0 1");
}

}  // namespace
}  // namespace hl::coordinator
