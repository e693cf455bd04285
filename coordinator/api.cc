#include "coordinator/api.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/version.h"
#include "coordinator/api_batches.h"
#include "coordinator/api_request.h"
#include "coordinator/export_evidence.h"
#include "coordinator/ingest.h"
#include "coordinator/metrics.h"
#include "coordinator/queries.h"
#include "coordinator/referral_package.h"
#include "coordinator/tokens.h"
#include "coordinator/web_ui.h"

namespace hl::coordinator {
namespace {

constexpr char kJson[] = "application/json";
constexpr size_t kExportChunkBytes = 64 * 1024;

// A fixed number of threads and a bounded queue: when the queue is full the
// accepting thread waits, so connections beyond it wait in the kernel's
// backlog instead of in memory.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }
  ~BoundedPool() override { shutdown(); }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return queue_.size() < max_queued_ || done_; });
    queue_.push_back(std::move(fn));
    not_empty_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        not_empty_.wait(lock, [&] { return !queue_.empty() || done_; });
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
        not_full_.notify_one();
      }
      fn();
    }
  }
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  bool done_ = false;
};

std::string ErrorBody(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kResourceExhausted:
      return 413;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void Fail(httplib::Response& res, const Status& status) {
  res.status = HttpStatusOf(status);
  res.set_content(ErrorBody(status.message()), kJson);
}

// Who the current request is, for the access log line; reset after it.
thread_local std::string t_actor = "anonymous";

uint64_t DirectoryBytes(const std::string& dir) {
  if (dir.empty()) return 0;
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

// The number matched by the path's group `group` (a batch or line); nullopt
// for 0 or one too large.
std::optional<uint64_t> BatchId(const httplib::Request& req, int group = 1) {
  const std::string& text = req.matches[group];
  uint64_t id = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || id > UINT64_MAX / 10) return std::nullopt;
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  if (id == 0) return std::nullopt;
  return id;
}

}  // namespace

class ApiServer::Impl {
 public:
  Impl(Store* store, FiguresSource figures, ApiOptions options, Clock clock)
      : store_(store),
        figures_(std::move(figures)),
        options_(std::move(options)),
        clock_(std::move(clock)),
        tables_(store, options_.history) {}

  Status Init() {
    if (!options_.tokens_file.empty()) {
      auto table = TokenTable::Load(options_.tokens_file, /*missing_ok=*/false);
      if (!table.ok()) return table.status();
      tokens_ = *std::move(table);
      token_stamp_ = Stamp();
    }
    const bool tls =
        !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
    if (tls) {
      if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
        return InvalidArgument(
            "set both the API's TLS certificate and key files, or neither");
      }
      HL_RETURN_IF_ERROR(CheckPrivateFile(options_.tls_key_file));
      auto ssl = std::make_unique<httplib::SSLServer>(
          options_.tls_cert_file.c_str(), options_.tls_key_file.c_str());
      if (!ssl->is_valid()) {
        return InvalidArgument("cannot load the API's TLS certificate " +
                               options_.tls_cert_file + " and key " +
                               options_.tls_key_file);
      }
      server_ = std::move(ssl);
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    Configure();
    return Status::Ok();
  }

  httplib::Server& server() { return *server_; }
  const ApiOptions& options() const { return options_; }

 private:
  // The token file's identity; a change makes the next request reload it.
  std::pair<int64_t, int64_t> Stamp() const {
    struct stat st {};
    if (::stat(options_.tokens_file.c_str(), &st) != 0) return {-1, -1};
    return {st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
            st.st_size};
  }

  std::optional<TokenEntry> Verify(std::string_view secret) {
    std::lock_guard lock(tokens_mu_);
    if (options_.tokens_file.empty()) return std::nullopt;
    if (const auto stamp = Stamp(); stamp != token_stamp_) {
      token_stamp_ = stamp;
      auto table = TokenTable::Load(options_.tokens_file, false);
      if (table.ok()) {
        tokens_ = *std::move(table);
      } else {
        // A token file made unsafe or unreadable admits nobody.
        spdlog::error("api: {}; refusing every token until it is fixed",
                      table.status().message());
        tokens_ = TokenTable();
      }
    }
    return tokens_.Verify(secret);
  }

