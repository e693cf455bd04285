#include "coordinator/report_follower.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/queries.h"
#include "coordinator/reports.h"

namespace hl::coordinator {
namespace {

namespace fs = std::filesystem;

pb::Observation Located(const std::string& url, const std::string& country,
                        const std::string& ip) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(status: "located" http { status: 200 }
         checked_at_unix_ms: 1795917692123
         data_sources { role: "country" attribution: "IP data by X" })",
      &obs));
  obs.set_url(url);
  obs.set_host(url.substr(7, url.size() - 8));
  obs.set_pinned_ip(ip);
  obs.mutable_verdict()->add_hosting_countries(country);
  pb::AddressInfo* a = obs.add_addresses();
  a->set_ip(ip);
  a->set_country(country);
  a->set_asn(64500);
  a->set_as_org("Hoster " + country);
  a->set_network(ip + "/32");
  return obs;
}

// One line as the follower handed it over.
struct Handed {
  uint64_t line = 0;
  std::string status;  // LineStatus
  std::string rdap_state;
};

class ReportFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hl-follower-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Open(StorePolicy policy = {}) {
    auto store = Store::Open((dir_ / "data").string(), policy);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }

  // Ingests `inputs` as one run: "!reason" is a rejected line, anything
  // else a URL. Returns the run id.
  uint64_t Ingest(const std::vector<std::string>& inputs) {
    auto run = store_->BeginRun(pb::RunRecord(), now_ms_);
    EXPECT_TRUE(run.ok());
    auto ingest = store_->StartIngest(run->run_id(), now_ms_);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string& in = inputs[i];
      const Status added =
          in[0] == '!' ? ingest->AddRejected(i + 1, in, in.substr(1), "")
                       : ingest->AddUrl(i + 1, in, in, pb::RequestContext());
      EXPECT_TRUE(added.ok()) << added.message();
    }
    EXPECT_TRUE(ingest->Commit().ok());
    return run->run_id();
  }

  // Leases every pending job; returns them by URL.
  std::map<std::string, pb::JobRecord> LeaseAll() {
    auto leased = store_->LeasePending(1000, ++now_ms_);
    EXPECT_TRUE(leased.ok());
    std::map<std::string, pb::JobRecord> by_url;
    for (const pb::JobRecord& job : *leased) by_url[job.url()] = job;
    return by_url;
  }

  void Complete(const pb::JobRecord& job, const std::string& country) {
    const pb::Observation obs = Located(
        job.url(), country, "203.0.113." + std::to_string(job.job_id()));
    auto stored =
        store_->StoreResult(job.job_id(), job.attempts(), obs, ++now_ms_);
    ASSERT_TRUE(stored.ok()) << stored.status().message();
  }

  // A follower of `run_id` whose lines land in handed_.
  std::unique_ptr<ReportFollower> Follower(
      uint64_t run_id, ReportFollower::Options options = {}) {
    return std::make_unique<ReportFollower>(
        *store_, run_id, &settings_, options,
        [this](const pb::LineRecord& line, const pb::Observation* obs,
               const HistorySummary*) {
          handed_.push_back({line.line(), LineStatus(line, obs),
                             obs ? obs->rdap().state() : ""});
          return Status::Ok();
        });
  }

  std::vector<uint64_t> HandedLines() const {
    std::vector<uint64_t> lines;
    for (const Handed& h : handed_) lines.push_back(h.line);
    return lines;
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  HistorySettings settings_;
  int64_t now_ms_ = 1'800'000'000'000;
  std::vector<Handed> handed_;
};

using Lines = std::vector<uint64_t>;

