// The report follower: hands the lines of one run to its report writer in
// line order while the run's jobs are still being probed, so that `run`
// writes its reports during the probes instead of after them.
//
// A line goes as soon as its outcome is final for the run: a rejected line
// at once; a line whose job is DONE without a periodic re-check due (no
// `due` entry: nothing can queue it again during the run) or DEAD, once its
// latest result no longer awaits RDAP enrichment (rdap.state "pending")
// when enrichment is awaited. The first line that is not final stops the
// pass; the next pass starts there. Finish hands over the rest as it
// stands, exactly as a writer that reads every line after the probes
// would (a job still without outcome: no observation; a result still
// awaiting enrichment: its rdap.state "pending"), so the consumer receives
// the same lines with the same outcomes in the same order either way.
//
// Memory: a cursor (the next line, and how far the jobs are known final),
// not the records.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "common/history.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "coordinator/store.h"

namespace hl::coordinator {

class ReportFollower {
 public:
  // RunReportWriter::Add's signature: `obs` null for rejected lines and
  // jobs without a result, `history` null with it.
  using Consumer = std::function<Status(const pb::LineRecord& line,
                                        const pb::Observation* obs,
                                        const HistorySummary* history)>;
  struct Options {
    // Lines whose result awaits RDAP enrichment wait for it (rdap.enabled).
    bool await_enrichment = false;
    // How often the thread (Start) looks for lines that became final.
    int64_t interval_ms = 100;
    // The thread's nice value (setpriority): above 0 it yields the core to
    // the probing threads and runs in the time they wait.
    int nice = 0;
  };
  // `settings` as for OutcomeReader (null: no history summaries). `store`
  // and `settings` must outlive the follower.
  ReportFollower(const Store& store, uint64_t run_id,
                 const HistorySettings* settings, Options options,
                 Consumer consume);
  ~ReportFollower();  // Stop()
  ReportFollower(const ReportFollower&) = delete;
  ReportFollower& operator=(const ReportFollower&) = delete;

  // Hands over the lines from the cursor on whose outcome is final now,
  // stopping at the first that is not, or after a bounded number of lines
  // (then returns true: call again). Not to be called while the thread
  // runs.
  Result<bool> Advance();
  // Calls Advance on a thread of its own every options.interval_ms until
  // Stop or Finish; the first error ends the thread (Finish returns it).
  void Start();
  // Ends the thread (if any) without handing over more lines.
  void Stop();
  // Stop, then hands over every remaining line as it stands. Returns the
  // thread's error, if it had one, instead.
  Status Finish();

  // The line the next pass starts at (1-based; lines before it were handed
  // over).
  uint64_t next_line() const { return next_line_; }

 private:
  // Moves final_until_ past the lines whose jobs are final, up to line
  // `window_end` (job states read now, before the results are read, so
  // that the results read after it see those jobs' last results). True
  // when it stopped at `window_end`.
  Result<bool> ScanFinalJobs(uint64_t window_end);
  // Hands over lines [next_line_, until), or, with `all`, every remaining
  // line; stops early at a line whose result is not yet usable unless
  // `all`.
  Status HandOver(uint64_t until, bool all);

  const Store& store_;
  const uint64_t run_id_;
  const HistorySettings* const settings_;
  const Options options_;
  const Consumer consume_;
  uint64_t next_line_ = 1;
  // Every line in [next_line_, final_until_) has a final job (or none).
  uint64_t final_until_ = 1;

  // Set by Stop: a pass under way ends at the next line.
  std::atomic<bool> stop_requested_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  Status thread_status_;
  std::thread thread_;
};

}  // namespace hl::coordinator