  // Checks the request's token against the role its endpoint needs; on a
  // refusal answers 401/403, logs and audits, and returns nullopt.
  std::optional<TokenEntry> Authorize(const httplib::Request& req,
                                      httplib::Response& res) {
    t_actor = "anonymous";
    const std::optional<Role> need = RequiredRole(req.method, req.path);
    std::optional<TokenEntry> token;
    const std::string authorization = req.get_header_value("Authorization");
    if (auto secret = BearerSecret(authorization)) {
      token = Verify(*secret);
    }
    if (token) t_actor = token->name;
    if (!need) return token ? token : TokenEntry{"anonymous", 0, "", 0};
    std::string refusal;
    if (!token) {
      res.status = 401;
      refusal = "auth_failed";
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(ErrorBody("a valid token is needed: send "
                                "\"Authorization: Bearer SECRET\""),
                      kJson);
    } else if (!Allows(token->roles, *need)) {
      res.status = 403;
      refusal = "forbidden";
      res.set_content(
          ErrorBody("token \"" + token->name + "\" lacks the role " +
                    RolesText(static_cast<RoleSet>(*need))),
          kJson);
    } else {
      return token;
    }
    spdlog::warn("api: {} {} {} refused ({})", t_actor, req.method, req.path,
                 res.status);
    auto audited = store_->AppendAudit(
        t_actor, refusal,
        req.method + " " + req.path + " " + std::to_string(res.status),
        clock_());
    if (!audited.ok()) {
      spdlog::error("api: audit log: {}", audited.status().message());
    }
    return std::nullopt;
  }

  void Audit(const std::string& actor, const std::string& action,
             const std::string& detail) {
    auto audited = store_->AppendAudit(actor, action, detail, clock_());
    if (!audited.ok()) {
      spdlog::error("api: audit log: {}", audited.status().message());
    }
  }

