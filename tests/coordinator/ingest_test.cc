#include "coordinator/ingest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

namespace hl::coordinator {
namespace {

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-ingest-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto store = Store::Open(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result<IngestSummary> Ingest(const std::string& text, const BatchSpec& spec,
                               std::vector<Rejection>* rejections = nullptr) {
    auto reader = InputReader::FromText(text);
    if (!reader.ok()) return reader.status();
    return IngestBatch(*store_, **reader, spec, 1000, [&](const Rejection& r) {
      if (rejections) rejections->push_back(r);
    });
  }

  std::vector<pb::LineRecord> Lines(uint64_t run_id) {
    std::vector<pb::LineRecord> lines;
    EXPECT_TRUE(store_
                    ->ForEachLine(run_id,
                                  [&](const pb::LineRecord& line) {
                                    lines.push_back(line);
                                    return Status::Ok();
                                  })
                    .ok());
    return lines;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

struct LineOutcome {
  uint64_t line;
  std::string rejection;  // "" when the line became a job
};

struct IngestCase {
  std::string name;
  std::string text;
  std::vector<LineOutcome> outcomes;
  uint64_t new_jobs;
};

class IngestCases : public IngestTest,
                    public ::testing::WithParamInterface<IngestCase> {};

TEST_P(IngestCases, EveryLineEndsAsAJobOrARejectionWithItsNumber) {
  const IngestCase& c = GetParam();
  std::vector<Rejection> rejections;
  auto summary = Ingest(c.text, BatchSpec{}, &rejections);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_TRUE(summary->run.ingest_complete());
  EXPECT_EQ(summary->run.lines(), c.outcomes.size());
  EXPECT_EQ(summary->new_jobs, c.new_jobs);
  const auto lines = Lines(summary->run.run_id());
  ASSERT_EQ(lines.size(), c.outcomes.size());
  size_t rejected = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].line(), c.outcomes[i].line) << i;
    EXPECT_EQ(lines[i].rejection(), c.outcomes[i].rejection) << i;
    EXPECT_EQ(lines[i].job_id() == 0, !c.outcomes[i].rejection.empty()) << i;
    if (!c.outcomes[i].rejection.empty()) {
      ASSERT_LT(rejected, rejections.size());
      EXPECT_EQ(rejections[rejected].line, c.outcomes[i].line);
      EXPECT_EQ(rejections[rejected].reason, c.outcomes[i].rejection);
      ++rejected;
    }
  }
  EXPECT_EQ(rejected, rejections.size());
  EXPECT_EQ(summary->run.rejected(), rejections.size());
}

const std::string kLongLine = "http://x.test/" + std::string(20000, 'a');

INSTANTIATE_TEST_SUITE_P(
    Lists, IngestCases,
    ::testing::Values(
        IngestCase{"empty", "", {}, 0},
        IngestCase{"plain",
                   "http://a.test/\n# comment\n\nhttps://b.test/x\n",
                   {{1, ""}, {4, ""}},
                   2},
        IngestCase{"duplicates_share_a_job",
                   "http://a.test/\nHTTP://A.TEST:80/\nhttp://a.test/\n",
                   {{1, ""}, {2, ""}, {3, ""}},
                   1},
        IngestCase{"bad_lines",
                   "ftp://a.test/\nnot a url\nhttp://a.test:99999/\n" +
                       kLongLine + "\nhttp://ok.test/\n",
                   {{1, "unsupported scheme"},
                    {2, "missing scheme"},
                    {3, "invalid port"},
                    {4, "too long"},
                    {5, ""}},
                   1},
        IngestCase{"csv_with_context",
                   "url,referer\nhttp://a.test/,http://r.test/\n"
                   "http://a.test/,\nhttp://a.test/,javascript:x\n",
                   {{2, ""}, {3, ""}, {4, "invalid referer"}},
                   2}),
    [](const auto& info) { return info.param.name; });

TEST_F(IngestTest, TheRunRecordsWhoSubmittedItAndWhy) {
  BatchSpec spec;
  spec.source = "upload.csv";
  spec.submitter = "analyst-7";
  spec.case_reference = "CASE-2026-0042";
  spec.max_result_age_ms = 0;
  auto summary = Ingest("http://a.test/\n", spec);
  ASSERT_TRUE(summary.ok());
  auto run = store_->GetRun(summary->run.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->source(), "upload.csv");
  EXPECT_EQ(run->submitter(), "analyst-7");
  EXPECT_EQ(run->case_reference(), "CASE-2026-0042");
  ASSERT_TRUE(run->has_max_result_age_ms());
  EXPECT_EQ(run->max_result_age_ms(), 0);
  EXPECT_TRUE(run->ingest_complete());
  EXPECT_EQ(run->started_unix_ms(), 1000);

  auto defaulted = Ingest("http://a.test/\n", BatchSpec{});
  ASSERT_TRUE(defaulted.ok());
  EXPECT_FALSE(defaulted->run.has_max_result_age_ms());
}

TEST_F(IngestTest, ConcurrentSubmissionsOfTheSameUrlsShareTheirJobs) {
  std::string text;
  constexpr int kUrls = 3000;
  for (int i = 0; i < kUrls; ++i) {
    text += "http://host" + std::to_string(i) + ".test/\n";
  }
  std::vector<Result<IngestSummary>> summaries(3, Status::Ok());
  std::vector<std::thread> threads;
  for (auto& summary : summaries) {
    threads.emplace_back([&] { summary = Ingest(text, BatchSpec{}); });
  }
  for (auto& t : threads) t.join();
  uint64_t new_jobs = 0;
  std::set<uint64_t> job_ids;
  for (auto& summary : summaries) {
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    new_jobs += summary->new_jobs;
    for (const auto& line : Lines(summary->run.run_id())) {
      job_ids.insert(line.job_id());
    }
  }
  EXPECT_EQ(new_jobs, kUrls);
  EXPECT_EQ(job_ids.size(), kUrls);
  EXPECT_EQ(store_->pending_count(), kUrls);
}

TEST_F(IngestTest, ValidationStoresNothingAndRejectsAsIngestWould) {
  auto reader = InputReader::FromText("http://a.test/\nftp://b.test/\n");
  ASSERT_TRUE(reader.ok());
  std::vector<Rejection> rejections;
  auto accepted = ValidateBatch(**reader, BatchSpec{}, [&](const Rejection& r) {
    rejections.push_back(r);
  });
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(*accepted, 1u);
  ASSERT_EQ(rejections.size(), 1u);
  EXPECT_EQ(rejections[0].line, 2u);
  EXPECT_EQ(rejections[0].reason, "unsupported scheme");
  EXPECT_EQ(rejections[0].input, "ftp://b.test/");
  EXPECT_EQ(store_->LatestRun().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->pending_count(), 0u);
}

}  // namespace
}  // namespace hl::coordinator
