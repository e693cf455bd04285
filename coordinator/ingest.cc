#include "coordinator/ingest.h"

#include "common/net/url.h"
#include "common/request_context.h"

namespace hl::coordinator {
namespace {

// Lines per synced WriteBatch: large enough that the fsync of each group
// costs little beside its memtable inserts (with 4,096 the ingest thread
// spent much of its wall time waiting on fsync; bench/README.md), small
// enough (about 1.3 MB of lines) that an interrupted upload keeps most of
// what was read.
constexpr size_t kLinesPerCommit = 32768;

// Calls `accepted(line, normalised_url, context)` or `rejected(rejection)`
// for each line; returns the reader's or a callback's error.
template <typename Accepted, typename Rejected>
Status ForEachInputLine(InputReader& reader, const BatchSpec& spec,
                        Accepted accepted, Rejected rejected) {
  while (true) {
    auto next = reader.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return Status::Ok();
    const InputLine& line = **next;
    auto reject = [&](std::string reason, std::string detail) {
      return rejected(
          Rejection{line.line, line.url, std::move(reason), std::move(detail)});
    };
    if (line.truncated) {
      HL_RETURN_IF_ERROR(reject(
          std::string(net::UrlRejectionReason(net::UrlRejection::kTooLong)),
          "the line is longer than " + std::to_string(kMaxInputLineBytes) +
              " bytes"));
      continue;
    }
    auto url = net::RenormalizeUrl(line.url, /*registrable_domain=*/false);
    if (!url.ok()) {
      HL_RETURN_IF_ERROR(
          reject(std::string(net::UrlRejectionReason(url.error().reason)),
                 url.error().detail));
      continue;
    }
    auto context = MakeRequestContext(
        line.referer.empty() ? spec.referer : line.referer,
        line.user_agent.empty() ? spec.user_agent : line.user_agent);
    if (!context.ok()) {
      HL_RETURN_IF_ERROR(
          reject(context.error().reason, context.error().detail));
      continue;
    }
    HL_RETURN_IF_ERROR(accepted(line, url->url, *context));
  }
}

}  // namespace

Result<IngestSummary> IngestBatch(Store& store, InputReader& reader,
                                  const BatchSpec& spec, int64_t now_ms,
                                  const RejectionSink& on_rejected) {
  pb::RunRecord record;
  record.set_source(spec.source);
  record.set_submitter(spec.submitter);
  record.set_case_reference(spec.case_reference);
  record.set_config_digest(spec.config_digest);
  if (spec.max_result_age_ms >= 0) {
    record.set_max_result_age_ms(spec.max_result_age_ms);
  }
  auto run = store.BeginRun(std::move(record), now_ms);
  if (!run.ok()) return run.status();
  auto ingest =
      store.StartIngest(run->run_id(), now_ms, spec.max_result_age_ms);
  uint64_t lines = 0, rejected = 0;
  auto commit_if_full = [&]() -> Status {
    return ingest->pending_lines() >= kLinesPerCommit ? ingest->Commit()
                                                      : Status::Ok();
  };
  HL_RETURN_IF_ERROR(ForEachInputLine(
      reader, spec,
      [&](const InputLine& line, const std::string& url,
          const pb::RequestContext& context) {
        ++lines;
        HL_RETURN_IF_ERROR(ingest->AddUrl(line.line, line.url, url, context));
        return commit_if_full();
      },
      [&](const Rejection& rejection) {
        ++lines;
        ++rejected;
        if (on_rejected) on_rejected(rejection);
        HL_RETURN_IF_ERROR(ingest->AddRejected(rejection.line, rejection.input,
                                               rejection.reason,
                                               rejection.detail));
        return commit_if_full();
      }));
  HL_RETURN_IF_ERROR(ingest->Commit());
  IngestSummary summary;
  summary.run = *std::move(run);
  summary.run.set_lines(lines);
  summary.run.set_rejected(rejected);
  HL_RETURN_IF_ERROR(store.FinishIngest(summary.run));
  summary.run.set_ingest_complete(true);
  summary.new_jobs = ingest->new_jobs();
  summary.reused_jobs = ingest->reused_jobs();
  return summary;
}

Result<uint64_t> ValidateBatch(InputReader& reader, const BatchSpec& spec,
                               const RejectionSink& on_rejected) {
  uint64_t accepted = 0;
  HL_RETURN_IF_ERROR(ForEachInputLine(
      reader, spec,
      [&](const InputLine&, const std::string&, const pb::RequestContext&) {
        ++accepted;
        return Status::Ok();
      },
      [&](const Rejection& rejection) {
        if (on_rejected) on_rejected(rejection);
        return Status::Ok();
      }));
  return accepted;
}

}  // namespace hl::coordinator