  void Configure() {
    httplib::Server& s = *server_;
    s.new_task_queue = [this] {
      return new BoundedPool(options_.threads, options_.max_queued);
    };
    s.set_payload_max_length(options_.max_request_bytes);
    s.set_read_timeout(options_.read_timeout_ms / 1000,
                       (options_.read_timeout_ms % 1000) * 1000);
    s.set_write_timeout(options_.write_timeout_ms / 1000,
                        (options_.write_timeout_ms % 1000) * 1000);
    s.set_keep_alive_timeout(5);
    s.set_error_handler(
        [this](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) return;
          if (res.status == 413) {
            res.set_content(
                ErrorBody("the request is larger than " +
                          std::to_string(options_.max_request_bytes) +
                          " bytes; split the list into several submissions"),
                kJson);
          } else {
            res.set_content(
                ErrorBody("HTTP status " + std::to_string(res.status)), kJson);
          }
        });
    s.set_exception_handler([](const httplib::Request& req,
                               httplib::Response& res, std::exception_ptr e) {
      std::string what = "unknown";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        what = ex.what();
      } catch (...) {
      }
      spdlog::error("api: {} {} failed: {}", req.method, req.path, what);
      res.status = 500;
      res.set_content(ErrorBody("internal error"), kJson);
    });
    // Paths only: a query string may hold a case reference.
    s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::info("api: {} {} {} {}", t_actor, req.method, req.path,
                   res.status);
      t_actor = "anonymous";
    });
    s.Get("/api/v1/health",
          [this](const httplib::Request& req, httplib::Response& res) {
            Authorize(req, res);
            res.set_content("{\"status\":\"ok\"}", kJson);
          });
    s.Post("/api/v1/batches",
           [this](const httplib::Request& req, httplib::Response& res) {
             if (auto token = Authorize(req, res)) Submit(*token, req, res);
           });
    s.Get(R"(/api/v1/batches/(\d+))",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) BatchStatusOf(req, res);
          });
    RouteBatchViews(s);
    s.Get(R"(/api/v1/batches/(\d+)/export)",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (auto token = Authorize(req, res)) Export(*token, req, res);
          });
    s.Get(R"(/api/v1/batches/(\d+)/referrals/([A-Za-z]+\.[a-z]+(\.chain)?))",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (auto token = Authorize(req, res)) Referrals(*token, req, res);
          });
    s.Get(R"(/api/v1/exports/([0-9a-f]{32})/manifest)",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) ManifestOf(req, res);
          });
    s.Get("/api/v1/signing-key",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) PublicSigningKey(res);
          });
    s.Get("/api/v1/results",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) Results(req, res);
          });
    s.Get("/api/v1/history",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) History(req, res);
          });
    s.Get("/api/v1/reports/takedown",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) Takedown(req, res);
          });
    // The web UI's files: no token (they hold no data; docs/webui.md).
    RegisterWebUi(s);
    s.Get("/metrics",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (Authorize(req, res)) Metrics(res);
          });
  }

  void Submit(const TokenEntry& token, const httplib::Request& req,
              httplib::Response& res) {
    auto params = ParseSubmitParams(req.params);
    if (!params.ok()) return Fail(res, params.status());
    BatchSpec spec;
    spec.source = "api";
    spec.submitter = token.name;
    spec.case_reference = params->case_reference;
    spec.referer = params->referer;
    spec.user_agent = params->user_agent;
    spec.max_result_age_ms = params->max_result_age_ms;
    spec.config_digest = options_.config_digest;
    std::string text;
    if (req.is_multipart_form_data()) {
      if (!req.has_file("file")) {
        return Fail(res, InvalidArgument(
                             "a multipart upload needs a part named \"file\""));
      }
      const auto file = req.get_file_value("file");
      if (!file.filename.empty()) spec.source = "api:" + file.filename;
      text = file.content;
    } else if (req.get_header_value("Content-Type").starts_with(kJson)) {
      auto list = UrlListFromJson(req.body);
      if (!list.ok()) return Fail(res, list.status());
      text = *std::move(list);
    } else {
      text = req.body;
    }
    auto reader = InputReader::FromText(std::move(text));
    if (!reader.ok()) return Fail(res, reader.status());
    nlohmann::json rejected = nlohmann::json::array();
    auto summary =
        IngestBatch(*store_, **reader, spec, clock_(), [&](const Rejection& r) {
          rejected.push_back({{"line", r.line},
                              {"input", r.input},
                              {"reason", r.reason},
                              {"detail", r.detail}});
        });
    if (!summary.ok()) {
      spdlog::error("api: submission by {} failed: {}", token.name,
                    summary.status().message());
      return Fail(res, summary.status());
    }
    const pb::RunRecord& run = summary->run;
    Audit(token.name, "submit",
          "batch " + std::to_string(run.run_id()) + ": " +
              std::to_string(run.lines()) + " lines, " +
              std::to_string(run.rejected()) + " rejected");
    nlohmann::ordered_json body = {
        {"batch_id", run.run_id()},
        {"lines", run.lines()},
        {"accepted", run.lines() - run.rejected()},
        {"rejected", run.rejected()},
        {"new_jobs", summary->new_jobs},
        {"reused_jobs", summary->reused_jobs},
        {"rejections", std::move(rejected)},
    };
    res.status = 201;
    res.set_content(
        body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        kJson);
  }

  void BatchStatusOf(const httplib::Request& req, httplib::Response& res) {
    const auto id = BatchId(req);
    if (!id) return Fail(res, NotFound("no such batch"));
    auto status = GetBatchStatus(*store_, *id, clock_());
    if (!status.ok()) return Fail(res, status.status());
    res.set_content(BatchStatusJson(*status), kJson);
  }

  // The endpoints of coordinator/api_batches.h.
  void RouteBatchViews(httplib::Server& s) {
    s.Get("/api/v1/session",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (auto token = Authorize(req, res)) {
              res.set_content(SessionJson(*token), kJson);
            }
          });
    s.Get("/api/v1/batches",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (!Authorize(req, res)) return;
            Answer(res, BatchListBody(*store_, req.params, clock_()));
          });
    s.Get(R"(/api/v1/batches/(\d+)/rows)",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (!Authorize(req, res)) return;
            const auto id = BatchId(req);
            if (!id) return Fail(res, NotFound("no such batch"));
            Answer(res, RowsBody(tables_, *id, req.params, clock_()));
          });
    s.Get(R"(/api/v1/batches/(\d+)/lines/(\d+))",
          [this](const httplib::Request& req, httplib::Response& res) {
            if (!Authorize(req, res)) return;
            const auto id = BatchId(req);
            const auto line = BatchId(req, 2);
            if (!id || !line) return Fail(res, NotFound("no such line"));
            Answer(res, LineDetailJson(*store_, *id, *line, options_.history));
          });
    const auto recheck = [this](const httplib::Request& req,
                                httplib::Response& res) {
      auto token = Authorize(req, res);
      if (!token) return;
      const auto id = BatchId(req);
      std::optional<uint64_t> line = 0;  // 0: the whole batch
      if (req.matches.size() > 2) line = BatchId(req, 2);
      if (!id || !line) return Fail(res, NotFound("no such batch or line"));
      std::string detail;
      auto body = RecheckBody(*store_, *id, *line, clock_(), &detail);
      if (body.ok()) Audit(token->name, "recheck", detail);
      Answer(res, std::move(body), 202);
    };
    s.Post(R"(/api/v1/batches/(\d+)/recheck)", recheck);
    s.Post(R"(/api/v1/batches/(\d+)/lines/(\d+)/recheck)", recheck);
  }

  static void Answer(httplib::Response& res, Result<std::string> body,
                     int status = 200) {
    if (!body.ok()) return Fail(res, body.status());
    res.status = status;
    res.set_content(*std::move(body), kJson);
  }

  void Results(const httplib::Request& req, httplib::Response& res) {
    auto query = ParseResultsQuery(req.params);
    if (!query.ok()) return Fail(res, query.status());
    if (query->run_id != 0) {
      if (auto run = store_->GetRun(query->run_id); !run.ok()) {
        return Fail(res, run.status());
      }
    }
    auto page = ResultsPageJson(*store_, *query, options_.history);
    if (!page.ok()) return Fail(res, page.status());
    res.set_content(*std::move(page), kJson);
  }

  void History(const httplib::Request& req, httplib::Response& res) {
    const std::string subject =
        req.has_param("job")   ? req.get_param_value("job")
        : req.has_param("url") ? req.get_param_value("url")
                               : "";
    if (subject.empty()) {
      return Fail(res, InvalidArgument("name the URL with ?url=... or the job "
                                       "with ?job=N"));
    }
    auto job = FindHistoryJob(*store_, subject);
    if (!job.ok()) return Fail(res, job.status());
    auto body = HistoryJson(*store_, *job, options_.history);
    if (!body.ok()) return Fail(res, body.status());
    res.set_content(*std::move(body), kJson);
  }

  void Takedown(const httplib::Request& req, httplib::Response& res) {
    auto params = ParseTakedownParams(req.params);
    if (!params.ok()) return Fail(res, params.status());
    auto body = TakedownJson(*store_, *params, options_.history);
    if (!body.ok()) return Fail(res, body.status());
    res.set_content(*std::move(body), kJson);
  }

  void Export(const TokenEntry& token, const httplib::Request& req,
              httplib::Response& res) {
    const auto id = BatchId(req);
    if (!id) return Fail(res, NotFound("no such batch"));
    auto run = store_->GetRun(*id);
    if (!run.ok()) return Fail(res, run.status());
    const std::string format =
        req.has_param("format") ? req.get_param_value("format") : "jsonl";
    if (format != "csv" && format != "jsonl") {
      return Fail(res, InvalidArgument("format is csv or jsonl"));
    }
    auto key = SigningKeyForExport();
    if (!key.ok()) return Fail(res, key.status());
    const ExportFormat f =
        format == "csv" ? ExportFormat::kCsv : ExportFormat::kJsonl;
    auto evidence = std::make_shared<ExportEvidence>(*run, ExportParameters(f),
                                                     token.name, clock_());
    if (Status s = evidence->AddFile(ExportFileName(*id, f),
                                     f == ExportFormat::kCsv ? 1 : 0);
        !s.ok()) {
      return Fail(res, s);
    }
    Audit(token.name, "export",
          "batch " + std::to_string(*id) + " as " + format + " export " +
              evidence->export_id());
    res.set_header("X-Hostlocator-Export", evidence->export_id());
    auto next_line = std::make_shared<uint64_t>(0);
    const uint64_t run_id = *id;
    res.set_chunked_content_provider(
        format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
        [this, run_id, f, next_line, evidence, key = *key](
            size_t, httplib::DataSink& sink) {
          std::string chunk;
          auto ended = AppendExportChunk(*store_, run_id, f, kExportChunkBytes,
                                         next_line.get(), &chunk,
                                         options_.history, evidence->sources());
          if (!ended.ok()) {
            spdlog::error("api: export of batch {} failed: {}", run_id,
                          ended.status().message());
            return false;  // the client sees a truncated chunked body
          }
          evidence->Update(chunk);
          if (*ended) {
            // Signed before the last bytes go out, so a client that has
            // the whole body can fetch the manifest.
            auto manifest = evidence->Finish(store_, key, clock_());
            if (!manifest.ok()) {
              spdlog::error("api: signing export {} failed: {}",
                            evidence->export_id(), manifest.status().message());
              return false;
            }
            if (Status kept = store_->PutExportManifest(evidence->export_id(),
                                                        *manifest, clock_());
                !kept.ok()) {
              spdlog::error("api: keeping the manifest of export {} failed: {}",
                            evidence->export_id(), kept.message());
              return false;
            }
          }
          if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) {
            return false;
          }
          if (*ended) sink.done();
          return true;
        });
  }

  // One file of a batch's referral packages (coordinator/referral_package.h),
  // or the whole set as packages.tar, filtered by the from, to, country and
  // status parameters as `hostlocator export --by jurisdiction` filters. The
  // set is signed as one export (docs/evidence.md); its id is in the
  // X-Hostlocator-Export header and its manifest is kept in the store.
  void Referrals(const TokenEntry& token, const httplib::Request& req,
                 httplib::Response& res) {
    const auto id = BatchId(req);
    if (!id) return Fail(res, NotFound("no such batch"));
    auto run = store_->GetRun(*id);
    if (!run.ok()) return Fail(res, run.status());
    const auto values = [&](const char* name) {
      std::vector<std::string> out;
      for (size_t i = 0; i < req.get_param_value_count(name); ++i) {
        out.push_back(req.get_param_value(name, i));
      }
      return out;
    };
    const std::string from = req.get_param_value("from");
    const std::string to = req.get_param_value("to");
    auto filter =
        MakePackageFilter(from, to, values("country"), values("status"));
    if (!filter.ok()) return Fail(res, filter.status());
    const std::string file = req.matches[2];
    const bool archive = file == kPackageArchiveName;
    auto path =
        archive ? Result<std::string>(std::string()) : PackageFilePath(file);
    if (!path.ok()) return Fail(res, path.status());
    auto key = SigningKeyForExport();
    if (!key.ok()) return Fail(res, key.status());
    PackageOptions options;
    options.filter = *std::move(filter);
    options.generated_at_ms = clock_();
    options.tool_version = std::string(hl::ToolVersion());
    options.runs = {*run};
    options.history = options_.history;
    auto set = SignedReferralPackages(
        store_, *run, std::move(options),
        PackageParameters(from, to, values("country"), values("status")),
        token.name, *key, clock_(),
        [&](const std::string& p) { return archive || p == *path; });
    if (!set.ok()) return Fail(res, set.status());
    auto it = set->files.find(archive ? kPackageManifestName : *path);
    if (it == set->files.end()) {
      return Fail(res,
                  NotFound("no line of batch " + std::to_string(*id) +
                           " is in package " + file.substr(0, file.find('.'))));
    }
    const std::string& manifest = set->files[kPackageManifestName];
    if (Status kept =
            store_->PutExportManifest(set->export_id, manifest, clock_());
        !kept.ok()) {
      return Fail(res, kept);
    }
    Audit(token.name, "export",
          "batch " + std::to_string(*id) + " referral package " + file +
              " export " + set->export_id);
    res.set_header("X-Hostlocator-Export", set->export_id);
    if (archive) {
      auto tar = evidence::WriteTar(set->files, clock_() / 1000);
      if (!tar.ok()) return Fail(res, tar.status());
      return res.set_content(*std::move(tar), "application/x-tar");
    }
    const std::string ext = file.substr(file.rfind('.') + 1);
    res.set_content(std::move(it->second),
                    ext == "html"   ? "text/html; charset=utf-8"
                    : ext == "csv"  ? "text/csv; charset=utf-8"
                    : ext == "json" ? kJson
                                    : "text/plain; charset=utf-8");
  }

  // The signing key, loaded (or created) on the first export.
  Result<SigningKey> SigningKeyForExport() {
    std::lock_guard lock(evidence_mu_);
    if (signing_key_) return *signing_key_;
    std::string path = options_.signing_key_file;
    if (path.empty()) {
      if (options_.data_dir.empty()) {
        return FailedPrecondition(
            "the coordinator has no signing key configured "
            "(coordinator.signing_key_file)");
      }
      path = DefaultSigningKeyPath(options_.data_dir);
    }
    bool created = false;
    auto key = LoadOrCreateSigningKey(path, &created);
    if (!key.ok()) {
      spdlog::error("api: export signing key: {}", key.status().message());
      return Status(StatusCode::kInternal,
                    "the coordinator cannot load its export signing key; "
                    "see its log");
    }
    const std::string fingerprint = SigningKeyFingerprint(key->public_raw());
    if (created) {
      spdlog::info(
          "created the export signing key {} (mode 0600) and {}; key "
          "fingerprint {}",
          path, PublicKeyPathFor(path), fingerprint);
    } else {
      spdlog::info("export signing key {} (fingerprint {})", path, fingerprint);
    }
    signing_key_ = *key;
    return key;
  }

  void ManifestOf(const httplib::Request& req, httplib::Response& res) {
    const std::string& id = req.matches[1];
    auto text = store_->GetExportManifest(id);
    if (!text.ok()) return Fail(res, text.status());
    if (!*text) {
      return Fail(res, NotFound("no signed manifest for export " + id +
                                " (not finished, or purged: export again)"));
    }
    res.set_content(**std::move(text), "text/plain; charset=utf-8");
  }

  void PublicSigningKey(httplib::Response& res) {
    auto key = SigningKeyForExport();
    if (!key.ok()) return Fail(res, key.status());
    res.set_content(key->PublicPem(), "application/x-pem-file");
  }

  void Metrics(httplib::Response& res) {
    MetricsInput input;
    input.queue_depth = store_->pending_count();
    input.in_flight = store_->leased_count();
    input.store_bytes = DirectoryBytes(options_.data_dir);
    if (figures_) input.broker = figures_();
    input.now_ms = clock_();
    res.set_content(FormatMetrics(input), "text/plain; version=0.0.4");
  }

  Store* store_;
  FiguresSource figures_;
  ApiOptions options_;
  Clock clock_;
  std::unique_ptr<httplib::Server> server_;
  std::mutex tokens_mu_;
  TokenTable tokens_;  // guarded by tokens_mu_
  std::pair<int64_t, int64_t> token_stamp_{-1, -1};
  std::mutex evidence_mu_;
  std::optional<SigningKey> signing_key_;  // guarded by evidence_mu_
  BatchTables tables_;                     // the review tables (rows endpoint)
};

ApiServer::ApiServer(Store* store, FiguresSource figures, ApiOptions options,
                     Clock clock)
    : impl_(std::make_unique<Impl>(store, std::move(figures),
                                   std::move(options), std::move(clock))) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Start() {
  HL_RETURN_IF_ERROR(impl_->Init());
  const ApiOptions& o = impl_->options();
  httplib::Server& server = impl_->server();
  const int port = o.port == 0 ? server.bind_to_any_port(o.bind_address)
                   : server.bind_to_port(o.bind_address, o.port) ? o.port
                                                                 : -1;
  if (port <= 0) {
    return Unavailable("the API cannot listen on " + o.bind_address + ":" +
                       std::to_string(o.port) +
                       " (address in use, or not an address of this host)");
  }
  port_ = static_cast<uint16_t>(port);
  thread_ = std::thread([&server] { server.listen_after_bind(); });
  spdlog::info("api: listening on {}:{}", o.bind_address, port_);
  return Status::Ok();
}

void ApiServer::Stop() {
  if (!thread_.joinable()) return;
  // stop() does nothing until the listening loop has begun.
  while (!impl_->server().is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server().stop();
  thread_.join();
}

}  // namespace hl::coordinator
