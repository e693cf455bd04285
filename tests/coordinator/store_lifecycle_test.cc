// The store over time: freshness of known results, periodic re-checks and
// history, the politeness filter of leasing, retention, backup and restore.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "coordinator/retention.h"
#include "coordinator/store.h"
#include "tests/coordinator/family_entries.h"

namespace hl::coordinator {
namespace {

constexpr int64_t kHour = 3600 * 1000;

class StoreLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::filesystem::temp_directory_path() /
            ("hl-store-life-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
    dir_ = base_ / "data";
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  std::unique_ptr<Store> OpenStore(StorePolicy policy = {},
                                   std::filesystem::path dir = {}) {
    auto store = Store::Open((dir.empty() ? dir_ : dir).string(), policy);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }

  // Ingests `urls` as one run at `now` with the batch's `max_age_ms`.
  static pb::RunRecord Submit(Store& store,
                              const std::vector<std::string>& urls, int64_t now,
                              int64_t max_age_ms = -1) {
    auto run = store.BeginRun(pb::RunRecord(), now);
    EXPECT_TRUE(run.ok());
    auto ingest = store.StartIngest(run->run_id(), now, max_age_ms);
    for (size_t i = 0; i < urls.size(); ++i) {
      EXPECT_TRUE(
          ingest->AddUrl(i + 1, urls[i], urls[i], pb::RequestContext()).ok());
    }
    EXPECT_TRUE(ingest->Commit().ok());
    return *run;
  }

  // Leases every pending job and stores a result with `status` for each.
  static std::vector<uint64_t> ProbeAll(Store& store, int64_t now,
                                        const std::string& status = "located") {
    auto leased = store.LeasePending(1000, now);
    EXPECT_TRUE(leased.ok());
    std::vector<uint64_t> ids;
    for (const auto& job : *leased) {
      pb::Observation obs;
      obs.set_url(job.url());
      obs.set_status(status);
      obs.set_checked_at_unix_ms(now);
      EXPECT_TRUE(
          store.StoreResult(job.job_id(), job.attempts(), obs, now).ok());
      ids.push_back(job.job_id());
    }
    return ids;
  }

  static std::vector<int64_t> CheckTimes(Store& store, uint64_t job_id) {
    auto history = store.History(job_id);
    EXPECT_TRUE(history.ok());
    std::vector<int64_t> times;
    for (const auto& obs : *history) times.push_back(obs.checked_at_unix_ms());
    return times;
  }

  std::filesystem::path base_;
  std::filesystem::path dir_;
};

TEST_F(StoreLifecycleTest, FreshResultIsSharedStaleOneIsRechecked) {
  auto store = OpenStore({.default_max_result_age_ms = 10 * kHour});
  const int64_t t0 = 100 * kHour;
  Submit(*store, {"http://a/"}, t0);
  const uint64_t a = ProbeAll(*store, t0).at(0);

  // Second batch an hour later: fresh under the default, shared.
  Submit(*store, {"http://a/"}, t0 + kHour);
  EXPECT_EQ(store->pending_count(), 0u);
  // A batch that accepts results up to 30 minutes old: re-checked.
  Submit(*store, {"http://a/"}, t0 + kHour, kHour / 2);
  EXPECT_EQ(store->pending_count(), 1u);
  // A third batch while the re-check waits joins it (not queued twice).
  Submit(*store, {"http://a/", "http://a/"}, t0 + kHour, 0);
  EXPECT_EQ(store->pending_count(), 1u);
  ProbeAll(*store, t0 + 2 * kHour);
  EXPECT_EQ(CheckTimes(*store, a), (std::vector<int64_t>{t0, t0 + 2 * kHour}));
  auto latest = store->LatestResult(a);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->checked_at_unix_ms(), t0 + 2 * kHour);

