// The review table: parameters (a table of good and bad ones), filtering,
// sorting and paging over a hand-made table (a table of cases), facts of a
// line, and the time to answer a sorted, filtered page of a 100,000-line
// batch (printed, not asserted).
#include "coordinator/batch_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace hl::coordinator {
namespace {

using Json = nlohmann::json;

TEST(BatchTableTest, ParametersAreCheckedWithAClearMessage) {
  struct Case {
    QueryParams params;
    std::string error;  // "" ok
  };
  const Case cases[] = {
      {{}, ""},
      {{{"offset", "10"},
        {"limit", "1000"},
        {"sort", "checked_at"},
        {"order", "desc"},
        {"country", "de"},
        {"cdn", "no"},
        {"status", "in_flight"},
        {"event", "moved"},
        {"state", "down"},
        {"q", "Example"}},
       ""},
      {{{"limit", "0"}}, "limit is a whole number from 1 to 1000"},
      {{{"limit", "1001"}}, "limit is a whole number from 1 to 1000"},
      {{{"offset", "-1"}}, "offset is a whole number"},
      {{{"offset", "1x"}}, "offset is a whole number"},
      {{{"sort", "size"}}, "sort is one of line, url"},
      {{{"order", "up"}}, "order is asc or desc"},
      {{{"country", "DEU"}}, "country is a two-letter ISO code"},
      {{{"cdn", "true"}}, "cdn is yes or no"},
      {{{"status", "done"}}, "status is one of located, unresolved"},
      {{{"event", "online"}}, "event is one of moved, down, back_up"},
      {{{"state", "gone"}}, "state is one of online, down, unreachable"},
  };
  for (const Case& c : cases) {
    auto q = ParseRowQuery(c.params);
    if (c.error.empty()) {
      EXPECT_TRUE(q.ok()) << q.status().message();
    } else {
      ASSERT_FALSE(q.ok()) << c.error;
      EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(q.status().message().find(c.error), std::string::npos)
          << q.status().message();
    }
  }
  auto q = ParseRowQuery({{"country", "de"}, {"q", "ExAmple"}});
  EXPECT_EQ(q->country, "DE");
  EXPECT_EQ(q->q, "example");
}

RowFacts Facts(std::string url, std::string status, std::string country,
               std::string provider, std::string category,
               std::string error_class, std::string confidence,
               int64_t checked_at, std::vector<std::string> events = {}) {
  RowFacts f;
  f.url = url;
  for (char& c : url) c = static_cast<char>(std::tolower(c));
  f.url_lower = url;
  f.status = std::move(status);
  if (!country.empty()) f.countries = {country};
  f.country = std::move(country);
  f.provider = std::move(provider);
  f.provider_category = std::move(category);
  f.error_class = std::move(error_class);
  f.confidence = std::move(confidence);
  f.checked_at_ms = checked_at;
  f.events = std::move(events);
  f.state = f.status == "located" ? "online" : "";
  return f;
}

// Lines 1..6; lines 2 and 6 share a job.
BatchTable SmallTable() {
  BatchTable t;
  t.facts = {
      Facts("https://b.example/", "located", "DE", "Cloudflare", "cdn", "",
            "high", 300, {"moved"}),
      Facts("https://A.example/x", "located", "NL", "Hetzner", "hosting", "",
            "medium", 100),
      Facts("bad line", "rejected", "", "", "", "rejected", "", 0),
      Facts("https://nx.test/", "error", "", "", "", "nxdomain", "none", 200),
      Facts("https://q.test/", "queued", "", "", "", "", "", 0),
  };
  t.rows = {{1, 1, 0}, {2, 2, 1}, {3, 0, 2}, {4, 3, 3}, {5, 4, 4}, {6, 2, 1}};
  return t;
}

TEST(BatchTableTest, FiltersSortsAndPages) {
  struct Case {
    QueryParams params;
    uint64_t total;
    std::vector<uint64_t> lines;
  };
  const Case cases[] = {
      {{}, 6, {1, 2, 3, 4, 5, 6}},
      {{{"limit", "2"}, {"offset", "2"}}, 6, {3, 4}},
      {{{"offset", "9"}}, 6, {}},
      {{{"order", "desc"}, {"limit", "3"}}, 6, {6, 5, 4}},
      {{{"status", "located"}}, 3, {1, 2, 6}},
      {{{"country", "nl"}}, 2, {2, 6}},
      {{{"cdn", "yes"}}, 1, {1}},
      {{{"cdn", "no"}}, 5, {2, 3, 4, 5, 6}},
      {{{"provider", "Hetzner"}}, 2, {2, 6}},
      {{{"error_class", "nxdomain"}}, 1, {4}},
      {{{"event", "moved"}}, 1, {1}},
      {{{"state", "online"}}, 3, {1, 2, 6}},
      {{{"q", "A.EXAMPLE"}}, 2, {2, 6}},
      {{{"q", "example"}, {"sort", "url"}}, 3, {2, 6, 1}},
      {{{"sort", "url"}, {"order", "desc"}, {"limit", "2"}}, 6, {5, 4}},
      {{{"sort", "checked_at"}}, 6, {3, 5, 2, 6, 4, 1}},
      {{{"sort", "confidence"}, {"order", "desc"}}, 6, {1, 2, 6, 3, 4, 5}},
      {{{"sort", "country"}, {"status", "located"}}, 3, {1, 2, 6}},
      {{{"sort", "status"}, {"limit", "1"}, {"offset", "4"}}, 6, {5}},
      {{{"sort", "status"}, {"order", "desc"}, {"limit", "3"}}, 6, {3, 5, 1}},
      {{{"status", "dead"}}, 0, {}},
  };
  BatchTable table = SmallTable();
  for (const auto& row : table.rows) {
    ++table.facets["status"][table.facts[row.facts].status];
  }
  for (const Case& c : cases) {
    auto q = ParseRowQuery(c.params);
    ASSERT_TRUE(q.ok()) << q.status().message();
    const Json doc = Json::parse(RowsJson(table, *q));
    std::vector<uint64_t> lines;
    for (const auto& r : doc["rows"]) lines.push_back(r["line"]);
    std::string name;
    for (const auto& [k, v] : c.params) name += k + "=" + v + " ";
    EXPECT_EQ(doc["total"], c.total) << name;
    EXPECT_EQ(lines, c.lines) << name;
    EXPECT_EQ(doc["facets"]["status"]["located"], 3) << name;
  }
  const Json doc = Json::parse(RowsJson(table, *ParseRowQuery({})));
  EXPECT_EQ(doc["rows"][0]["cdn"], true);
  EXPECT_EQ(doc["rows"][0]["events"], Json::array({"moved"}));
  EXPECT_EQ(doc["rows"][2]["status"], "rejected");
  EXPECT_EQ(doc["rows"][2]["reason"], "");
  EXPECT_FALSE(doc["rows"][1].contains("reason"));
  EXPECT_EQ(doc["rows"][1]["checked_at"], "1970-01-01T00:00:00.100Z");
}

TEST(BatchTableTest, FactsOfALineFollowItsJobAndResult) {
  pb::LineRecord line;
  line.set_line(3);
  line.set_input("http://X.example");
  line.set_job_id(7);
  pb::JobRecord job;
  job.set_url("http://x.example/");
  job.set_state(pb::JOB_STATE_LEASED);
  EXPECT_EQ(FactsOf(line, &job, nullptr, nullptr).status, "in_flight");
  pb::Observation obs;
  obs.set_url("http://x.example/");
  obs.set_status("located");
  obs.set_checked_at_unix_ms(5);
  obs.mutable_verdict()->add_hosting_countries("NL");
  obs.mutable_verdict()->add_hosting_countries("US");
  obs.mutable_verdict()->mutable_jurisdiction()->set_attribution("hosted");
  obs.mutable_verdict()->mutable_jurisdiction()->add_primary_countries("US");
  obs.mutable_verdict()->mutable_jurisdiction()->set_confidence("medium");
  auto* p = obs.add_providers();
  p->set_name("Cloudflare");
  p->set_category("cdn");
  job.set_state(pb::JOB_STATE_DONE);
  job.set_checks(1);
  const RowFacts f = FactsOf(line, &job, &obs, nullptr);
  EXPECT_EQ(f.status, "located");
  EXPECT_EQ(f.country, "US");
  EXPECT_EQ(f.countries, (std::vector<std::string>{"NL", "US"}));
  EXPECT_TRUE(f.cdn());
  EXPECT_EQ(f.referral, "US");
  EXPECT_EQ(f.confidence, "medium");
  job.set_state(pb::JOB_STATE_PENDING);  // a re-check under way
  EXPECT_EQ(FactsOf(line, &job, &obs, nullptr).status, "queued");
  EXPECT_EQ(FactsOf(line, &job, &obs, nullptr).country, "US");
  pb::LineRecord rejected;
  rejected.set_input("ftp://x");
  rejected.set_rejection("unsupported scheme");
  const RowFacts r = FactsOf(rejected, nullptr, nullptr, nullptr);
  EXPECT_EQ(r.status, "rejected");
  EXPECT_EQ(r.reason, "unsupported scheme");
  EXPECT_EQ(r.url, "ftp://x");
}

// An update from changed jobs answers as a build from scratch: a value
// left with no line leaves the facets, and the table it started from is
// unchanged.
TEST(BatchTableTest, AnUpdateEqualsAFreshBuild) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("hl-table-update-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = std::move(Store::Open(dir.string())).value();
  auto run = store->BeginRun(pb::RunRecord(), 1000);
  ASSERT_TRUE(run.ok());
  {
    auto ingest = store->StartIngest(run->run_id(), 1000);
    for (uint64_t i = 1; i <= 600; ++i) {
      const std::string url = "http://h" + std::to_string(i % 300) + ".test/";
      ASSERT_TRUE(ingest->AddUrl(i, url, url, pb::RequestContext()).ok());
    }
    ASSERT_TRUE(
        ingest->AddRejected(601, "ftp://x", "unsupported scheme", "").ok());
    ASSERT_TRUE(ingest->Commit().ok());
  }
  auto leased = store->LeasePending(1000, 2000);
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 300u);
  const auto table_at = [&](int64_t now) {
    auto live = store->LiveCounts(run->run_id(), now);
    EXPECT_TRUE(live.ok());
    auto built = BuildBatchTable(*store, run->run_id(), live->generation,
                                 HistorySettings(), nullptr, now);
    EXPECT_TRUE(built.ok());
    return *built;
  };
  const auto in_flight = table_at(3000);
  // Every job's result: "in_flight" leaves the status facet.
  std::vector<uint64_t> changed;
  for (const auto& job : *leased) {
    pb::Observation obs;
    obs.set_url(job.url());
    obs.set_status("located");
    obs.mutable_verdict()->add_hosting_countries(job.job_id() % 2 ? "DE"
                                                                  : "NL");
    obs.add_providers()->set_name("Hetzner");
    ASSERT_TRUE(
        store->StoreResult(job.job_id(), job.attempts(), obs, 4000).ok());
    changed.push_back(job.job_id());
  }
  auto live = store->LiveCounts(run->run_id(), 5000);
  ASSERT_TRUE(live.ok());
  auto updated = UpdateBatchTable(*store, *in_flight, changed, live->generation,
                                  HistorySettings(), 5000);
  ASSERT_TRUE(updated.ok());
  const auto fresh = table_at(5000);
  for (const QueryParams& params :
       {QueryParams{}, QueryParams{{"country", "DE"}, {"sort", "url"}},
        QueryParams{{"status", "in_flight"}}}) {
    auto query = ParseRowQuery(params);
    ASSERT_TRUE(query.ok());
    EXPECT_EQ(RowsJson(**updated, *query), RowsJson(*fresh, *query));
  }
  const Json doc = Json::parse(RowsJson(**updated, *ParseRowQuery({})));
  EXPECT_FALSE(doc["facets"]["status"].contains("in_flight"));
  EXPECT_EQ(doc["facets"]["status"]["located"], 600);
  EXPECT_EQ(doc["facets"]["country"]["DE"], 300);
  const Json before = Json::parse(RowsJson(*in_flight, *ParseRowQuery({})));
  EXPECT_EQ(before["facets"]["status"]["in_flight"], 600);
  store.reset();
  std::filesystem::remove_all(dir);
}

