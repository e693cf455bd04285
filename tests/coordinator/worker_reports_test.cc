// The figures worker processes report in their heartbeats: kept per
// process, ordered by sequence, forgotten after the grace period, shown in
// /metrics with the worker's name as the only label.
#include "coordinator/worker_reports.h"

#include <gtest/gtest.h>

#include "coordinator/metrics.h"

namespace hl::coordinator {
namespace {

pb::WorkerStats Stats(const std::string& name, uint64_t incarnation,
                      uint64_t sequence, uint64_t completed) {
  pb::WorkerStats stats;
  stats.set_version(kWorkerStatsVersion);
  stats.set_process_name(name);
  stats.set_incarnation(incarnation);
  stats.set_sequence(sequence);
  stats.set_completed(completed);
  return stats;
}

std::vector<std::pair<std::string, uint64_t>> Completed(
    const WorkerReports& reports) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const ReportedWorker& worker : reports.Current()) {
    out.emplace_back(worker.name, worker.completed);
  }
  return out;
}

TEST(WorkerReportsTest, KeepsTheLatestReportOfEachProcess) {
  WorkerReports reports(/*grace_ms=*/10'000);
  EXPECT_TRUE(reports.Update(Stats("w1", 7, 1, 10), 1000));
  EXPECT_TRUE(reports.Update(Stats("w2", 9, 1, 5), 1000));
  EXPECT_TRUE(reports.Update(Stats("w1", 7, 3, 30), 1100));
  // Another thread's heartbeat, built before the last one, arrives late.
  EXPECT_FALSE(reports.Update(Stats("w1", 7, 2, 20), 1200));
  EXPECT_FALSE(reports.Update(Stats("w1", 7, 3, 30), 1200));
  using Figures = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(Completed(reports), (Figures{{"w1", 30}, {"w2", 5}}));
  // A restarted process (new incarnation) starts again from sequence 1.
  EXPECT_TRUE(reports.Update(Stats("w1", 8, 1, 2), 1300));
  EXPECT_EQ(Completed(reports), (Figures{{"w1", 2}, {"w2", 5}}));
}

TEST(WorkerReportsTest, RefusesUnknownVersionsAndNamelessReports) {
  WorkerReports reports(/*grace_ms=*/10'000);
  pb::WorkerStats newer = Stats("w1", 1, 1, 1);
  newer.set_version(kWorkerStatsVersion + 1);
  EXPECT_FALSE(reports.Update(newer, 0));
  EXPECT_FALSE(reports.Update(Stats("", 1, 1, 1), 0));
  pb::WorkerStats odd = Stats("w1", 1, 1, 1);
  pb::StageLatency* stage = odd.add_stages();
  stage->set_stage("dns");
  stage->add_below(1);  // not the version's ten buckets
  EXPECT_TRUE(reports.Update(odd, 0));
  EXPECT_TRUE(reports.Current().at(0).stages.empty());
}

TEST(WorkerReportsTest, ForgetsProcessesSilentPastTheGracePeriod) {
  WorkerReports reports(/*grace_ms=*/5000);
  ASSERT_TRUE(reports.Update(Stats("w1", 1, 1, 1), 1000));
  ASSERT_TRUE(reports.Update(Stats("w2", 2, 1, 1), 3000));
  reports.Expire(6000);  // w1 silent for exactly the grace period: kept
  EXPECT_EQ(reports.Current().size(), 2u);
  reports.Expire(6001);
  ASSERT_EQ(reports.Current().size(), 1u);
  EXPECT_EQ(reports.Current()[0].name, "w2");
  reports.Expire(8001);
  EXPECT_TRUE(reports.Current().empty());
}

TEST(WorkerReportsTest, BoundsErrorClasses) {
  WorkerReports reports(/*grace_ms=*/5000);
  pb::WorkerStats stats = Stats("w1", 1, 1, 100);
  for (size_t i = 0; i < WorkerReports::kMaxErrorClasses + 10; ++i) {
    (*stats.mutable_errors_by_class())["class_" + std::to_string(i)] = 1;
  }
  (*stats.mutable_errors_by_class())["Bad Class\""] = 5;
  ASSERT_TRUE(reports.Update(stats, 0));
  const std::vector<ReportedWorker> current = reports.Current();
  ASSERT_EQ(current.size(), 1u);
  const auto& classes = current[0].errors_by_class;
  EXPECT_LE(classes.size(), WorkerReports::kMaxErrorClasses + 1);
  uint64_t total = 0;
  for (const auto& [name, n] : classes) total += n;
  EXPECT_EQ(total, WorkerReports::kMaxErrorClasses + 10 + 5);
  EXPECT_GE(classes.at("other"), 5u);
}

TEST(WorkerReportsTest, MetricsShowEachProcessWithLiveness) {
  WorkerReports reports(/*grace_ms=*/60'000);
  pb::WorkerStats w1 = Stats("w1", 1, 1, 12);
  w1.set_probes_in_flight(3);
  w1.set_dns_in_flight(2);
  w1.set_http_in_flight(1);
  w1.set_resident_bytes(50 << 20);
  w1.set_threads(4);
  w1.set_politeness_waits(2);
  w1.set_politeness_wait_us(1'500'000);
  (*w1.mutable_errors_by_class())["nxdomain"] = 2;
  LatencyHistogram probe;
  probe.Record(40);
  probe.Record(700);
  probe.ToProto("probe", w1.add_stages());
  ASSERT_TRUE(reports.Update(w1, 10'000));
  ASSERT_TRUE(reports.Update(Stats("w2", 2, 1, 7), 4'000));
  MetricsInput input;
  input.broker.reported = reports.Current();
  input.broker.live_window_ms = 5000;
  input.now_ms = 11'000;
  const std::string text = FormatMetrics(input);
  for (const char* want : {
           "hostlocator_worker_up{worker=\"w1\"} 1\n",
           "hostlocator_worker_up{worker=\"w2\"} 0\n",
           "hostlocator_worker_report_age_seconds{worker=\"w2\"} 7\n",
           "hostlocator_worker_completed_total{worker=\"w1\"} 12\n",
           "hostlocator_worker_completed_total{worker=\"w2\"} 7\n",
           "hostlocator_worker_probes_in_flight{worker=\"w1\"} 3\n",
           "hostlocator_worker_dns_in_flight{worker=\"w1\"} 2\n",
           "hostlocator_worker_http_in_flight{worker=\"w1\"} 1\n",
           "hostlocator_worker_errors_total{worker=\"w1\",class=\"nxdomain\"} "
           "2\n",
           "hostlocator_worker_politeness_waits_total{worker=\"w1\"} 2\n",
           "hostlocator_worker_politeness_wait_seconds_total{worker=\"w1\"} "
           "1.5\n",
           "hostlocator_worker_stage_duration_seconds_bucket{worker=\"w1\","
           "stage=\"probe\",le=\"0.05\"} 1\n",
           "hostlocator_worker_stage_duration_seconds_bucket{worker=\"w1\","
           "stage=\"probe\",le=\"+Inf\"} 2\n",
           "hostlocator_worker_stage_duration_seconds_count{worker=\"w1\","
           "stage=\"probe\"} 2\n",
           "hostlocator_worker_resident_bytes{worker=\"w1\"} 52428800\n",
           "hostlocator_worker_threads{worker=\"w1\"} 4\n",
       }) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

}  // namespace
}  // namespace hl::coordinator