  // Past the default age (10 h after the latest check): re-checked.
  Submit(*store, {"http://a/"}, t0 + 12 * kHour + 1);
  EXPECT_EQ(store->pending_count(), 1u);
}

TEST_F(StoreLifecycleTest, PeriodicRechecksOfLocatedUrlsAppendToHistory) {
  StorePolicy policy{.recheck_interval_ms = kHour};
  auto store = OpenStore(policy);
  const int64_t t0 = 100 * kHour;
  Submit(*store, {"http://located/", "http://failed/"}, t0);
  auto leased = store->LeasePending(10, t0);
  ASSERT_TRUE(leased.ok() && leased->size() == 2);
  for (const auto& job : *leased) {
    pb::Observation obs;
    obs.set_status(job.url() == "http://located/" ? "located" : "error");
    obs.set_checked_at_unix_ms(t0);
    ASSERT_TRUE(store->StoreResult(job.job_id(), 1, obs, t0).ok());
  }
  const uint64_t located = (*leased)[0].job_id();
  EXPECT_EQ(store->next_recheck_ms(), t0 + kHour);
  auto none = store->QueueDueRechecks(t0 + kHour - 1);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);

  for (int round = 1; round <= 3; ++round) {
    const int64_t due = t0 + round * kHour;
    auto queued = store->QueueDueRechecks(due);
    ASSERT_TRUE(queued.ok());
    EXPECT_EQ(*queued, 1u) << "round " << round;  // only the located URL
    EXPECT_EQ(store->pending_count(), 1u);
    ProbeAll(*store, due);
  }
  EXPECT_EQ(
      CheckTimes(*store, located),
      (std::vector<int64_t>{t0, t0 + kHour, t0 + 2 * kHour, t0 + 3 * kHour}));
  // The schedule survives reopening.
  store.reset();
  store = OpenStore(policy);
  EXPECT_EQ(store->next_recheck_ms(), t0 + 4 * kHour);
  auto queued = store->QueueDueRechecks(t0 + 4 * kHour);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(*queued, 1u);
}

// One reader for many jobs, in any order: each read is the newest check
// with its own enrichment (not an older check's), as History has it.
TEST_F(StoreLifecycleTest, AResultReaderReadsTheNewestCheckOfEachJob) {
  StorePolicy policy{.recheck_interval_ms = kHour};
  auto store = OpenStore(policy);
  const int64_t t0 = 100 * kHour;
  Submit(*store, {"http://a/", "http://b/", "http://c/", "http://d/"}, t0);
  auto leased = store->LeasePending(3, t0);  // d stays without a result
  ASSERT_TRUE(leased.ok() && leased->size() == 3);
  for (const auto& job : *leased) {
    pb::Observation obs;
    obs.set_url(job.url());
    obs.set_status("located");
    obs.set_checked_at_unix_ms(t0);
    ASSERT_TRUE(store->StoreResult(job.job_id(), 1, obs, t0).ok());
  }
  const uint64_t a = (*leased)[0].job_id(), b = (*leased)[1].job_id(),
                 c = (*leased)[2].job_id();
  const auto enrichment = [](uint64_t job, uint32_t check,
                             const std::string& state) {
    Store::Enriched e{job, check, {}};
    e.enrichment.mutable_rdap()->set_state(state);
    return e;
  };
  // a: checked twice more, its first check enriched; b: its one check
  // enriched; c: none.
  ASSERT_TRUE(store
                  ->CompleteEnrichment({enrichment(a, 0, "first of a"),
                                        enrichment(b, 0, "only of b")})
                  .ok());
  for (int round = 1; round <= 2; ++round) {
    ASSERT_TRUE(store->QueueDueRechecks(t0 + round * kHour).ok());
    auto again = store->LeasePending(10, t0 + round * kHour);
    ASSERT_TRUE(again.ok());
    for (const auto& job : *again) {
      if (job.job_id() != a) continue;
      pb::Observation obs;
      obs.set_url(job.url());
      obs.set_status("located");
      obs.set_checked_at_unix_ms(t0 + round * kHour);
      ASSERT_TRUE(store
                      ->StoreResult(job.job_id(), job.attempts(), obs,
                                    t0 + round * kHour)
                      .ok());
    }
    for (const auto& job : *again) {
      if (job.job_id() != a) {
        ASSERT_TRUE(store->Requeue(job.job_id(), "not now", 9, false, t0).ok());
      }
    }
  }
  const uint64_t d = c + 1;
  Store::ResultReader reader = store->NewResultReader();
  pb::Observation read;
  for (uint64_t job :
       std::vector<uint64_t>{a, b, c, d, 999, a, c, b, b, d, a}) {
    uint32_t check = 77;
    auto found = reader.Latest(job, &read, &check);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    auto history = store->History(job);
    ASSERT_TRUE(history.ok());
    ASSERT_EQ(*found, !history->empty()) << "job " << job;
    if (!*found) continue;
    EXPECT_EQ(check, history->size() - 1) << "job " << job;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        read, history->back()))
        << "job " << job;
  }
  auto latest_a = store->LatestResult(a);
  ASSERT_TRUE(latest_a.ok() && latest_a->has_value());
  EXPECT_EQ((*latest_a)->checked_at_unix_ms(), t0 + 2 * kHour);
  EXPECT_EQ((*latest_a)->rdap().state(), "");
  auto latest_b = store->LatestResult(b);
  ASSERT_TRUE(latest_b.ok() && latest_b->has_value());
  EXPECT_EQ((*latest_b)->rdap().state(), "only of b");
}

