// The figures a worker process reports: its threads' slots summed.
#include "worker/worker_stats.h"

#include <gtest/gtest.h>

namespace hl::worker {
namespace {

pb::Observation Observation(const std::string& error_class, uint32_t dns_us,
                            uint32_t http_ms, uint32_t wait_us) {
  pb::Observation obs;
  obs.mutable_error()->set_error_class(error_class);
  pb::DnsQuery* a = obs.mutable_dns()->add_queries();
  a->set_type("A");
  a->set_elapsed_us(dns_us);
  pb::DnsQuery* ns = obs.mutable_dns()->add_queries();
  ns->set_type("NS");
  ns->set_elapsed_us(900'000);  // not a stage of the address lookup
  if (http_ms > 0) {
    obs.mutable_http()->set_method("HEAD");
    obs.mutable_http()->set_elapsed_ms(http_ms);
    obs.mutable_http()->set_politeness_wait_us(wait_us);
  }
  return obs;
}

const pb::StageLatency& Stage(const pb::WorkerStats& stats,
                              const std::string& name) {
  for (const pb::StageLatency& stage : stats.stages()) {
    if (stage.stage() == name) return stage;
  }
  ADD_FAILURE() << "no stage " << name;
  return stats.stages(0);
}

TEST(WorkerStatsBoardTest, ReportsTheSumOfItsThreads) {
  WorkerStatsBoard board("w1", 2);
  board.SetLoad(0, {.probes = 5, .dns = 3, .http = 2});
  board.SetLoad(1, {.probes = 1, .dns = 0, .http = 1});
  board.RecordResult(0, Observation("", 4'000, 30, 0), 60);
  board.RecordResult(1, Observation("nxdomain", 20'000, 0, 0), 25);
  pb::Observation redirected = Observation("", 1'000, 200, 250'000);
  pb::Hop* hop = redirected.add_redirects();
  hop->mutable_http()->set_politeness_wait_us(50'000);
  board.RecordResult(1, redirected, 400);

  const pb::WorkerStats first = board.Report();
  EXPECT_EQ(first.version(), kWorkerStatsVersion);
  EXPECT_EQ(first.process_name(), "w1");
  EXPECT_EQ(first.probes_in_flight(), 6u);
  EXPECT_EQ(first.dns_in_flight(), 3u);
  EXPECT_EQ(first.http_in_flight(), 3u);
  EXPECT_EQ(first.completed(), 3u);
  EXPECT_EQ(first.errors_by_class().size(), 1u);
  EXPECT_EQ(first.errors_by_class().at("nxdomain"), 1u);
  EXPECT_EQ(first.politeness_waits(), 2u);
  EXPECT_EQ(first.politeness_wait_us(), 300'000u);
  const pb::StageLatency& dns = Stage(first, "dns");
  EXPECT_EQ(dns.count(), 3u);
  EXPECT_EQ(dns.sum_ms(), 4u + 20u + 1u);
  EXPECT_EQ(dns.below_size(), 10);
  EXPECT_EQ(dns.below(0), 2u);  // <= 10 ms: 4 and 1
  const pb::StageLatency& http = Stage(first, "http");
  EXPECT_EQ(http.count(), 2u);  // the nxdomain probe sent no HEAD
  EXPECT_EQ(http.sum_ms(), 230u);
  EXPECT_EQ(Stage(first, "probe").sum_ms(), 485u);
  EXPECT_GT(first.resident_bytes(), 0u);
  EXPECT_GE(first.threads(), 1u);

  const pb::WorkerStats second = board.Report();
  EXPECT_EQ(second.incarnation(), first.incarnation());
  EXPECT_GT(second.sequence(), first.sequence());
  EXPECT_NE(WorkerStatsBoard("w1", 1).Report().incarnation(),
            first.incarnation());
}

}  // namespace
}  // namespace hl::worker