TEST_F(ReportFollowerTest, WaitsForTheFirstLineWhoseJobIsNotDone) {
  Open();
  const uint64_t run =
      Ingest({"http://a.test/", "!missing scheme", "http://b.test/",
              "http://a.test/", "http://c.test/"});
  auto jobs = LeaseAll();
  ASSERT_EQ(jobs.size(), 3u);
  auto follower = Follower(run);
  // Nothing is done: line 1's job blocks every line after it.
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), Lines{});
  // b and c are done, a (a slow host early in the list) is not.
  Complete(jobs["http://b.test/"], "DE");
  Complete(jobs["http://c.test/"], "FR");
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), Lines{});
  EXPECT_EQ(follower->next_line(), 1u);
  Complete(jobs["http://a.test/"], "JP");
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), (Lines{1, 2, 3, 4, 5}));
  EXPECT_EQ(handed_[1].status, "rejected");
  EXPECT_EQ(handed_[3].status, "located");  // the duplicate shares a's job
  // Nothing is handed over twice.
  ASSERT_TRUE(follower->Finish().ok());
  EXPECT_EQ(handed_.size(), 5u);
}

TEST_F(ReportFollowerTest, HandsOverInLineOrderAsJobsFinish) {
  Open();
  const uint64_t run = Ingest({"!bad", "http://a.test/", "http://b.test/",
                               "!bad", "http://c.test/", "http://d.test/"});
  auto jobs = LeaseAll();
  auto follower = Follower(run);
  // The rejected first line goes at once.
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), Lines{1});
  Complete(jobs["http://d.test/"], "DE");
  Complete(jobs["http://a.test/"], "DE");
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), (Lines{1, 2}));
  Complete(jobs["http://b.test/"], "FR");
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), (Lines{1, 2, 3, 4}));
  Complete(jobs["http://c.test/"], "FR");
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), (Lines{1, 2, 3, 4, 5, 6}));
}

TEST_F(ReportFollowerTest, APassIsBoundedAndSaysWhenToGoOn) {
  Open();
  std::vector<std::string> inputs(2500, "!missing scheme");
  inputs.push_back("http://a.test/");
  const uint64_t run = Ingest(inputs);
  auto follower = Follower(run);
  auto more = follower->Advance();
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(*more);
  EXPECT_GT(handed_.size(), 0u);
  EXPECT_LT(handed_.size(), 2500u);
  int passes = 1;
  while (*more && passes < 100) {
    more = follower->Advance();
    ASSERT_TRUE(more.ok());
    ++passes;
  }
  EXPECT_FALSE(*more);
  // Every rejected line, in order; the URL's job is not done.
  ASSERT_EQ(handed_.size(), 2500u);
  for (size_t i = 0; i < handed_.size(); ++i) {
    ASSERT_EQ(handed_[i].line, i + 1);
  }
  EXPECT_FALSE(*follower->Advance());
}

TEST_F(ReportFollowerTest, KnownJobsGoAtOnceJobsQueuedAgainWait) {
  Open();
  Ingest({"http://a.test/", "http://b.test/"});
  auto first = LeaseAll();
  Complete(first["http://a.test/"], "DE");
  Complete(first["http://b.test/"], "DE");
  // A second run: a is known and reused, c is new, b is queued again for
  // a new check (its result is older than this part of the batch accepts;
  // a probe interrupted and put back by RecoverLeases is alike: PENDING).
  auto run = store_->BeginRun(pb::RunRecord(), now_ms_);
  ASSERT_TRUE(run.ok());
  auto ingest = store_->StartIngest(run->run_id(), ++now_ms_,
                                    /*max_result_age_ms=*/int64_t{1} << 40);
  ASSERT_TRUE(ingest->AddUrl(1, "a", "http://a.test/", {}).ok());
  ASSERT_TRUE(ingest->AddUrl(2, "c", "http://c.test/", {}).ok());
  ASSERT_TRUE(ingest->Commit().ok());
  ingest.reset();
  auto again =
      store_->StartIngest(run->run_id(), ++now_ms_, /*max_result_age_ms=*/0);
  ASSERT_TRUE(again->AddUrl(3, "b", "http://b.test/", {}).ok());
  ASSERT_TRUE(again->Commit().ok());
  again.reset();
  auto follower = Follower(run->run_id());
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), Lines{1});
  auto second = LeaseAll();
  Complete(second["http://c.test/"], "FR");
  ASSERT_TRUE(follower->Advance().ok());
  // b has a result (its first check) but a new one is under way.
  EXPECT_EQ(HandedLines(), (Lines{1, 2}));
  Complete(second["http://b.test/"], "JP");
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), (Lines{1, 2, 3}));
}