// One job reader for many jobs, in any order (steps forward, seeks back,
// jumps past the step-ahead window, asks for missing ids): each read is
// what GetJob reads.
TEST_F(StoreLifecycleTest, AJobReaderReadsWhatGetJobReads) {
  auto store = OpenStore();
  const int64_t t0 = 100 * kHour;
  std::vector<std::string> urls;
  for (int i = 0; i < 30; ++i) urls.push_back("http://h" + std::to_string(i));
  Submit(*store, urls, t0);
  auto leased = store->LeasePending(3, t0);  // three jobs change state
  ASSERT_TRUE(leased.ok() && leased->size() == 3);
  Store::JobReader reader = store->NewJobReader();
  for (uint64_t job : std::vector<uint64_t>{1, 2, 2, 3, 9, 10, 30, 31, 5, 1, 20,
                                            0, 4, 29, 1000, 7}) {
    auto read = reader.Get(job);
    auto got = store->GetJob(job);
    ASSERT_EQ(read.ok(), got.ok()) << "job " << job;
    if (!got.ok()) {
      EXPECT_EQ(read.status().code(), got.status().code()) << "job " << job;
      continue;
    }
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read, *got))
        << "job " << job;
  }
}

TEST_F(StoreLifecycleTest, AResubmissionReplacesTheDueRecheck) {
  auto store = OpenStore({.recheck_interval_ms = kHour});
  const int64_t t0 = 100 * kHour;
  Submit(*store, {"http://a/"}, t0);
  ProbeAll(*store, t0);
  Submit(*store, {"http://a/"}, t0 + 1, 0);  // probe now
  auto queued = store->QueueDueRechecks(t0 + kHour);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(*queued, 0u);  // the job is pending already: not queued twice
  EXPECT_EQ(store->pending_count(), 1u);
}

TEST_F(StoreLifecycleTest, LeaseFilterPassesOverRefusedJobsWithinLookAhead) {
  auto store = OpenStore();
  Submit(*store,
         {"http://busy/1", "http://busy/2", "http://busy/3", "http://free/1",
          "http://free/2"},
         1000);
  auto not_busy = [](const pb::JobRecord& job) -> std::optional<std::string> {
    if (job.url().starts_with("http://busy/")) return "busy";
    return std::nullopt;
  };
  // Looking at 1 + 2 entries only: none of the free ones is reached.
  auto leased = store->LeasePending(1, 2000, not_busy, 2);
  ASSERT_TRUE(leased.ok());
  EXPECT_TRUE(leased->empty());
  leased = store->LeasePending(2, 2000, not_busy, 3);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 2u);
  EXPECT_EQ((*leased)[0].url(), "http://free/1");
  EXPECT_EQ((*leased)[1].url(), "http://free/2");
  // The passed-over jobs are still first in line.
  leased = store->LeasePending(10, 2000);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 3u);
  EXPECT_EQ((*leased)[0].url(), "http://busy/1");
  EXPECT_EQ(store->pending_count(), 0u);
}

