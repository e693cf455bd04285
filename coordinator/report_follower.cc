#include "coordinator/report_follower.h"

#include <chrono>
#include <optional>
#include <utility>

#include "coordinator/queries.h"

namespace hl::coordinator {

namespace {

// Ends a ForEachLine visit early without an error (told apart by a flag).
Status StopVisit() { return Unavailable("the visit stops here"); }

// Nothing can change the job's outcome during the run any more: DONE
// without a periodic re-check due (its `due` entry could queue it again),
// or DEAD (only an ingest or an API call queues it again, and `run` makes
// neither while it probes).
bool Final(const pb::JobRecord& job) {
  return job.state() == pb::JOB_STATE_DEAD ||
         (job.state() == pb::JOB_STATE_DONE && job.recheck_due_unix_ms() == 0);
}

}  // namespace

ReportFollower::ReportFollower(const Store& store, uint64_t run_id,
                               const HistorySettings* settings, Options options,
                               Consumer consume)
    : store_(store),
      run_id_(run_id),
      settings_(settings),
      options_(options),
      consume_(std::move(consume)) {}

ReportFollower::~ReportFollower() { Stop(); }

Status ReportFollower::ScanFinalJobs() {
  uint64_t last_final_job = 0;
  bool stopped = false;
  Status visited = store_.ForEachLine(
      run_id_,
      [&](const pb::LineRecord& line) -> Status {
        const uint64_t job_id = line.job_id();
        if (job_id != 0 && job_id != last_final_job) {
          auto job = store_.GetJob(job_id);
          if (!job.ok()) return job.status();
          if (!Final(*job)) {
            stopped = true;
            return StopVisit();
          }
          last_final_job = job_id;
        }
        final_until_ = line.line() + 1;
        return Status::Ok();
      },
      final_until_);
  return stopped ? Status::Ok() : visited;
}

Status ReportFollower::HandOver(uint64_t until, bool all) {
  if (!all && next_line_ >= until) return Status::Ok();
  // Made after the job states were read: it sees their last results.
  OutcomeReader outcomes(store_, settings_);
  LineOutcome outcome;
  bool stopped = false;
  Status visited = store_.ForEachLine(
      run_id_,
      [&](const pb::LineRecord& line) -> Status {
        if (!all && (line.line() >= until || stop_requested_.load())) {
          stopped = true;
          return StopVisit();
        }
        auto read = outcomes.Read(line, &outcome);
        if (!read.ok()) return read.status();
        if (!all && (!*read || (options_.await_enrichment && outcome.latest &&
                                outcome.latest->rdap().state() == "pending"))) {
          stopped = true;
          return StopVisit();
        }
        HL_RETURN_IF_ERROR(
            consume_(line, outcome.latest ? &*outcome.latest : nullptr,
                     outcome.history ? &*outcome.history : nullptr));
        next_line_ = line.line() + 1;
        return Status::Ok();
      },
      next_line_);
  return stopped ? Status::Ok() : visited;
}

Status ReportFollower::Advance() {
  if (final_until_ < next_line_) final_until_ = next_line_;
  HL_RETURN_IF_ERROR(ScanFinalJobs());
  return HandOver(final_until_, /*all=*/false);
}

void ReportFollower::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      Status advanced = Advance();
      lock.lock();
      if (!advanced.ok()) {
        thread_status_ = std::move(advanced);
        return;
      }
      wake_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                     [this] { return stop_; });
    }
  });
}

void ReportFollower::Stop() {
  stop_requested_.store(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status ReportFollower::Finish() {
  Stop();
  if (!thread_status_.ok()) return thread_status_;
  return HandOver(0, /*all=*/true);
}

}  // namespace hl::coordinator
