#include "coordinator/report_follower.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <utility>

#include "coordinator/queries.h"

namespace hl::coordinator {

namespace {

// Ends a ForEachLine visit early without an error (told apart by a flag).
Status StopVisit() { return Unavailable("the visit stops here"); }

// Lines one pass looks at, at most: a pass's iterators pin the RocksDB
// memtables they started on, so a pass that followed a long run of
// finished lines (the follower behind the probes) would hold the memory
// of every memtable flushed meanwhile.
constexpr uint64_t kPassLines = 1024;

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

Result<bool> ReportFollower::ScanFinalJobs(uint64_t window_end) {
  uint64_t last_final_job = 0;
  bool stopped = false;
  bool window_full = false;
  // Lines name their jobs in mostly ascending order: a scan, not a point
  // lookup a line.
  Store::JobReader jobs = store_.NewJobReader();
  Status visited = store_.ForEachLine(
      run_id_,
      [&](const pb::LineRecord& line) -> Status {
        if (line.line() >= window_end) {
          stopped = window_full = true;
          return StopVisit();
        }
        const uint64_t job_id = line.job_id();
        if (job_id != 0 && job_id != last_final_job) {
          auto job = jobs.Get(job_id);
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
  if (!stopped && !visited.ok()) return visited;
  return window_full;
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

Result<bool> ReportFollower::Advance() {
  if (final_until_ < next_line_) final_until_ = next_line_;
  auto window_full = ScanFinalJobs(next_line_ + kPassLines);
  if (!window_full.ok()) return window_full.status();
  HL_RETURN_IF_ERROR(HandOver(final_until_, /*all=*/false));
  return *window_full && next_line_ == final_until_;
}

void ReportFollower::Start() {
  thread_ = std::thread([this] {
    // Linux: a nice value is a thread's own. Failing only costs the
    // probes some time slices, so it is not an error.
    if (options_.nice != 0) setpriority(PRIO_PROCESS, gettid(), options_.nice);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      auto advanced = Advance();
      lock.lock();
      if (!advanced.ok()) {
        thread_status_ = advanced.status();
        return;
      }
      if (*advanced) continue;  // more lines may be final already
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