TEST_F(StoreLifecycleTest, ParkedJobsAreNotLookedAtUntilTheirKeyWakes) {
  auto store = OpenStore();
  Submit(*store,
         {"http://hot/1", "http://hot/2", "http://cold/1", "http://hot/3",
          "http://cold/2"},
         1000);
  bool hot_full = true;
  std::vector<std::string> looked_at;
  auto admit = [&](const pb::JobRecord& job) -> std::optional<std::string> {
    looked_at.push_back(job.url());
    if (hot_full && job.url().starts_with("http://hot/")) return "hot";
    return std::nullopt;
  };
  const auto lease = [&](size_t max) {
    looked_at.clear();
    auto leased = store->LeasePending(max, 2000, admit, 100);
    EXPECT_TRUE(leased.ok());
    std::vector<std::string> urls;
    for (const auto& job : *leased) urls.push_back(job.url());
    return urls;
  };
  using Urls = std::vector<std::string>;
  EXPECT_EQ(lease(10), (Urls{"http://cold/1", "http://cold/2"}));
  EXPECT_EQ(looked_at.size(), 5u);
  EXPECT_EQ(store->parked_count(), 3u);
  EXPECT_EQ(store->pending_count(), 3u);
  // Parked: not looked at again while their key sleeps.
  EXPECT_EQ(lease(10), Urls{});
  EXPECT_EQ(looked_at, Urls{});
  // Woken while still full: one look, and the key sleeps again.
  store->WakeParked({"hot"});
  EXPECT_EQ(lease(10), Urls{});
  EXPECT_EQ(looked_at, (Urls{"http://hot/1"}));
  hot_full = false;
  store->WakeParked({"other"});
  EXPECT_EQ(lease(10), Urls{});
  store->WakeParked({"hot"});
  EXPECT_EQ(lease(1), (Urls{"http://hot/1"}));
  // A job re-queued below the scan goes out in id order with the parked.
  auto first = store->FindJobId("http://hot/1", pb::RequestContext());
  ASSERT_TRUE(first.ok() && first->has_value());
  ASSERT_TRUE(store->Requeue(**first, "lost", 5, true, 3000).ok());
  EXPECT_EQ(lease(10), (Urls{"http://hot/1", "http://hot/2", "http://hot/3"}));
  EXPECT_EQ(store->parked_count(), 0u);
  EXPECT_EQ(store->pending_count(), 0u);
}

TEST_F(StoreLifecycleTest, ParkedJobsAreQueuedAgainAfterARestart) {
  auto store = OpenStore();
  Submit(*store, {"http://hot/1", "http://hot/2"}, 1000);
  auto refuse_all = [](const pb::JobRecord&) -> std::optional<std::string> {
    return "hot";
  };
  auto leased = store->LeasePending(10, 2000, refuse_all);
  ASSERT_TRUE(leased.ok());
  EXPECT_TRUE(leased->empty());
  EXPECT_EQ(store->parked_count(), 2u);
  store.reset();
  store = OpenStore();
  EXPECT_EQ(store->parked_count(), 0u);
  leased = store->LeasePending(10, 2000);
  ASSERT_TRUE(leased.ok());
  EXPECT_EQ(leased->size(), 2u);
}

