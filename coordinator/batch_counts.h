// Per-batch line counters: the arithmetic the Store applies, in the same
// WriteBatch, to every job state change, and the recent finishing rate of a
// batch. Pure; tested from tables of cases.
//
// A job records the batches that have lines on it (JobRecord.batches, with
// the number of lines each) and the status of its latest result
// (JobRecord.last_status). A change of the job from `before` to `after`
// moves every one of those lines, in each of its batches, from the
// counters of `before` to those of `after`; so the counters of a batch are
// exact however many batches share its jobs.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/proto/hostlocator.pb.h"

namespace hl::coordinator {

namespace pb = ::hostlocator::v1;

// The fields of pb::BatchCounts, in its field order.
enum CountField : size_t {
  kRejectedLines,
  kPendingLines,
  kInFlightLines,
  kDoneLines,
  kDeadLines,
  kLocatedLines,
  kUnresolvedLines,
  kErrorLines,
  kCountFields,
};

// Signed changes to one batch's counters, and how many of its lines
// became finished (their job DONE or DEAD from another state; lines that
// join a finished job are not counted).
struct CountDelta {
  std::array<int64_t, kCountFields> by_field{};
  uint64_t finished = 0;
  std::vector<uint64_t> jobs;  // the jobs changed (Store::ChangedJobs)
};
// The changes to each batch touched, by run id.
using CountChanges = std::unordered_map<uint64_t, CountDelta>;

// Adds to `changes` what `before` becoming `after` (one job, possibly with
// more lines in `after`) changes in each of its batches' counters.
void AddJobChange(const pb::JobRecord& before, const pb::JobRecord& after,
                  CountChanges* changes);
// Adds the job's lines, in each of its batches, by its state and last
// status, times `sign` (+1 or -1); with +1 the job is listed as changed.
void AddJobLines(const pb::JobRecord& job, int64_t sign, CountChanges* changes);
// Counts every line of `job`, in each of its batches, as finished: the job
// became DONE or DEAD from another state.
void AddFinished(const pb::JobRecord& job, CountChanges* changes);
// Adds `lines` lines of run `run_id` to the job's batches.
void AddBatchLines(pb::JobRecord* job, uint64_t run_id, uint64_t lines);

// `counts` with `delta` applied; a counter never goes below 0.
pb::BatchCounts Applied(pb::BatchCounts counts, const CountDelta& delta);

// The lines of a batch finished per second over the last kWindowS seconds
// the server saw (from the first one seen when the batch is younger).
class FinishRate {
 public:
  static constexpr int64_t kWindowS = 30;
  void Add(int64_t now_ms, uint64_t lines);
  // 0 when nothing finished in the window.
  double PerSecond(int64_t now_ms) const;

 private:
  std::array<uint64_t, kWindowS> lines_{};
  std::array<int64_t, kWindowS> second_{};  // which second each slot holds
  int64_t first_second_ = -1;
};

}  // namespace hl::coordinator
