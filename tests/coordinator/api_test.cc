// The API end to end: an ApiServer on a loopback port the test picks, over a
// Store and a Broker on inproc:// whose worker answers at once. Submissions
// with rejected lines, status to completion, paged and filtered results,
// exports, refusals logged and audited, /metrics as Prometheus text, 413;
// then the `hostlocator` client against the same server, its output
// compared with the same commands reading the data folder.
#include "coordinator/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "common/evidence.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "coordinator/ingest.h"
#include "coordinator/input.h"
#include "coordinator/queries.h"
#include "coordinator/tokens.h"

namespace hl::coordinator {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// A worker that answers every job at once: hosts under .de.test are in DE,
// hosts starting "nx" fail with nxdomain, the rest are in NL.
class AnsweringWorker {
 public:
  AnsweringWorker(zmq::context_t* context, const std::string& endpoint)
      : thread_([this, context, endpoint] { Run(context, endpoint); }) {}
  ~AnsweringWorker() {
    stop_ = true;
    thread_.join();
  }

 private:
  static void Send(zmq::socket_t& socket, const pb::Envelope& envelope) {
    const std::string bytes = EncodeEnvelope(envelope);
    socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  }
  void Run(zmq::context_t* context, const std::string& endpoint) {
    zmq::socket_t socket(*context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(endpoint);
    pb::Envelope ready;
    ready.mutable_ready()->set_capacity(64);
    ready.mutable_ready()->set_worker_name("answering");
    Send(socket, ready);
    auto next_heartbeat = std::chrono::steady_clock::now();
    while (!stop_) {
      if (std::chrono::steady_clock::now() >= next_heartbeat) {
        pb::Envelope heartbeat;
        heartbeat.mutable_heartbeat();
        Send(socket, heartbeat);
        next_heartbeat += 50ms;
      }
      zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 10ms);
      zmq::message_t message;
      while (socket.recv(message, zmq::recv_flags::dontwait)) {
        pb::Envelope in;
        if (!in.ParseFromArray(message.data(),
                               static_cast<int>(message.size())) ||
            !in.has_jobs()) {
          continue;
        }
        for (const auto& job : in.jobs().jobs()) {
          pb::Envelope out;
          auto* result = out.mutable_results()->add_results();
          result->set_job_id(job.job_id());
          result->set_attempt(job.attempt());
          pb::Observation* obs = result->mutable_observation();
          obs->set_url(job.url());
          const std::string& url = job.url();
          if (url.find("://nx") != std::string::npos) {
            obs->set_status("error");
            obs->mutable_error()->set_error_class("nxdomain");
          } else {
            obs->set_status("located");
            obs->mutable_verdict()->add_hosting_countries(
                url.find(".de.test") != std::string::npos ? "DE" : "NL");
            obs->mutable_http()->set_status(200);
            obs->mutable_http()->set_elapsed_ms(12);
          }
          Send(socket, out);
        }
      }
    }
  }
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Runs a shell command; returns its exit code, stdout and stderr.
struct Ran {
  int exit_code;
  std::string out, err;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hl-api-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    data_dir_ = (dir_ / "data").string();
    tokens_file_ = (dir_ / "tokens").string();
    TokenTable table;
    for (const auto& [name, roles] : {std::pair{"submitter", "submit,read"},
                                      {"reader", "read"},
                                      {"exporter", "export"},
                                      {"boss", "admin"}}) {
      secrets_[name] = *table.Add(name, *ParseRoles(roles), 1);
      const std::string file = (dir_ / (std::string(name) + ".token")).string();
      std::ofstream(file) << secrets_[name] << "\n";
      ::chmod(file.c_str(), 0600);
    }
    ASSERT_TRUE(table.Save(tokens_file_).ok());
    log_ = std::make_shared<std::ostringstream>();
    spdlog::default_logger()->sinks().push_back(
        std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_));
    spdlog::set_level(spdlog::level::info);
    store_ = std::move(Store::Open(data_dir_)).value();
  }
  void TearDown() override {
    StopAll();
    spdlog::default_logger()->sinks().pop_back();
    spdlog::set_level(spdlog::level::warn);
    std::filesystem::remove_all(dir_);
  }