TEST_F(ReportFollowerTest, DeadJobsAndDueRechecks) {
  Open({.recheck_interval_ms = 3'600'000});
  const uint64_t run = Ingest({"http://dead.test/", "http://ok.test/"});
  auto jobs = LeaseAll();
  ASSERT_TRUE(store_
                  ->Requeue(jobs["http://dead.test/"].job_id(), "timeout",
                            /*max_attempts=*/1, true, ++now_ms_)
                  .ok());
  Complete(jobs["http://ok.test/"], "DE");
  auto follower = Follower(run);
  ASSERT_TRUE(follower->Advance().ok());
  // The dead job's line goes (it gave up); the located one has a periodic
  // re-check due, which could replace its result during the run: it waits
  // for the end.
  EXPECT_EQ(HandedLines(), Lines{1});
  EXPECT_EQ(handed_[0].status, "error");
  ASSERT_TRUE(follower->Finish().ok());
  EXPECT_EQ(HandedLines(), (Lines{1, 2}));
  EXPECT_EQ(handed_[1].status, "located");
}

TEST_F(ReportFollowerTest, WaitsForEnrichmentWhenAsked) {
  Open({.enrich_results = true});
  const uint64_t run = Ingest({"http://a.test/", "http://b.test/"});
  auto jobs = LeaseAll();
  Complete(jobs["http://a.test/"], "DE");
  Complete(jobs["http://b.test/"], "DE");
  {
    // Enrichment off: the results go as they are.
    auto unawaited = Follower(run, {.await_enrichment = false});
    ASSERT_TRUE(unawaited->Advance().ok());
    EXPECT_EQ(HandedLines(), (Lines{1, 2}));
    handed_.clear();
  }
  auto follower = Follower(run, {.await_enrichment = true});
  ASSERT_TRUE(follower->Advance().ok());
  EXPECT_EQ(HandedLines(), Lines{});
  pb::Observation enrichment;
  enrichment.mutable_rdap()->set_state("complete");
  ASSERT_TRUE(store_
                  ->CompleteEnrichment(
                      {{jobs["http://a.test/"].job_id(), 0, enrichment}})
                  .ok());
  ASSERT_TRUE(follower->Advance().ok());
  ASSERT_EQ(HandedLines(), Lines{1});
  EXPECT_EQ(handed_[0].rdap_state, "complete");
  // The end: what still waits goes as it stands.
  ASSERT_TRUE(follower->Finish().ok());
  ASSERT_EQ(HandedLines(), (Lines{1, 2}));
  EXPECT_EQ(handed_[1].rdap_state, "pending");
}

TEST_F(ReportFollowerTest, ThreadHandsOverWhatIsFinalThenFinishTheRest) {
  Open();
  const uint64_t run = Ingest({"http://a.test/", "http://b.test/"});
  auto jobs = LeaseAll();
  Complete(jobs["http://a.test/"], "DE");
  auto follower = Follower(run, {.interval_ms = 5});
  follower->Start();
  // Stopped (interrupted): whatever it handed over is a prefix, no more.
  follower->Stop();
  EXPECT_LE(handed_.size(), 1u);
  // Finish hands over the rest, b without a result yet.
  ASSERT_TRUE(follower->Finish().ok());
  ASSERT_EQ(HandedLines(), (Lines{1, 2}));
  EXPECT_EQ(handed_[0].status, "located");
  EXPECT_EQ(handed_[1].status, "error");
}

TEST_F(ReportFollowerTest, ConsumerErrorsEndTheThreadAndFinishReturnsThem) {
  Open();
  const uint64_t run = Ingest({"!bad"});
  ReportFollower follower(
      *store_, run, &settings_, ReportFollower::Options{.interval_ms = 5},
      [](const pb::LineRecord&, const pb::Observation*, const HistorySummary*) {
        return Internal("disk full");
      });
  follower.Start();
  const Status finished = follower.Finish();
  EXPECT_EQ(finished.code(), StatusCode::kInternal);
  EXPECT_EQ(finished.message(), "disk full");
}