TEST_F(StoreLifecycleTest, PurgeRemovesOldRunsUnreferencedJobsAndOldChecks) {
  auto store = OpenStore({.default_max_result_age_ms = 0});
  const int64_t old_time = 10 * kHour, new_time = 100 * kHour;
  Submit(*store, {"http://only-old/", "http://both/"}, old_time);
  ProbeAll(*store, old_time);
  const auto kept = Submit(*store, {"http://both/", "http://new/"}, new_time);
  ProbeAll(*store, new_time);
  auto both = store->FindJobId("http://both/", pb::RequestContext());
  ASSERT_TRUE(both.ok() && both->has_value());
  auto only_old = store->FindJobId("http://only-old/", pb::RequestContext());
  ASSERT_TRUE(only_old.ok() && only_old->has_value());
  EXPECT_EQ(CheckTimes(*store, **both).size(), 2u);

  auto dry = store->Purge(50 * kHour, /*dry_run=*/true, "tester", new_time);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->runs, 1u);
  EXPECT_EQ(dry->lines, 2u);
  EXPECT_EQ(dry->jobs, 1u);
  EXPECT_EQ(dry->results, 2u);         // only-old's check, both's older check
  EXPECT_TRUE(store->GetRun(1).ok());  // nothing removed

  auto purged = store->Purge(50 * kHour, /*dry_run=*/false, "tester", new_time);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged->runs, dry->runs);
  EXPECT_EQ(purged->results, dry->results);
  EXPECT_EQ(store->GetRun(1).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->GetRun(kept.run_id()).ok());
  EXPECT_EQ(store->GetJob(**only_old).status().code(), StatusCode::kNotFound);
  auto gone = store->FindJobId("http://only-old/", pb::RequestContext());
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(CheckTimes(*store, **both), (std::vector<int64_t>{new_time}));
  auto latest = store->LatestResult(**both);
  ASSERT_TRUE(latest.ok() && latest->has_value());

  std::vector<pb::AuditRecord> audit;
  ASSERT_TRUE(store
                  ->ForEachAudit(1,
                                 [&](const pb::AuditRecord& r) {
                                   audit.push_back(r);
                                   return Status::Ok();
                                 })
                  .ok());
  ASSERT_EQ(audit.size(), 1u);  // the dry run is not recorded
  EXPECT_EQ(audit[0].action(), "purge");
  EXPECT_EQ(audit[0].actor(), "tester");
  EXPECT_NE(audit[0].detail().find("1 runs, 2 lines, 2 results, 1 jobs"),
            std::string::npos)
      << audit[0].detail();

  // A later submission of the purged URL makes a new job.
  Submit(*store, {"http://only-old/"}, new_time + 1);
  EXPECT_EQ(store->pending_count(), 1u);
}

TEST_F(StoreLifecycleTest, BackupWhileInUseThenRestoreShowsTheBackedUpState) {
  auto store = OpenStore();
  Submit(*store, {"http://a/"}, 1000);
  ProbeAll(*store, 2000);
  const auto backup = base_ / "backup";
  ASSERT_TRUE(store->Checkpoint(backup.string(), "tester", 3000).ok());
  // The destination must be new.
  EXPECT_EQ(store->Checkpoint(backup.string(), "tester", 3000).code(),
            StatusCode::kFailedPrecondition);
  Submit(*store, {"http://b/"}, 4000);  // after the backup
  store.reset();

  const auto restored_dir = base_ / "restored";
  auto restored =
      Store::Restore(backup.string(), restored_dir.string(), StorePolicy());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  auto latest = (*restored)->LatestRun();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->run_id(), 1u);
  auto b = (*restored)->FindJobId("http://b/", pb::RequestContext());
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());
  auto a = (*restored)->FindJobId("http://a/", pb::RequestContext());
  ASSERT_TRUE(a.ok() && a->has_value());
  auto result = (*restored)->LatestResult(**a);
  ASSERT_TRUE(result.ok() && result->has_value());
  std::vector<std::string> actions;
  ASSERT_TRUE((*restored)
                  ->ForEachAudit(1,
                                 [&](const pb::AuditRecord& r) {
                                   actions.push_back(r.action());
                                   return Status::Ok();
                                 })
                  .ok());
  EXPECT_EQ(actions, std::vector<std::string>{"backup"});
  restored->reset();

  // A non-empty target is refused and left as it was.
  auto refused = Store::Restore(backup.string(), dir_.string(), StorePolicy());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("not empty"), std::string::npos);
  auto original = OpenStore();
  auto b_still = original->FindJobId("http://b/", pb::RequestContext());
  ASSERT_TRUE(b_still.ok());
  EXPECT_TRUE(b_still->has_value());
  // A folder that is no backup is refused clearly.
  auto not_backup = Store::Restore((base_ / "nothing").string(),
                                   (base_ / "x").string(), StorePolicy());
  EXPECT_NE(not_backup.status().message().find("not a hostlocator backup"),
            std::string::npos);
}

