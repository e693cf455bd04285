// The durable job store (RocksDB).
//
// Column families and key encodings (schema version 1; all integers
// big-endian so byte order is numeric order):
//   meta       "schema_version" -> decimal text; "next_job_id",
//              "next_run_id" -> u64
//   jobs       u64 job_id -> JobRecord
//   url_index  JobKey(normalised URL, request context) -> u64 job_id (dedup)
//   queue      u64 job_id -> "" (pending jobs, dispatched in id order)
//   results    u64 job_id . u32 check -> Observation (every check kept)
//   runs       u64 run_id -> RunRecord
//   lines      u64 run_id . u64 line -> LineRecord
//   audit      u64 seq -> AuditRecord (append-only, synced)
//
// Invariants: a job is in `queue` iff its state is PENDING; each state
// transition is one WriteBatch; ingested lines are synced to the WAL before
// Ingest::Commit returns (a submission is acknowledged only when durable).
// Thread-safe: the broker thread and API threads share one Store. Job state
// transitions are serialised by one mutex; reads go to RocksDB directly and
// see each transition whole. Ingests are serialised with one another (an
// Ingest holds the ingest lock from StartIngest until it is destroyed), so
// two submissions of the same URL cannot both create its job; a thread must
// not start a second Ingest while it holds one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "coordinator/store_memory_trace.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace hl::coordinator {

namespace pb = ::hostlocator::v1;

inline constexpr uint32_t kStoreSchemaVersion = 1;

class Store {
 public:
  // Opens or creates the store in `dir` (created with mode 0700). A store
  // written with another schema version is refused with a clear message.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Puts jobs that a previous process left LEASED back in the queue
  // (attempt not counted: the process died, not the job). Returns how many.
  Result<uint64_t> RecoverLeases(int64_t now_ms);

  // Records a new run (a submitted batch): `run` as given (source,
  // submitter, case reference, ...) with its run_id and start time set.
  Result<pb::RunRecord> BeginRun(pb::RunRecord run, int64_t now_ms);
  Status FinishIngest(pb::RunRecord run);

  // Accumulates the lines of one run; Commit writes them, their new jobs and
  // queue entries in one synced WriteBatch.
  class Ingest {
   public:
    ~Ingest();
    // Records a line that became (or joined) the job for `normalized_url`
    // probed with `context` (JobKey is the identity). A job that is DONE is
    // reused without a new probe; a DEAD one is re-queued with its attempt
    // count reset.
    Status AddUrl(uint64_t line, const std::string& input,
                  const std::string& normalized_url,
                  const pb::RequestContext& context);
    Status AddRejected(uint64_t line, const std::string& input,
                       const std::string& reason, const std::string& detail);
    Status Commit();
    size_t pending_lines() const { return lines_in_batch_; }
    uint64_t new_jobs() const { return new_jobs_; }
    uint64_t reused_jobs() const { return reused_jobs_; }

   private:
    friend class Store;
    Ingest(Store* store, uint64_t run_id, int64_t now_ms);
    Status PutLine(const pb::LineRecord& line);
    Store* store_;
    std::unique_lock<std::mutex> ingest_lock_;
    uint64_t run_id_;
    int64_t now_ms_;
    std::unique_ptr<rocksdb::WriteBatch> batch_;
    // Job keys given a job in this uncommitted batch (not yet readable).
    std::unordered_map<std::string, uint64_t> batch_urls_;
    size_t lines_in_batch_ = 0;
    uint64_t queued_in_batch_ = 0;
    uint64_t lowest_requeued_ = UINT64_MAX;  // in this batch
    uint64_t new_jobs_ = 0;
    uint64_t reused_jobs_ = 0;
  };
  std::unique_ptr<Ingest> StartIngest(uint64_t run_id, int64_t now_ms);

  // Takes up to `max` pending jobs in id order and marks them LEASED with
  // attempts incremented.
  Result<std::vector<pb::JobRecord>> LeasePending(size_t max, int64_t now_ms);
  // Returns a LEASED job to the queue, or to DEAD when its attempts reached
  // `max_attempts`. `error` becomes last_error. With count_attempt false
  // (the job was handed back unstarted) the lease does not use an attempt.
  Status Requeue(uint64_t job_id, const std::string& error,
                 uint32_t max_attempts, bool count_attempt, int64_t now_ms);
  // Appends a result, marks the job DONE and returns the job as stored.
  // Returns kAlreadyExists (and stores nothing) when the job is not LEASED
  // for `attempt`: a late or duplicate result.
  Result<pb::JobRecord> StoreResult(uint64_t job_id, uint32_t attempt,
                                    const pb::Observation& observation,
                                    int64_t now_ms);

  Result<pb::JobRecord> GetJob(uint64_t job_id) const;
  // The newest check of a job, if any.
  Result<std::optional<pb::Observation>> LatestResult(uint64_t job_id) const;
  Result<pb::RunRecord> GetRun(uint64_t run_id) const;
  // The newest run, NotFound when there is none.
  Result<pb::RunRecord> LatestRun() const;

  // Visits the lines of a run in line order; stops early on a non-OK status.
  Status ForEachLine(
      uint64_t run_id,
      const std::function<Status(const pb::LineRecord&)>& fn) const;
  // Visits every job in id order.
  Status ForEachJob(
      const std::function<Status(const pb::JobRecord&)>& fn) const;

  // Appends to the audit log, synced before it returns.
  Result<pb::AuditRecord> AppendAudit(const std::string& actor,
                                      const std::string& action,
                                      const std::string& detail,
                                      int64_t now_ms);
  // Visits the audit log from `from_seq` (1 = the start) in order.
  Status ForEachAudit(
      uint64_t from_seq,
      const std::function<Status(const pb::AuditRecord&)>& fn) const;

  uint64_t pending_count() const;
  uint64_t leased_count() const;

 private:
  Store() = default;
  Status Init();
  Status Write(rocksdb::WriteBatch* batch, bool sync);
  Result<std::optional<uint64_t>> FindJob(const std::string& key) const;
  Status PutJob(rocksdb::WriteBatch* batch, const pb::JobRecord& job);
  Status CountStates();

  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<StoreMemoryTrace> memory_trace_;  // null unless enabled
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* jobs_ = nullptr;
  rocksdb::ColumnFamilyHandle* url_index_ = nullptr;
  rocksdb::ColumnFamilyHandle* queue_ = nullptr;
  rocksdb::ColumnFamilyHandle* results_ = nullptr;
  rocksdb::ColumnFamilyHandle* runs_ = nullptr;
  rocksdb::ColumnFamilyHandle* lines_ = nullptr;
  rocksdb::ColumnFamilyHandle* audit_ = nullptr;
  // Guards the members below and every job read-modify-write.
  mutable std::mutex mu_;
  std::mutex ingest_mu_;  // held by the one live Ingest
  uint64_t next_job_id_ = 1;
  uint64_t next_run_id_ = 1;
  uint64_t next_audit_seq_ = 1;
  // Smallest job id that may be in the queue; avoids scanning the
  // tombstones of dispatched entries at the head of the queue.
  uint64_t queue_floor_ = 0;
  uint64_t pending_count_ = 0;
  uint64_t leased_count_ = 0;
};

}  // namespace hl::coordinator