std::map<std::string, std::string> FilesUnder(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    files[fs::relative(entry.path(), root).string()] = text.str();
  }
  return files;
}

// The reports written by the follower while the jobs finish equal, file by
// file and byte by byte, those written from the same store after every job
// finished (what `run` did before the follower).
TEST_F(ReportFollowerTest, StreamedReportsEqualThoseWrittenAfterTheRun) {
  Open({.enrich_results = true});
  std::vector<std::string> inputs;
  for (int i = 0; i < 60; ++i) {
    if (i % 7 == 3) {
      inputs.push_back("!unsupported scheme");
    } else {
      // Duplicates: every fifth URL repeats an earlier one.
      inputs.push_back("http://h" + std::to_string(i % 5 == 4 ? i - 4 : i) +
                       ".test/");
    }
  }
  const uint64_t run_id = Ingest(inputs);
  auto run = store_->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  const auto options = [&] {
    PackageOptions o;
    o.generated_at_ms = 1'800'000'000'000;
    o.tool_version = "test";
    o.runs = {*run};
    o.sink_factory = MakeFilePackageSink;
    return o;
  };
  auto streamed =
      RunReportWriter::Create((dir_ / "streamed").string(), options());
  ASSERT_TRUE(streamed.ok()) << streamed.status().message();
  RunReportWriter* w = streamed->get();
  ReportFollower follower(
      *store_, run_id, &settings_, {.await_enrichment = true},
      [w](const pb::LineRecord& line, const pb::Observation* obs,
          const HistorySummary* history) {
        return w->Add(line, obs, history);
      });
  // Jobs finish out of line order (by URL text: h10 before h2), some die,
  // some are enriched, some stay pending; the follower runs after each change.
  auto jobs = LeaseAll();
  const char* countries[] = {"DE", "FR", "JP", "US"};
  int n = 0;
  for (auto it = jobs.begin(); it != jobs.end(); ++it, ++n) {
    const pb::JobRecord& job = it->second;
    if (n % 9 == 4) {
      ASSERT_TRUE(
          store_->Requeue(job.job_id(), "timeout", 1, true, ++now_ms_).ok());
    } else {
      Complete(job, countries[n % 4]);
      if (n % 3 != 2) {
        pb::Observation enrichment;
        enrichment.mutable_rdap()->set_state("complete");
        ASSERT_TRUE(
            store_->CompleteEnrichment({{job.job_id(), 0, enrichment}}).ok());
      }
    }
    ASSERT_TRUE(follower.Advance().ok());
  }
  EXPECT_GT(follower.next_line(), 1u);  // it did hand some over early
  ASSERT_TRUE(follower.Finish().ok());
  auto streamed_summary = w->Finish();
  ASSERT_TRUE(streamed_summary.ok()) << streamed_summary.status().message();

  auto after = RunReportWriter::Create((dir_ / "after").string(), options());
  ASSERT_TRUE(after.ok());
  OutcomeReader outcomes(*store_, &settings_);
  LineOutcome outcome;
  ASSERT_TRUE(
      store_
          ->ForEachLine(run_id,
                        [&](const pb::LineRecord& line) -> Status {
                          auto read = outcomes.Read(line, &outcome);
                          if (!read.ok()) return read.status();
                          return (*after)->Add(
                              line, outcome.latest ? &*outcome.latest : nullptr,
                              outcome.history ? &*outcome.history : nullptr);
                        })
          .ok());
  ASSERT_TRUE((*after)->Finish().ok());

  const auto want = FilesUnder(dir_ / "after");
  const auto got = FilesUnder(dir_ / "streamed");
  ASSERT_GT(want.size(), 8u);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [path, text] : want) {
    ASSERT_TRUE(got.count(path)) << path;
    EXPECT_TRUE(got.at(path) == text) << path << " differs";
  }
  EXPECT_EQ(streamed_summary->lines, inputs.size());
}

}  // namespace
}  // namespace hl::coordinator