  // Broker, answering worker and API server; `max_request_bytes` for 413.
  void StartAll(size_t max_request_bytes = size_t{64} << 20) {
    BrokerOptions options;
    options.endpoint = "inproc://api-test";
    options.heartbeat_interval_ms = 100;
    options.heartbeat_liveness = 20;
    broker_ = std::make_unique<Broker>(&context_, store_.get(), options,
                                       SystemClockMs);
    ASSERT_TRUE(broker_->Bind().ok());
    broker_thread_ = std::thread([this] {
      Status s = broker_->Run(stop_, false);
      EXPECT_TRUE(s.ok()) << s.message();
    });
    worker_ = std::make_unique<AnsweringWorker>(&context_, options.endpoint);
    ApiOptions api;
    api.port = 0;
    api.tokens_file = tokens_file_;
    api.data_dir = data_dir_;
    api.max_request_bytes = max_request_bytes;
    api.threads = 2;
    server_ = std::make_unique<ApiServer>(
        store_.get(), [this] { return broker_->snapshot(); }, api,
        SystemClockMs);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void StopAll() {
    client_.reset();
    if (server_) server_->Stop();
    server_.reset();
    worker_.reset();
    stop_ = true;
    if (broker_thread_.joinable()) broker_thread_.join();
    broker_.reset();
    store_.reset();
  }

  httplib::Headers As(const std::string& name) {
    return {{"Authorization", "Bearer " + secrets_[name]}};
  }
  std::string TokenFile(const std::string& name) {
    return (dir_ / (name + ".token")).string();
  }

  Json Submit(const std::string& body, const std::string& query = "") {
    auto res = client_->Post(("/api/v1/batches" + query).c_str(),
                             As("submitter"), body, "text/plain");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 201) << res->body;
    return Json::parse(res->body);
  }
  Json WaitComplete(uint64_t batch) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto res = client_->Get(
          ("/api/v1/batches/" + std::to_string(batch)).c_str(), As("reader"));
      EXPECT_TRUE(res && res->status == 200);
      if (!res) return {};
      Json status = Json::parse(res->body);
      if (status["complete"].get<bool>()) return status;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "batch " << batch << " did not complete";
    return {};
  }
  // Every record of the results for `query`, page by page of `limit`.
  std::vector<Json> AllResults(const std::string& query, int limit,
                               int* pages) {
    std::vector<Json> records;
    std::string cursor;
    *pages = 0;
    while (true) {
      std::string path = "/api/v1/results?limit=" + std::to_string(limit) +
                         query + (cursor.empty() ? "" : "&cursor=" + cursor);
      auto res = client_->Get(path.c_str(), As("reader"));
      EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "");
      if (!res || res->status != 200) return records;
      ++*pages;
      Json page = Json::parse(res->body);
      for (auto& r : page["records"]) records.push_back(r);
      if (page["next_cursor"].is_null()) return records;
      cursor = page["next_cursor"].get<std::string>();
    }
  }
  Ran Cli(const std::string& args) {
    const auto out = dir_ / "cli.out";
    const auto err = dir_ / "cli.err";
    const std::string command =
        std::string(HL_BINARY_DIR) + "/cli/hostlocator " + args + " >" +
        out.string() + " 2>" + err.string() + " </dev/null";
    const int status = std::system(command.c_str());
    return {WEXITSTATUS(status), ReadFile(out), ReadFile(err)};
  }

  static constexpr char kList[] =
      "http://a1.de.test/\n"      // 1
      "ftp://bad.test/\n"         // 2 rejected
      "# a comment\n"             // 3
      "http://b.nl.test/x\n"      // 4
      "not a url at all\n"        // 5 rejected
      "http://nx.test/\n"         // 6 nxdomain
      "http://a1.de.test/\n"      // 7 the job of line 1
      "http://c.de.test/page\n";  // 8

  std::filesystem::path dir_;
  std::string data_dir_, tokens_file_;
  std::map<std::string, std::string> secrets_;
  std::shared_ptr<std::ostringstream> log_;
  std::unique_ptr<Store> store_;
  zmq::context_t context_;
  std::unique_ptr<Broker> broker_;
  std::thread broker_thread_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<AnsweringWorker> worker_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiTest, SubmitFollowPageAndExport) {
  StartAll();
  Json ack = Submit(kList, "?case=REF-7&max_age=1h");
  ASSERT_TRUE(ack.is_object());
  EXPECT_EQ(ack["lines"], 7);
  EXPECT_EQ(ack["accepted"], 5);
  EXPECT_EQ(ack["rejected"], 2);
  EXPECT_EQ(ack["new_jobs"], 4);
  ASSERT_EQ(ack["rejections"].size(), 2u);
  EXPECT_EQ(ack["rejections"][0]["line"], 2);
  EXPECT_EQ(ack["rejections"][0]["input"], "ftp://bad.test/");
  EXPECT_FALSE(ack["rejections"][0]["reason"].get<std::string>().empty());
  EXPECT_EQ(ack["rejections"][1]["line"], 5);
  const uint64_t batch = ack["batch_id"].get<uint64_t>();

  Json status = WaitComplete(batch);
  EXPECT_EQ(status["case_reference"], "REF-7");
  EXPECT_EQ(status["submitter"], "submitter");
  EXPECT_EQ(status["max_result_age_ms"], 3600000);
  EXPECT_EQ(status["states"]["done"], 5);
  EXPECT_EQ(status["states"]["rejected"], 2);
  EXPECT_EQ(status["progress"], 1.0);

  // A JSON list: line N is the N-th entry.
  auto res = client_->Post("/api/v1/batches", As("boss"),
                           R"({"urls": ["http://d.de.test/", "mailto:x"]})",
                           "application/json");
  ASSERT_TRUE(res && res->status == 201) << (res ? res->body : "");
  Json second = Json::parse(res->body);
  EXPECT_EQ(second["rejections"][0]["line"], 2);
  WaitComplete(second["batch_id"].get<uint64_t>());

  int pages = 0;
  const std::string only = "&batch=" + std::to_string(batch);
  auto all = AllResults(only, 2, &pages);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(pages, 4);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i - 1]["line"].get<int>(), all[i]["line"].get<int>());
  }
  auto de = AllResults(only + "&country=de", 1, &pages);
  ASSERT_EQ(de.size(), 3u);
  EXPECT_EQ(de[0]["line"], 1);
  EXPECT_EQ(de[1]["line"], 7);
  EXPECT_EQ(de[2]["line"], 8);
  auto errors = AllResults(only + "&status=error", 10, &pages);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["line"], 6);
  EXPECT_EQ(AllResults(only + "&status=rejected", 10, &pages).size(), 2u);
  // Without a batch: both batches, in order.
  auto every = AllResults("&country=DE", 3, &pages);
  ASSERT_EQ(every.size(), 4u);
  EXPECT_EQ(every[3]["line"], 1);

  for (auto [format, f] : {std::pair{"csv", ExportFormat::kCsv},
                           std::pair{"jsonl", ExportFormat::kJsonl}}) {
    auto exported = client_->Get(("/api/v1/batches/" + std::to_string(batch) +
                                  "/export?format=" + format)
                                     .c_str(),
                                 As("exporter"));
    ASSERT_TRUE(exported && exported->status == 200);
    EXPECT_EQ(exported->get_header_value("Transfer-Encoding"), "chunked");
    std::string local;
    uint64_t next = 0;
    while (!*AppendExportChunk(*store_, batch, f, 16, &next, &local,
                               HistorySettings{})) {
    }
    EXPECT_EQ(exported->body, local) << format;
    EXPECT_EQ(std::count(local.begin(), local.end(), '\n'),
              f == ExportFormat::kCsv ? 8 : 7);
  }

  // The referral packages, one file at a time, as the export writes them.
  const std::string referrals =
      "/api/v1/batches/" + std::to_string(batch) + "/referrals/";
  auto index_json =
      client_->Get((referrals + "index.json").c_str(), As("exporter"));
  ASSERT_TRUE(index_json && index_json->status == 200)
      << (index_json ? index_json->body : "");
  uint64_t de_lines = 0;
  const Json index_doc = Json::parse(index_json->body);
  for (const Json& p : index_doc["packages"]) {
    if (p["key"] == "DE") de_lines = p["lines"].get<uint64_t>();
  }
  EXPECT_EQ(de_lines, 3u);
  auto de_html = client_->Get((referrals + "DE.html?status=located").c_str(),
                              As("exporter"));
  ASSERT_TRUE(de_html && de_html->status == 200)
      << (de_html ? de_html->body : "");
  EXPECT_EQ(de_html->get_header_value("Content-Type"),
            "text/html; charset=utf-8");
  size_t rows = 0;
  for (size_t at = 0;
       (at = de_html->body.find("class=\"url-row\"", at)) != std::string::npos;
       ++at) {
    ++rows;
  }
  EXPECT_EQ(rows, 3u);
  auto de_csv = client_->Get((referrals + "DE.csv").c_str(), As("exporter"));
  ASSERT_TRUE(de_csv && de_csv->status == 200);
  EXPECT_EQ(std::count(de_csv->body.begin(), de_csv->body.end(), '\n'), 4);
  for (const auto& [path, status] :
       {std::pair{"ZZ.csv", 404}, std::pair{"DE.exe", 400},
        std::pair{"DE.csv?from=yesterday", 400}}) {
    auto refused = client_->Get((referrals + path).c_str(), As("exporter"));
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, status) << path;
  }
  auto forbidden = client_->Get((referrals + "DE.csv").c_str(), As("reader"));
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->status, 403);

  auto missing = client_->Get("/api/v1/batches/999", As("reader"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto bad = client_->Get("/api/v1/results?status=odd", As("reader"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("located"), std::string::npos);
}

TEST_F(ApiTest, RefusalsAreLoggedAndAuditedWithoutSecrets) {
  StartAll();
  auto health = client_->Get("/api/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  struct Case {
    std::string method, path, token;
    int status;
  } cases[] = {
      {"GET", "/api/v1/results", "", 401},
      {"GET", "/api/v1/results", "wrong", 401},
      {"POST", "/api/v1/batches", "reader", 403},
      {"GET", "/metrics", "exporter", 403},
      {"GET", "/api/v1/batches/1/export", "submitter", 403},
      {"GET", "/api/v1/results", "reader", 200},
      {"GET", "/metrics", "boss", 200},
  };
  for (const auto& c : cases) {
    httplib::Headers headers;
    if (!c.token.empty()) {
      headers = {{"Authorization",
                  "Bearer " +
                      (secrets_.count(c.token) ? secrets_[c.token] : c.token)}};
    }
    auto res =
        c.method == "GET"
            ? client_->Get((c.path + "?case=SECRET-CASE").c_str(), headers)
            : client_->Post(c.path.c_str(), headers, "http://x.test/",
                            "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status) << c.method << " " << c.path;
  }
  std::vector<std::string> audit;
  ASSERT_TRUE(store_
                  ->ForEachAudit(1,
                                 [&](const pb::AuditRecord& r) {
                                   audit.push_back(r.actor() + " " +
                                                   r.action() + " " +
                                                   r.detail());
                                   return Status::Ok();
                                 })
                  .ok());
  const std::vector<std::string> expected = {
      "anonymous auth_failed GET /api/v1/results 401",
      "anonymous auth_failed GET /api/v1/results 401",
      "reader forbidden POST /api/v1/batches 403",
      "exporter forbidden GET /metrics 403",
      "submitter forbidden GET /api/v1/batches/1/export 403",
  };
  EXPECT_EQ(audit, expected);
  const std::string log = log_->str();
  EXPECT_NE(log.find("anonymous GET /api/v1/results refused (401)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("reader POST /api/v1/batches refused (403)"),
            std::string::npos);
  for (const auto& [name, secret] : secrets_) {
    EXPECT_EQ(log.find(secret), std::string::npos) << name;
  }
  EXPECT_EQ(log.find("SECRET-CASE"), std::string::npos);

  // Submissions and exports are audited under the token's name.
  Json ack = Submit("http://a.test/\n");
  WaitComplete(ack["batch_id"].get<uint64_t>());
  auto exported = client_->Get("/api/v1/batches/1/export", As("exporter"));
  ASSERT_TRUE(exported);
  const std::string id = exported->get_header_value("X-Hostlocator-Export");
  EXPECT_EQ(id.size(), 32u);
  audit.clear();
  ASSERT_TRUE(store_
                  ->ForEachAudit(6,
                                 [&](const pb::AuditRecord& r) {
                                   audit.push_back(r.actor() + " " +
                                                   r.action() + " " +
                                                   r.detail());
                                   return Status::Ok();
                                 })
                  .ok());
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0], "submitter submit batch 1: 1 lines, 0 rejected");
  EXPECT_EQ(audit[1], "exporter export batch 1 as jsonl export " + id);
  // The signed export: its chain head and the manifest's digest.
  EXPECT_THAT(audit[2], ::testing::MatchesRegex(
                            "exporter export-signed batch 1 format=jsonl "
                            "export " +
                            id +
                            " file batch-1.jsonl lines 1 chain_head "
                            "[0-9a-f]{64} manifest_sha256 [0-9a-f]{64} key "
                            "[0-9a-f]{16}"));
}

TEST_F(ApiTest, MetricsAreValidPrometheusTextWithoutHosts) {
  StartAll();
  Json ack = Submit(kList);
  WaitComplete(ack["batch_id"].get<uint64_t>());
  // The broker publishes its figures each turn of its loop.
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = client_->Get("/metrics", As("reader"));
    ASSERT_TRUE(res && res->status == 200);
    text = res->body;
    if (text.find("hostlocator_results_total{status=\"located\"} 3") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::istringstream lines(text);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
      continue;
    }
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
    ++samples;
    const size_t open = line.find('{');
    const std::string labels =
        open == std::string::npos
            ? ""
            : line.substr(open, line.find('}') - open + 1);
    for (const char* host : {".test", "http", "a1", "nx.", "/"}) {
      EXPECT_EQ(labels.find(host), std::string::npos) << line;
    }
  }
  EXPECT_GT(samples, 20);
  for (const char* want :
       {"hostlocator_results_total{status=\"located\"} 3",
        "hostlocator_results_total{status=\"error\"} 1",
        "hostlocator_errors_total{class=\"nxdomain\"} 1",
        "hostlocator_queue_depth 0", "hostlocator_workers_connected 1",
        "hostlocator_worker_results_total{worker=\"answering\"} 4",
        "hostlocator_http_duration_seconds_bucket{le=\"0.05\"} 3",
        "hostlocator_http_duration_seconds_count 3",
        "hostlocator_result_latency_seconds_count 4"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
  EXPECT_EQ(text.find("hostlocator_store_bytes 0\n"), std::string::npos);
}

TEST_F(ApiTest, OversizedUploadGets413) {
  StartAll(/*max_request_bytes=*/4096);
  const std::string big(8192, 'x');
  auto res =
      client_->Post("/api/v1/batches", As("submitter"), big, "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_NE(res->body.find("split"), std::string::npos) << res->body;
  // The CLI says so plainly.
  std::ofstream(dir_ / "big.txt") << big;
  Ran ran =
      Cli("submit " + (dir_ / "big.txt").string() +
          " --server http://127.0.0.1:" + std::to_string(server_->port()) +
          " --token-file " + TokenFile("submitter"));
  EXPECT_EQ(ran.exit_code, 1);
  EXPECT_NE(ran.err.find("too large (413)"), std::string::npos) << ran.err;
}

TEST_F(ApiTest, CliThroughTheServerPrintsWhatTheDataFolderGives) {
  StartAll();
  std::ofstream(dir_ / "list.txt") << kList;
  const std::string server =
      " --server http://127.0.0.1:" + std::to_string(server_->port()) +
      " --token-file ";
  Ran submitted = Cli("submit " + (dir_ / "list.txt").string() + server +
                      TokenFile("submitter") + " --case REF-9");
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  EXPECT_NE(submitted.out.find("line 2: rejected ("), std::string::npos)
      << submitted.out;
  EXPECT_NE(submitted.out.find("line 5: rejected ("), std::string::npos);
  EXPECT_NE(submitted.out.find("batch 1: 7 lines, 5 accepted, 2 rejected"),
            std::string::npos);
  EXPECT_NE(submitted.out.find("progress: 7/7 lines finished (100.0%)"),
            std::string::npos)
      << submitted.out;
  EXPECT_NE(submitted.out.find("batch 1 complete"), std::string::npos);

  const std::vector<std::pair<std::string, std::string>> commands = {
      {"status 1", "reader"},
      {"results --batch 1", "reader"},
      {"results --country DE", "reader"},
      {"results --status rejected", "reader"},
      {"export --run 1 --format csv", "exporter"},
      {"export --run 1 --format jsonl", "exporter"},
      {"history http://A1.de.test/", "reader"},
      {"history 1 --json", "reader"},
      {"takedown --batch 1", "reader"},
      {"results --state online", "reader"},
  };
  std::vector<std::string> remote;
  for (const auto& [command, token] : commands) {
    Ran ran = Cli(command + server + TokenFile(token));
    EXPECT_EQ(ran.exit_code, 0) << command << ": " << ran.err;
    remote.push_back(ran.out);
  }
  EXPECT_NE(remote[0].find("5 done, 0 dead"), std::string::npos) << remote[0];
  EXPECT_NE(remote[0].find("case REF-9"), std::string::npos);
  EXPECT_EQ(std::count(remote[1].begin(), remote[1].end(), '\n'), 7);
  EXPECT_EQ(std::count(remote[2].begin(), remote[2].end(), '\n'), 3);
  EXPECT_NE(remote[6].find("job 1: http://a1.de.test/"), std::string::npos)
      << remote[6];
  EXPECT_NE(remote[8].find("batch 1: 4 URLs"), std::string::npos) << remote[8];
  // Lines 1, 4, 7 and 8 are online; line 6 failed without an address
  // (nxdomain at the top level, unreachable by the history rules).
  EXPECT_EQ(std::count(remote[9].begin(), remote[9].end(), '\n'), 4)
      << remote[9];

  // Refusals, plainly.
  Ran forbidden = Cli("submit " + (dir_ / "list.txt").string() + server +
                      TokenFile("reader") + " --no-wait");
  EXPECT_EQ(forbidden.exit_code, 1);
  EXPECT_NE(forbidden.err.find("(403)"), std::string::npos) << forbidden.err;
  std::ofstream(dir_ / "wrong.token") << "0123\n";
  ::chmod((dir_ / "wrong.token").c_str(), 0600);
  Ran unauthorised = Cli("status 1" + server + (dir_ / "wrong.token").string());
  EXPECT_EQ(unauthorised.exit_code, 1);
  EXPECT_NE(unauthorised.err.find("refused the token (401)"), std::string::npos)
      << unauthorised.err;
  const uint16_t port = server_->port();

  StopAll();
  for (size_t i = 0; i < commands.size(); ++i) {
    Ran ran = Cli(commands[i].first + " --data " + data_dir_);
    EXPECT_EQ(ran.exit_code, 0) << commands[i].first << ": " << ran.err;
    EXPECT_EQ(ran.out, remote[i]) << commands[i].first;
  }
  Ran unreachable =
      Cli("status 1 --server http://127.0.0.1:" + std::to_string(port) +
          " --token-file " + TokenFile("reader"));
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find("cannot reach the coordinator"),
            std::string::npos)
      << unreachable.err;
}

// Checks every URL of `urls` at `at_ms` (a submission with maximum age 0),
// storing the observation `answer` gives for each.
void CheckAll(
    Store& store, const std::string& urls, int64_t at_ms,
    const std::function<pb::Observation(const std::string&)>& answer) {
  auto reader = InputReader::FromText(urls);
  ASSERT_TRUE(reader.ok());
  BatchSpec spec;
  spec.max_result_age_ms = 0;
  ASSERT_TRUE(IngestBatch(store, **reader, spec, at_ms, RejectionSink()).ok());
  auto leased = store.LeasePending(100, at_ms);
  ASSERT_TRUE(leased.ok());
  for (const pb::JobRecord& job : *leased) {
    pb::Observation obs = answer(job.url());
    obs.set_url(job.url());
    obs.set_checked_at_unix_ms(at_ms);
    ASSERT_TRUE(
        store.StoreResult(job.job_id(), job.attempts(), obs, at_ms).ok());
  }
}

pb::Observation HostedIn(const std::string& country, uint32_t asn) {
  pb::Observation obs;
  obs.set_status("located");
  obs.set_pinned_ip("192.0.2.1");
  auto* a = obs.add_addresses();
  a->set_ip("192.0.2.1");
  a->set_country(country);
  a->set_asn(asn);
  obs.mutable_http()->set_status(200);
  obs.mutable_verdict()->add_hosting_countries(country);
  return obs;
}

TEST_F(ApiTest, HistoryTakedownAndHistoryFilters) {
  // a: DE, then NL, then gone (410); b: DE throughout.
  const std::string urls = "http://a.test/\nhttp://b.test/\n";
  const int64_t t0 = 1'800'000'000'000;
  CheckAll(*store_, urls, t0,
           [](const std::string&) { return HostedIn("DE", 64500); });
  CheckAll(*store_, urls, t0 + 3'600'000, [](const std::string& url) {
    return HostedIn(url == "http://a.test/" ? "NL" : "DE",
                    url == "http://a.test/" ? 64501 : 64500);
  });
  CheckAll(*store_, urls, t0 + 7'200'000, [](const std::string& url) {
    pb::Observation obs = HostedIn(url == "http://a.test/" ? "NL" : "DE",
                                   url == "http://a.test/" ? 64501 : 64500);
    if (url == "http://a.test/") obs.mutable_http()->set_status(410);
    return obs;
  });
  StartAll();

  auto history =
      client_->Get("/api/v1/history?url=http://A.test", As("reader"));
  ASSERT_TRUE(history && history->status == 200)
      << (history ? history->body : "");
  const Json h = Json::parse(history->body);
  EXPECT_EQ(h["url"], "http://a.test/");
  ASSERT_EQ(h["checks"].size(), 3u);
  ASSERT_EQ(h["events"].size(), 3u);
  EXPECT_EQ(h["events"][1]["kind"], "moved");
  EXPECT_EQ(h["events"][1]["at"], "2027-01-15T09:00:00.000Z");
  EXPECT_EQ(h["events"][1]["changes"][0],
            Json::parse(R"({"what":"country","from":"DE","to":"NL"})"));
  EXPECT_EQ(h["events"][2]["kind"], "down");
  EXPECT_EQ(h["events"][2]["reason"], "http_410");
  EXPECT_EQ(h["summary"]["time_to_takedown_ms"], 7'200'000);
  EXPECT_EQ(h["summary"]["provider"], "AS64501");

  int pages = 0;
  const auto moved = AllResults("&batch=3&event=moved", 10, &pages);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0]["url"], "http://a.test/");
  EXPECT_EQ(moved[0]["history"]["down"], 1);
  const auto online = AllResults("&batch=3&state=online", 10, &pages);
  ASSERT_EQ(online.size(), 1u);
  EXPECT_EQ(online[0]["url"], "http://b.test/");
  EXPECT_EQ(online[0]["history"]["online_ms"], 7'200'000);
  EXPECT_TRUE(AllResults("&event=back_up", 10, &pages).empty());

  auto takedown =
      client_->Get("/api/v1/reports/takedown?batch=1", As("reader"));
  ASSERT_TRUE(takedown && takedown->status == 200);
  const Json t = Json::parse(takedown->body);
  EXPECT_EQ(t["urls"], 2);
  ASSERT_EQ(t["providers"].size(), 2u);
  EXPECT_EQ(t["providers"][0],
            Json::parse(R"({"provider":"AS64500","urls":1,"taken_down":0,
                            "still_online":1,"median_ms":null,
                            "p90_ms":null})"));
  EXPECT_EQ(t["providers"][1]["median_ms"], 7'200'000);
  // A date range: a.test and b.test were first seen online at t0.
  auto range = client_->Get(
      "/api/v1/reports/takedown?from=2027-01-15&to=2027-01-15T08:00:00.001Z",
      As("reader"));
  ASSERT_TRUE(range && range->status == 200) << (range ? range->body : "");
  EXPECT_EQ(Json::parse(range->body)["urls"], 2);
  range =
      client_->Get("/api/v1/reports/takedown?from=2027-01-16", As("reader"));
  ASSERT_TRUE(range && range->status == 200);
  EXPECT_EQ(Json::parse(range->body)["urls"], 0);

  for (const char* bad :
       {"/api/v1/history", "/api/v1/history?url=ftp://x/",
        "/api/v1/results?event=gone", "/api/v1/results?state=up",
        "/api/v1/reports/takedown?from=yesterday",
        "/api/v1/reports/takedown?batch=1&from=2027-01-01"}) {
    auto res = client_->Get(bad, As("reader"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad << ": " << res->body;
  }
  auto unknown =
      client_->Get("/api/v1/history?url=http://never.test/", As("reader"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;
}

TEST_F(ApiTest, ServesHttpsWhenGivenACertificate) {
  const std::string cert = (dir_ / "cert.pem").string();
  const std::string key = (dir_ / "key.pem").string();
  const std::string openssl =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 1 "
      "-keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(openssl.c_str()), 0);
  ApiOptions options;
  options.port = 0;
  options.tokens_file = tokens_file_;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  ::chmod(key.c_str(), 0640);
  {
    ApiServer refused(store_.get(), nullptr, options, SystemClockMs);
    Status s = refused.Start();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("chmod 600"), std::string::npos) << s.message();
  }
  ::chmod(key.c_str(), 0600);
  ApiServer server(store_.get(), nullptr, options, SystemClockMs);
  ASSERT_TRUE(server.Start().ok());
  httplib::SSLClient tls("127.0.0.1", server.port());
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  auto res = tls.Get("/api/v1/batches/1", As("reader"));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 404);
  httplib::Client plain("127.0.0.1", server.port());
  EXPECT_FALSE(plain.Get("/api/v1/health"));
  server.Stop();
}

// The chain of custody end to end: an export through the API and one from
// the data folder are chained and signed with the data folder's key
// (created on the first export, mode 0600), `verify` and the shell recipe
// accept them and refuse a changed line or another key, and the audit log
// says who exported what.
TEST_F(ApiTest, ExportsAreSignedAndVerify) {
  StartAll();
  std::ofstream(dir_ / "list.txt") << kList;
  const std::string server =
      " --server http://127.0.0.1:" + std::to_string(server_->port()) +
      " --token-file ";
  Ran submitted = Cli("submit " + (dir_ / "list.txt").string() + server +
                      TokenFile("submitter"));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string pub = data_dir_ + "/signing.pub";
  const std::string verify = "verify --pubkey " + pub + " ";
  for (auto [format, lines] : {std::pair{"jsonl", "7 lines (7 records)"},
                               std::pair{"csv", "8 lines (7 records)"}}) {
    const std::string remote = (dir_ / "remote.").string() + format;
    Ran exported = Cli("export --run 1 --format " + std::string(format) +
                       " -o " + remote + server + TokenFile("exporter"));
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    Ran ok = Cli(verify + remote);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(ok.out.rfind("OK " + remote + ": " + lines, 0), 0u) << ok.out;
  }
  struct stat st;
  ASSERT_EQ(::stat((data_dir_ + "/signing.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(log_->str().find("created the export signing key"),
            std::string::npos);
  auto served = client_->Get("/api/v1/signing-key", As("reader"));
  ASSERT_TRUE(served && served->status == 200);
  EXPECT_EQ(served->body, ReadFile(pub));
  auto unknown =
      client_->Get("/api/v1/exports/00000000000000000000000000000000/manifest",
                   As("exporter"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto unauthorised =
      client_->Get("/api/v1/exports/00000000000000000000000000000000/manifest",
                   As("reader"));
  ASSERT_TRUE(unauthorised);
  EXPECT_EQ(unauthorised->status, 403);

  // The audit log holds each signed export's chain head, as its exporter.
  auto manifest = evidence::ParseManifest(ReadFile(
      dir_ / ("remote.jsonl" + std::string(evidence::kManifestSuffix))));
  ASSERT_TRUE(manifest.ok()) << manifest.status().message();
  const std::string head = manifest->manifest.files[0].chain_head;
  bool audited = false;
  ASSERT_TRUE(store_
                  ->ForEachAudit(1,
                                 [&](const pb::AuditRecord& r) {
                                   if (r.action() == "export-signed" &&
                                       r.actor() == "exporter" &&
                                       r.detail().find(head) !=
                                           std::string::npos) {
                                     audited = true;
                                   }
                                   return Status::Ok();
                                 })
                  .ok());
  EXPECT_TRUE(audited);
  EXPECT_EQ(ReadFile(dir_ / "remote.jsonl.chain")
                .substr(ReadFile(dir_ / "remote.jsonl.chain").size() - 65, 64),
            head);

  StopAll();
  // From the data folder: the same bytes, signed with the same key.
  const std::string local = (dir_ / "local.jsonl").string();
  Ran exported = Cli("export --run 1 -o " + local + " --data " + data_dir_);
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(ReadFile(local), ReadFile(dir_ / "remote.jsonl"));
  Ran ok = Cli(verify + local);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const std::string script = std::string(HL_SOURCE_DIR) +
                             "/scripts/verify-export.sh " + local + " " +
                             local + ".manifest " + pub;
  EXPECT_EQ(std::system((script + " >/dev/null").c_str()), 0) << script;

  // A changed line: named; the recipe fails too.
  std::string text = ReadFile(local);
  const size_t at = text.find("b.nl.test");
  ASSERT_NE(at, std::string::npos);
  const auto line = std::count(text.begin(), text.begin() + at, '\n') + 1;
  text[at] = 'B';
  std::ofstream(local, std::ios::trunc) << text;
  Ran changed = Cli(verify + local);
  EXPECT_EQ(changed.exit_code, 3);
  EXPECT_NE(changed.err.find("line " + std::to_string(line) +
                             ": differs from the signed chain"),
            std::string::npos)
      << changed.err;
  EXPECT_NE(std::system((script + " >/dev/null").c_str()), 0);

  // Another key: refused, naming both.
  Ran generated =
      Cli("keys generate --signing --out " + dir_.string() + " --name other");
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  ASSERT_EQ(::stat((dir_ / "other.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Ran other = Cli("verify --pubkey " + (dir_ / "other.pub").string() + " " +
                  (dir_ / "remote.jsonl").string());
  EXPECT_EQ(other.exit_code, 3);
  EXPECT_NE(other.err.find("not the public key given"), std::string::npos)
      << other.err;
  Ran no_manifest = Cli(verify + (dir_ / "list.txt").string());
  EXPECT_EQ(no_manifest.exit_code, 2);
  EXPECT_NE(no_manifest.err.find("cannot read the manifest"), std::string::npos)
      << no_manifest.err;
}

// Referral packages through the API: the whole set in one archive, checked
// against the coordinator's key by `export --by jurisdiction --server`; one
// file signed as part of its set, its manifest kept in the store over a
// restart until a purge.
TEST_F(ApiTest, ReferralPackagesAreSignedAndTheirManifestsKept) {
  StartAll();
  std::ofstream(dir_ / "list.txt") << kList;
  const std::string server =
      " --server http://127.0.0.1:" + std::to_string(server_->port()) +
      " --token-file ";
  Ran submitted = Cli("submit " + (dir_ / "list.txt").string() + server +
                      TokenFile("submitter"));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string pub = data_dir_ + "/signing.pub";
  const std::string remote = (dir_ / "remote").string();
  // With the key the coordinator serves (the read role: admin has it).
  Ran exported = Cli("export --by jurisdiction --run 1 --out " + remote +
                     server + TokenFile("boss"));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.out.find("verified against the coordinator's signing "
                              "key"),
            std::string::npos)
      << exported.out;
  for (const char* file : {"packages.manifest", "index.html", "DE/DE.csv",
                           "DE/DE.csv.chain", "NL/NL.html"}) {
    EXPECT_TRUE(std::filesystem::exists(remote + "/" + file)) << file;
  }
  Ran folder = Cli("verify --pubkey " + pub + " " + remote);
  EXPECT_EQ(folder.exit_code, 0) << folder.err;
  EXPECT_EQ(folder.out.rfind("OK " + remote + ": ", 0), 0u) << folder.out;
  Ran one = Cli("verify --pubkey " + pub + " " + remote + "/DE/DE.csv");
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("4 lines (3 records)"), std::string::npos) << one.out;
  // The same filters as from a data folder; a folder in use is refused.
  const std::string de_only = (dir_ / "de-only").string();
  // With a copy of the key given; without it, the export role alone cannot
  // fetch the key.
  Ran no_key = Cli("export --by jurisdiction --run 1 --out " + de_only +
                   server + TokenFile("exporter"));
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find("give its public key with --pubkey"),
            std::string::npos)
      << no_key.err;
  Ran filtered =
      Cli("export --by jurisdiction --run 1 --country DE --out " + de_only +
          " --pubkey " + pub + server + TokenFile("exporter"));
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_TRUE(std::filesystem::exists(de_only + "/DE/DE.csv"));
  EXPECT_FALSE(std::filesystem::exists(de_only + "/NL"));
  Ran again = Cli("export --by jurisdiction --run 1 --out " + remote + server +
                  TokenFile("exporter"));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("is not empty"), std::string::npos) << again.err;
  // Changed after the export: named.
  std::string csv = ReadFile(remote + "/DE/DE.csv");
  csv[csv.size() - 2] = '#';
  std::ofstream(remote + "/DE/DE.csv", std::ios::trunc) << csv;
  Ran changed = Cli("verify --pubkey " + pub + " " + remote);
  EXPECT_EQ(changed.exit_code, 3);
  EXPECT_NE(changed.err.find("DE/DE.csv: line 4: differs"), std::string::npos)
      << changed.err;

  const std::string referrals = "/api/v1/batches/1/referrals/";
  auto de = client_->Get((referrals + "DE.csv").c_str(), As("exporter"));
  ASSERT_TRUE(de && de->status == 200);
  const std::string id = de->get_header_value("X-Hostlocator-Export");
  ASSERT_EQ(id.size(), 32u);
  auto chain =
      client_->Get((referrals + "DE.csv.chain").c_str(), As("exporter"));
  ASSERT_TRUE(chain && chain->status == 200);
  EXPECT_EQ(chain->body.size(), 4u * 65);

  StopAll();
  store_ = std::move(Store::Open(data_dir_)).value();
  stop_ = false;
  StartAll();
  auto manifest = client_->Get(("/api/v1/exports/" + id + "/manifest").c_str(),
                               As("exporter"));
  ASSERT_TRUE(manifest && manifest->status == 200);
  std::istringstream data(de->body);
  auto verified =
      evidence::VerifyExport({.data = &data,
                              .manifest_text = manifest->body,
                              .public_key = ReadSigningPublicKey(pub).value(),
                              .file_name = "DE/DE.csv"});
  EXPECT_TRUE(verified.ok()) << verified.status().message();

  auto purged =
      store_->Purge(SystemClockMs() + 1000, false, "test", SystemClockMs());
  ASSERT_TRUE(purged.ok());
  EXPECT_GE(purged->manifests, 3u);
  auto gone = client_->Get(("/api/v1/exports/" + id + "/manifest").c_str(),
                           As("exporter"));
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
}

}  // namespace
}  // namespace hl::coordinator

namespace hl::coordinator {
namespace {

// The endpoints the web UI reads batches through: session, batch list,
// status counters, the review table, one line, re-checks; their refusals
// and bad parameters.
TEST_F(ApiTest, BatchViewsForTheWebUi) {
  StartAll();
  const auto get = [&](const std::string& path, const std::string& who) {
    auto res = client_->Get(path.c_str(), As(who));
    EXPECT_TRUE(res) << path;
    return res ? std::pair{res->status, res->body}
               : std::pair{0, std::string()};
  };
  const auto error_of = [](const std::string& body) {
    return Json::parse(body)["error"].get<std::string>();
  };

  auto [code, body] = get("/api/v1/session", "exporter");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, R"({"token":"exporter","roles":["export"]})");
  std::tie(code, body) = get("/api/v1/session", "submitter");
  EXPECT_EQ(Json::parse(body)["roles"], Json::array({"submit", "read"}));
  auto anonymous = client_->Get("/api/v1/session");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);

  const uint64_t first = Submit(kList, "?case=REF-9")["batch_id"];
  Json status = WaitComplete(first);
  EXPECT_EQ(status["outcomes"],
            Json::parse(R"({"located":4,"unresolved":0,"error":1})"));
  EXPECT_EQ(status["eta_s"], 0);
  EXPECT_GE(status["finished_per_s"].get<double>(), 0);
  const uint64_t second = Submit("http://b.nl.test/x\n")["batch_id"];
  WaitComplete(second);

  // Newest first, paged by cursor.
  std::tie(code, body) = get("/api/v1/batches?limit=1", "reader");
  ASSERT_EQ(code, 200) << body;
  Json page = Json::parse(body);
  ASSERT_EQ(page["batches"].size(), 1u);
  EXPECT_EQ(page["batches"][0]["batch_id"], second);
  EXPECT_EQ(page["batches"][0]["states"]["done"], 1);
  ASSERT_TRUE(page["next_cursor"].is_string());
  std::tie(code, body) = get("/api/v1/batches?limit=5&cursor=" +
                                 page["next_cursor"].get<std::string>(),
                             "reader");
  page = Json::parse(body);
  ASSERT_EQ(page["batches"].size(), 1u);
  EXPECT_EQ(page["batches"][0]["batch_id"], first);
  EXPECT_EQ(page["batches"][0]["case_reference"], "REF-9");
  EXPECT_TRUE(page["next_cursor"].is_null());
  std::tie(code, body) = get("/api/v1/batches?cursor=abc", "reader");
  EXPECT_EQ(code, 400);
  EXPECT_NE(error_of(body).find("next_cursor"), std::string::npos);
  std::tie(code, body) = get("/api/v1/batches?limit=0", "reader");
  EXPECT_EQ(code, 400);
  EXPECT_EQ(get("/api/v1/batches", "exporter").first, 403);

  // The review table.
  const std::string rows = "/api/v1/batches/" + std::to_string(first) + "/rows";
  std::tie(code, body) = get(rows, "reader");
  ASSERT_EQ(code, 200) << body;
  Json table = Json::parse(body);
  EXPECT_EQ(table["total"], 7);
  EXPECT_EQ(table["offset"], 0);
  EXPECT_EQ(table["facets"]["country"], Json::parse(R"({"DE":3,"NL":1})"));
  EXPECT_EQ(table["facets"]["status"],
            Json::parse(R"({"error":1,"located":4,"rejected":2})"));
  EXPECT_EQ(table["facets"]["error_class"],
            Json::parse(R"({"nxdomain":1,"rejected":2})"));
  EXPECT_EQ(table["rows"][0]["url"], "http://a1.de.test/");
  EXPECT_EQ(table["rows"][0]["country"], "DE");
  EXPECT_EQ(table["rows"][0]["state"], "online");
  EXPECT_EQ(table["rows"][1]["status"], "rejected");
  EXPECT_FALSE(table["rows"][1]["reason"].get<std::string>().empty());
  std::tie(code, body) =
      get(rows + "?country=de&sort=url&order=desc&limit=2", "reader");
  table = Json::parse(body);
  EXPECT_EQ(table["total"], 3);
  ASSERT_EQ(table["rows"].size(), 2u);
  EXPECT_EQ(table["rows"][0]["line"], 8);  // c.de, then a1.de (line 1)
  EXPECT_EQ(table["rows"][1]["line"], 1);
  EXPECT_EQ(table["facets"]["country"]["DE"], 3);  // the whole batch's
  std::tie(code, body) = get(rows + "?q=NX.TEST&status=error", "reader");
  EXPECT_EQ(Json::parse(body)["rows"][0]["line"], 6);
  std::tie(code, body) = get(rows + "?sort=size", "reader");
  EXPECT_EQ(code, 400);
  EXPECT_NE(error_of(body).find("sort is one of"), std::string::npos);
  EXPECT_EQ(get("/api/v1/batches/99/rows", "reader").first, 404);
  EXPECT_EQ(client_->Get(rows.c_str())->status, 401);

  // One line in full.
  const std::string lines =
      "/api/v1/batches/" + std::to_string(first) + "/lines/";
  std::tie(code, body) = get(lines + "4", "reader");
  ASSERT_EQ(code, 200) << body;
  Json line = Json::parse(body);
  EXPECT_EQ(line["line"], 4);
  EXPECT_EQ(line["record"]["status"], "located");
  EXPECT_EQ(line["record"]["input"], "http://b.nl.test/x");
  EXPECT_EQ(line["history"]["checks"].size(), 1u);
  std::tie(code, body) = get(lines + "2", "reader");
  line = Json::parse(body);
  EXPECT_EQ(line["record"]["status"], "rejected");
  EXPECT_TRUE(line["history"].is_null());
  EXPECT_EQ(get(lines + "3", "reader").first, 404);  // the comment
  EXPECT_EQ(get(lines + "0", "reader").first, 404);
  EXPECT_EQ(get("/api/v1/batches/99/lines/1", "reader").first, 404);

  // Re-checks: role submit; counted by job; audited; history grows.
  const std::string recheck =
      "/api/v1/batches/" + std::to_string(first) + "/recheck";
  auto res = client_->Post(recheck.c_str(), As("reader"), "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  res = client_->Post(recheck.c_str(), As("submitter"), "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202) << res->body;
  EXPECT_EQ(Json::parse(res->body), Json::parse(R"({"queued":4,"skipped":0})"));
  WaitComplete(first);
  std::tie(code, body) = get(lines + "4", "reader");
  EXPECT_EQ(Json::parse(body)["history"]["checks"].size(), 2u);
  res = client_->Post((lines + "2/recheck").c_str(), As("submitter"), "",
                      "text/plain");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_of(res->body).find("rejected"), std::string::npos);
  res = client_->Post((lines + "4/recheck").c_str(), As("submitter"), "",
                      "text/plain");
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(Json::parse(res->body)["queued"], 1);
  res = client_->Post("/api/v1/batches/99/recheck", As("submitter"), "",
                      "text/plain");
  EXPECT_EQ(res->status, 404);
  WaitComplete(first);
  std::vector<std::string> audited;
  ASSERT_TRUE(store_
                  ->ForEachAudit(1,
                                 [&](const pb::AuditRecord& r) {
                                   if (r.action() == "recheck") {
                                     audited.push_back(r.actor() + ": " +
                                                       r.detail());
                                   }
                                   return Status::Ok();
                                 })
                  .ok());
  EXPECT_EQ(audited, (std::vector<std::string>{
                         "submitter: batch 1: 4 queued, 0 skipped",
                         "submitter: batch 1 line 4: 1 queued, 0 skipped"}));
}

}  // namespace
}  // namespace hl::coordinator
