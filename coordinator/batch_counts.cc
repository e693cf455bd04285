#include "coordinator/batch_counts.h"

#include <algorithm>
#include <array>
#include <utility>

namespace hl::coordinator {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

bool Finished(pb::JobState state) {
  return state == pb::JOB_STATE_DONE || state == pb::JOB_STATE_DEAD;
}

CountField StateField(pb::JobState state) {
  switch (state) {
    case pb::JOB_STATE_LEASED:
      return kInFlightLines;
    case pb::JOB_STATE_DONE:
      return kDoneLines;
    case pb::JOB_STATE_DEAD:
      return kDeadLines;
    default:
      return kPendingLines;
  }
}

// kCountFields for no stored result.
CountField OutcomeField(const std::string& status) {
  if (status == "located") return kLocatedLines;
  if (status == "unresolved") return kUnresolvedLines;
  if (status.empty()) return kCountFields;
  return kErrorLines;
}

}  // namespace

void AddJobLines(const pb::JobRecord& job, int64_t sign,
                 CountChanges* changes) {
  const CountField state = StateField(job.state());
  const CountField outcome = OutcomeField(job.last_status());
  for (const pb::BatchLines& b : job.batches()) {
    CountDelta& d = (*changes)[b.run_id()];
    const int64_t n = sign * static_cast<int64_t>(b.lines());
    d.by_field[state] += n;
    if (outcome != kCountFields) d.by_field[outcome] += n;
    if (sign > 0) d.jobs.push_back(job.job_id());
  }
}

void AddJobChange(const pb::JobRecord& before, const pb::JobRecord& after,
                  CountChanges* changes) {
  AddJobLines(before, -1, changes);
  AddJobLines(after, +1, changes);
  if (!Finished(before.state()) && Finished(after.state())) {
    AddFinished(after, changes);
  }
}

void AddFinished(const pb::JobRecord& job, CountChanges* changes) {
  for (const pb::BatchLines& b : job.batches()) {
    (*changes)[b.run_id()].finished += b.lines();
  }
}

void AddBatchLines(pb::JobRecord* job, uint64_t run_id, uint64_t lines) {
  for (pb::BatchLines& b : *job->mutable_batches()) {
    if (b.run_id() == run_id) {
      b.set_lines(b.lines() + lines);
      return;
    }
  }
  pb::BatchLines* b = job->add_batches();
  b->set_run_id(run_id);
  b->set_lines(lines);
}

pb::BatchCounts Applied(pb::BatchCounts counts, const CountDelta& delta) {
  // The fields in CountField order, through their accessors: the
  // reflection API cost about 20,000 instructions a call, and each store
  // write calls this once per batch it touches.
  using Get = uint64_t (pb::BatchCounts::*)() const;
  using Set = void (pb::BatchCounts::*)(uint64_t);
  static constexpr std::array<std::pair<Get, Set>, kCountFields> kFields = {{
      {&pb::BatchCounts::rejected, &pb::BatchCounts::set_rejected},
      {&pb::BatchCounts::pending, &pb::BatchCounts::set_pending},
      {&pb::BatchCounts::in_flight, &pb::BatchCounts::set_in_flight},
      {&pb::BatchCounts::done, &pb::BatchCounts::set_done},
      {&pb::BatchCounts::dead, &pb::BatchCounts::set_dead},
      {&pb::BatchCounts::located, &pb::BatchCounts::set_located},
      {&pb::BatchCounts::unresolved, &pb::BatchCounts::set_unresolved},
      {&pb::BatchCounts::error, &pb::BatchCounts::set_error},
  }};
  for (size_t i = 0; i < kCountFields; ++i) {
    const auto [get, set] = kFields[i];
    const int64_t value =
        static_cast<int64_t>((counts.*get)()) + delta.by_field[i];
    (counts.*set)(static_cast<uint64_t>(std::max<int64_t>(value, 0)));
  }
  return counts;
}

void FinishRate::Add(int64_t now_ms, uint64_t lines) {
  const int64_t second = FloorDiv(now_ms, 1000);
  if (first_second_ < 0) first_second_ = second;
  const size_t slot = static_cast<size_t>(second % kWindowS);
  if (second_[slot] != second) {
    second_[slot] = second;
    lines_[slot] = 0;
  }
  lines_[slot] += lines;
}

double FinishRate::PerSecond(int64_t now_ms) const {
  if (first_second_ < 0) return 0;
  const int64_t now_s = FloorDiv(now_ms, 1000);
  uint64_t total = 0;
  for (size_t i = 0; i < kWindowS; ++i) {
    if (second_[i] > now_s - kWindowS && second_[i] <= now_s) {
      total += lines_[i];
    }
  }
  const int64_t seconds =
      std::clamp<int64_t>(now_s - first_second_ + 1, 1, kWindowS);
  return static_cast<double>(total) / static_cast<double>(seconds);
}

}  // namespace hl::coordinator