// 100,000 lines through the store; the first table build, updates after
// changes and a filtered, sorted page are timed and printed.
TEST(BatchTableTest, AHundredThousandLinesAnswerAPageFast) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("hl-table-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = std::move(Store::Open(dir.string())).value();
  constexpr uint64_t kLines = 100000;
  auto run = store->BeginRun(pb::RunRecord(), 1000);
  ASSERT_TRUE(run.ok());
  {
    auto ingest = store->StartIngest(run->run_id(), 1000);
    for (uint64_t i = 1; i <= kLines; ++i) {
      const std::string url = "http://h" + std::to_string(i % 50000) +
                              ".example/" + std::to_string(i);
      ASSERT_TRUE(ingest->AddUrl(i, url, url, pb::RequestContext()).ok());
    }
    ASSERT_TRUE(ingest->Commit().ok());
  }
  const char* countries[] = {"DE", "NL", "US", "FR"};
  while (true) {
    auto leased = store->LeasePending(4096, 2000);
    ASSERT_TRUE(leased.ok());
    if (leased->empty()) break;
    std::vector<std::string> bytes;
    for (const auto& job : *leased) {
      pb::Observation obs;
      obs.set_url(job.url());
      obs.set_status(job.job_id() % 10 == 0 ? "error" : "located");
      obs.set_checked_at_unix_ms(static_cast<int64_t>(job.job_id()));
      obs.mutable_verdict()->add_hosting_countries(countries[job.job_id() % 4]);
      obs.add_providers()->set_name(job.job_id() % 3 ? "Hetzner" : "OVH");
      bytes.push_back(obs.SerializeAsString());
    }
    std::vector<Store::ResultIn> in;
    for (size_t i = 0; i < leased->size(); ++i) {
      const uint64_t id = (*leased)[i].job_id();
      in.push_back({id, (*leased)[i].attempts(), bytes[i],
                    id % 10 == 0 ? "error" : "located"});
    }
    ASSERT_TRUE(store->StoreResults(in, 3000).ok());
  }
  BatchTables tables(store.get(), HistorySettings());
  const auto ms_since = [](auto start) {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now() - start)
        .count();
  };
  auto start = std::chrono::steady_clock::now();
  auto table = tables.Get(run->run_id(), 5000);
  ASSERT_TRUE(table.ok());
  const double first_ms = ms_since(start);
  auto query = ParseRowQuery({{"country", "DE"},
                              {"status", "located"},
                              {"q", "h1"},
                              {"sort", "checked_at"},
                              {"order", "desc"},
                              {"offset", "100"},
                              {"limit", "100"}});
  ASSERT_TRUE(query.ok());
  start = std::chrono::steady_clock::now();
  table = tables.Get(run->run_id(), 5000);
  const std::string page = RowsJson(**table, *query);
  const double page_ms = ms_since(start);
  const Json doc = Json::parse(page);
  EXPECT_EQ(doc["rows"].size(), 100u);
  EXPECT_EQ(doc["facets"]["status"]["located"].get<uint64_t>() +
                doc["facets"]["status"]["error"].get<uint64_t>(),
            kLines);
  // One job re-checked: a call within kMinRebuildMs keeps the table, the
  // next reads that job again (Store::ChangedJobs).
  ASSERT_TRUE(store->QueueChecks({1}, 6000).ok());
  table = tables.Get(run->run_id(), 6000);
  EXPECT_EQ(Json::parse(RowsJson(
                **table, *ParseRowQuery({{"status", "queued"}})))["total"],
            0);
  start = std::chrono::steady_clock::now();
  table = tables.Get(run->run_id(), 5000 + BatchTables::kMinRebuildMs);
  ASSERT_TRUE(table.ok());
  const double rebuild_ms = ms_since(start);
  const auto queued = ParseRowQuery({{"status", "queued"}, {"sort", "url"}});
  EXPECT_EQ(Json::parse(RowsJson(**table, *queued))["total"], 1);
  // The update from the changed jobs equals a build from scratch.
  auto live = store->LiveCounts(run->run_id(), 7000);
  ASSERT_TRUE(live.ok());
  auto fresh = BuildBatchTable(*store, run->run_id(), live->generation,
                               HistorySettings(), nullptr, 7000);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(RowsJson(**table, *queued), RowsJson(**fresh, *queued));
  EXPECT_EQ(RowsJson(**table, *query), RowsJson(**fresh, *query));
  // 1,000 jobs re-checked: the update shares the unchanged chunks, and the
  // table handed out before it still answers as it did.
  std::vector<uint64_t> many;
  for (uint64_t id = 2; id <= 1001; ++id) many.push_back(id);
  ASSERT_TRUE(store->QueueChecks(many, 8000).ok());
  const auto before_update = *table;
  start = std::chrono::steady_clock::now();
  table = tables.Get(run->run_id(), 8000 + BatchTables::kMinRebuildMs);
  ASSERT_TRUE(table.ok());
  const double update_ms = ms_since(start);
  EXPECT_EQ(Json::parse(RowsJson(**table, *queued))["total"], 1001);
  EXPECT_EQ(Json::parse(RowsJson(*before_update, *queued))["total"], 1);
  live = store->LiveCounts(run->run_id(), 9000);
  ASSERT_TRUE(live.ok());
  fresh = BuildBatchTable(*store, run->run_id(), live->generation,
                          HistorySettings(), nullptr, 9000);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(RowsJson(**table, *queued), RowsJson(**fresh, *queued));
  EXPECT_EQ(RowsJson(**table, *query), RowsJson(**fresh, *query));
  std::printf(
      "rows of %llu lines: first build %.0f ms, filtered sorted page %.1f ms "
      "(total %llu), update after 1 changed job %.1f ms, after 1,000 "
      "changed jobs %.1f ms\n",
      static_cast<unsigned long long>(kLines), first_ms, page_ms,
      static_cast<unsigned long long>(doc["total"].get<uint64_t>()), rebuild_ms,
      update_ms);
  store.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hl::coordinator