// Each family holds what its name says, so folders written before a family
// was added (the audit log, the re-check index) keep their lines and runs.
TEST_F(StoreLifecycleTest, EachColumnFamilyHoldsWhatItsNameSays) {
  {
    auto store = OpenStore({.recheck_interval_ms = kHour});
    Submit(*store, {"http://a/", "http://b/"}, 1000);
    ProbeAll(*store, 2000);
    ASSERT_TRUE(store->AppendAudit("tester", "export", "", 3000).ok());
  }
  std::map<std::string, int> entries = testing::FamilyEntries(dir_.string());
  EXPECT_EQ(entries["lines"], 2);
  EXPECT_EQ(entries["audit"], 1);
  EXPECT_EQ(entries["runs"], 1);
  EXPECT_EQ(entries["jobs"], 2);
  EXPECT_EQ(entries["results"], 2);
  EXPECT_EQ(entries["due"], 2);
  EXPECT_EQ(entries["queue"], 0);
}

}  // namespace
}  // namespace hl::coordinator

namespace hl::coordinator {
namespace {

// The coordinator applies retention_days by itself: at once, then once a
// period; each purge audited as "coordinator".
TEST_F(StoreLifecycleTest, RetentionSchedulePurgesWhenDue) {
  auto store = OpenStore({.default_max_result_age_ms = 0});
  const pb::RunRecord first = Submit(*store, {"http://a/", "http://b/"}, 0);
  ProbeAll(*store, 0);
  const pb::RunRecord second = Submit(*store, {"http://c/"}, 30 * kHour);
  ProbeAll(*store, 30 * kHour);

  int64_t now = 60 * kHour;
  RetentionSchedule schedule(
      store.get(), /*retention_days=*/2, [&] { return now; },
      /*period_ms=*/kHour);
  auto purged = schedule.RunIfDue();  // cutoff 12 h: the first run only
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  ASSERT_TRUE(purged->has_value());
  EXPECT_EQ((*purged)->runs, 1u);
  EXPECT_EQ((*purged)->jobs, 2u);
  EXPECT_EQ(store->GetRun(first.run_id()).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(store->GetRun(second.run_id()).ok());
  EXPECT_EQ(schedule.next_due_ms(), 61 * kHour);

  now = 61 * kHour - 1;  // not yet due
  purged = schedule.RunIfDue();
  ASSERT_TRUE(purged.ok());
  EXPECT_FALSE(purged->has_value());

  now = 79 * kHour;  // cutoff 31 h: the second run has aged
  purged = schedule.RunIfDue();
  ASSERT_TRUE(purged.ok() && purged->has_value());
  EXPECT_EQ((*purged)->runs, 1u);
  EXPECT_EQ(store->GetRun(second.run_id()).status().code(),
            StatusCode::kNotFound);

  std::vector<std::string> audit;
  ASSERT_TRUE(store
                  ->ForEachAudit(1,
                                 [&](const pb::AuditRecord& r) {
                                   audit.push_back(r.actor() + " " +
                                                   r.action());
                                   return Status::Ok();
                                 })
                  .ok());
  EXPECT_EQ(audit, (std::vector<std::string>{"coordinator purge",
                                             "coordinator purge"}));
}

TEST_F(StoreLifecycleTest, RetentionScheduleOffNeverPurges) {
  auto store = OpenStore();
  Submit(*store, {"http://a/"}, 0);
  int64_t now = 1000 * 24 * kHour;
  RetentionSchedule schedule(store.get(), /*retention_days=*/0,
                             [&] { return now; });
  EXPECT_FALSE(schedule.enabled());
  auto purged = schedule.RunIfDue();
  ASSERT_TRUE(purged.ok());
  EXPECT_FALSE(purged->has_value());
  EXPECT_TRUE(store->GetRun(1).ok());
}

}  // namespace
}  // namespace hl::coordinator
