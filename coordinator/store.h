// The durable job store (RocksDB).
//
// Column families and key encodings (schema version 3; all integers
// big-endian so byte order is numeric order):
//   meta       "schema_version" -> decimal text; "next_job_id",
//              "next_run_id" -> u64; "data_sources/" + SHA-256 hex ->
//              a set of data sources (an Observation holding only
//              data_sources), named by results' data_sources_ref;
//              "referrals/" + SHA-256 hex -> a set of referral targets (a
//              Jurisdiction holding only referrals and referral_warning),
//              named by results' referrals_ref
//   jobs       u64 job_id -> JobRecord
//   url_index  JobKey(normalised URL, request context) -> u64 job_id (dedup)
//   queue      u64 job_id -> "" (pending jobs, dispatched in id order)
//   results    u64 job_id . u32 check -> Observation (every check kept),
//              its data_sources and referral targets replaced by
//              data_sources_ref and referrals_ref: each the same in many
//              results and together about a third of a record, they are
//              written once per distinct set;
//              u64 job_id . u32 check . "e" -> the result's RDAP
//              enrichment (an Observation holding rdap and registration),
//              written beside the result instead of rewriting it.
//              Every read puts both back (ParseResult, AttachDataSources,
//              AddEnrichment); results written before carry them inline
//   runs       u64 run_id -> RunRecord
//   lines      u64 run_id . u64 line -> LineRecord
//   audit      u64 seq -> AuditRecord (append-only, synced)
//   due        u64 due_ms . u64 job_id -> "" (periodic re-checks, soonest
//              first; mirrored by JobRecord.recheck_due_unix_ms)
//   enrich     u64 job_id . u32 check -> "" (results awaiting RDAP
//              enrichment, coordinator/enricher.h)
//   rdap_cache key -> RdapCacheEntry (RDAP answers with their expiry;
//              coordinator/rdap_cache.h owns the key layout)
//   batch_counts u64 run_id -> BatchCounts (the batch's lines by job state
//              and by result status; coordinator/batch_counts.h)
//
// Version 3 added referrals_ref and the enrichment records; its reader
// reads version 2's records as they are, so a version 2 folder opens
// read-only as it is and is marked version 3 when opened for writing
// (older binaries then refuse it: they would miss enrichments and
// referral targets).
// Version 2 added `batch_counts` and the JobRecord fields `batches` and
// `last_status`; a version 1 folder is migrated when opened for writing
// (resumable: meta "v2_progress" holds the next line to migrate).
// The `enrich` and `rdap_cache` families were added the same way (created
// empty in an older folder).
// The `due` family and the JobRecord fields last_check_unix_ms and
// recheck_due_unix_ms were added without a version change: a folder written
// before them opens as it is (the family is created empty; a DONE job
// without last_check_unix_ms counts from its updated_unix_ms).
//
// Invariants: a job is in `queue` iff its state is PENDING; a job has a
// `due` entry iff recheck_due_unix_ms is set, only while DONE; a job's
// `batches` count its lines in each batch; a batch's `batch_counts` equal
// the sum over its lines (rejected, or by their job's state and
// last_status); each state transition is one WriteBatch, counters
// included; ingested lines are synced to the WAL before
// Ingest::Commit returns (a submission is acknowledged only when durable).
// Thread-safe: the broker thread and API threads share one Store. Job state
// transitions are serialised by one mutex; reads go to RocksDB directly and
// see each transition whole. Ingests are serialised with one another (an
// Ingest holds the ingest lock from StartIngest until it is destroyed), so
// two submissions of the same URL cannot both create its job; a thread must
// not start a second Ingest while it holds one.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/config.h"
#include "common/proto/enrichment_source.pb.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "coordinator/batch_counts.h"
#include "coordinator/parking.h"
#include "coordinator/store_memory_trace.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Iterator;
class WriteBatch;
}  // namespace rocksdb

namespace hl::coordinator {

namespace pb = ::hostlocator::v1;

inline constexpr uint32_t kStoreSchemaVersion = 3;

// Store-wide policies (config [coordinator]).
struct StorePolicy {
  // A batch that sets no maximum result age accepts results this old.
  int64_t default_max_result_age_ms = int64_t{86400} * 1000;
  // A located URL is queued again this long after its latest check (its
  // `due` entry); 0: no periodic re-checks.
  int64_t recheck_interval_ms = 0;
  // Every stored result also gets an `enrich` entry, in the same
  // WriteBatch (config rdap.enabled).
  bool enrich_results = false;
};

// The policy of config [coordinator].
StorePolicy StorePolicyOf(const Config& config);

// What a purge removed (or, dry, would remove).
struct PurgeCounts {
  uint64_t runs = 0;
  uint64_t lines = 0;
  uint64_t results = 0;
  uint64_t jobs = 0;
  uint64_t manifests = 0;  // signed export manifests
};

// Admits a pending job for leasing (nullopt), or names the key (a fleet
// politeness cap: FleetPoliteness::Refusal) that holds it back: the job
// stays queued, parked under that key until Store::WakeParked(key).
using LeaseFilter =
    std::function<std::optional<std::string>(const pb::JobRecord&)>;

class Store {
 public:
  // Opens or creates the store in `dir` (created with mode 0700). A store
  // written with another schema version is refused with a clear message.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir,
                                             StorePolicy policy = {});
  // Opens an existing store read-only: a snapshot of what is written at
  // the time of the call, readable while another process serves it (tests
  // poll progress this way). Writes fail. A folder of an older schema
  // version is refused (open it for writing once to migrate it).
  static Result<std::unique_ptr<Store>> OpenReadOnly(const std::string& dir);
  // Copies the checkpoint in `backup_dir` (made by Checkpoint) into
  // `data_dir`, which must be missing or empty, and opens it (so its schema
  // version is checked). On an error `data_dir` is left empty.
  static Result<std::unique_ptr<Store>> Restore(const std::string& backup_dir,
                                                const std::string& data_dir,
                                                StorePolicy policy = {});
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
    // A known job is joined or queued for a new check as DecideKnownJob
    // (coordinator/scheduler.h) says for the ingest's maximum result age;
    // the decision is re-taken under the job mutex at Commit, so a job
    // queued meanwhile (a periodic re-check) is not queued twice.
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
    Ingest(Store* store, uint64_t run_id, int64_t now_ms, int64_t max_age_ms);
    Status PutLine(const pb::LineRecord& line);
    // Puts the record of a job this group creates, with `lines` lines of
    // this run: written whole once, its counters added to changes_.
    Status PutCreated(uint64_t job_id, const std::string& normalized_url,
                      const pb::RequestContext& context, uint64_t lines);
    Store* store_;
    // Lines of this uncommitted batch per known job (one the store held
    // before this group).
    std::unordered_map<uint64_t, uint64_t> job_lines_;
    // Counter changes of the jobs this group created and of its rejected
    // lines.
    CountChanges changes_;
    bool created_any_ = false;
    // Reused for every record the group writes.
    pb::JobRecord job_scratch_;
    pb::LineRecord line_scratch_;
    std::string bytes_scratch_;
    std::unique_lock<std::mutex> ingest_lock_;
    uint64_t run_id_;
    int64_t now_ms_;
    int64_t max_age_ms_;
    // Known jobs to queue for a new check at Commit.
    std::unordered_set<uint64_t> rechecks_;
    std::unique_ptr<rocksdb::WriteBatch> batch_;
    // Job keys given a job in this uncommitted batch (not yet readable),
    // with the lines of this batch on the job when this group created it.
    struct BatchUrl {
      uint64_t job_id = 0;
      uint64_t created_lines = 0;  // 0: a known job
    };
    std::unordered_map<std::string, BatchUrl> batch_urls_;
    size_t lines_in_batch_ = 0;
    uint64_t queued_in_batch_ = 0;
    uint64_t new_jobs_ = 0;
    uint64_t reused_jobs_ = 0;
  };
  // `max_result_age_ms` is the batch's (0: probe every URL now); negative:
  // the policy's default.
  std::unique_ptr<Ingest> StartIngest(uint64_t run_id, int64_t now_ms,
                                      int64_t max_result_age_ms = -1);

  // Takes up to `max` pending jobs in id order and marks them LEASED with
  // attempts incremented. With `admit`, jobs it refuses stay queued and are
  // passed over: parked in memory under the refusing key (ParkingLot,
  // coordinator/parking.h) and not looked at again until WakeParked wakes
  // that key, so the cost of a call does not grow with the jobs held back.
  // Among the jobs not parked and those of awake keys, the smallest id goes
  // first. At most max + look_ahead jobs are looked at per call. Without
  // `admit` every parked job is woken. Parking is not stored: a restart
  // finds every queued job in the queue again.
  Result<std::vector<pb::JobRecord>> LeasePending(size_t max, int64_t now_ms,
                                                  const LeaseFilter& admit = {},
                                                  size_t look_ahead = 0);
  // Offers the jobs parked under `keys` to LeasePending again (a check
  // counted against them ended).
  void WakeParked(const std::vector<std::string>& keys);
  // Jobs parked by LeasePending's filter (they count as pending too).
  size_t parked_count() const;
  // Queues (at most `max`) DONE jobs whose periodic re-check is due at
  // `now_ms`, reading only the due part of the `due` index. Returns how many
  // were queued.
  Result<uint64_t> QueueDueRechecks(int64_t now_ms, size_t max = 4096);
  // When the soonest periodic re-check is due; INT64_MAX when none is.
  int64_t next_recheck_ms() const;
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
  // One result offered to StoreResults: the observation serialized, as a
  // worker sent it (stored byte for byte but for its data_sources, which
  // become a data_sources_ref; the caller has checked its structure,
  // common/protocol.h SummarizeObservation), and its status ("located"
  // schedules the periodic re-check; the batch counters count it). An
  // observation whose top level does not parse gets kInvalidArgument as its
  // outcome.
  struct ResultIn {
    uint64_t job_id = 0;
    uint32_t attempt = 0;
    std::string_view observation;
    std::string_view status;
  };
  // StoreResult for each of `results` in order, all written in one
  // WriteBatch: one outcome per result, as StoreResult would return it had
  // they been stored one after the other (a second result for a job in the
  // same call is kAlreadyExists). A non-OK return stores none of them.
  Result<std::vector<Result<pb::JobRecord>>> StoreResults(
      const std::vector<ResultIn>& results, int64_t now_ms);

  // Queues each DONE or DEAD job of `job_ids` for a new check now (as a
  // periodic re-check does: appended to its history); PENDING and LEASED
  // ones are skipped. Unknown ids are an error (NotFound).
  struct QueueCounts {
    uint64_t queued = 0;
    uint64_t skipped = 0;
  };
  Result<QueueCounts> QueueChecks(const std::vector<uint64_t>& job_ids,
                                  int64_t now_ms);

  // A batch's counters as written, a generation that changes with every
  // change to them (any state change of a job of the batch), and the lines
  // it finished per second lately (FinishRate, as this process saw them).
  struct BatchLive {
    pb::BatchCounts counts;
    uint64_t generation = 0;
    double finished_per_s = 0;
  };
  // NotFound for an unknown batch.
  Result<BatchLive> LiveCounts(uint64_t run_id, int64_t now_ms) const;
  // The jobs of batch `run_id` changed after generation `since` (repeats
  // possible), from a log of the latest kChangeLog changes this process
  // made while the batch had lines pending or in flight (the log is
  // dropped when it has none); nullopt when the log no longer reaches back
  // to `since`.
  static constexpr size_t kChangeLog = size_t{1} << 18;
  std::optional<std::vector<uint64_t>> ChangedJobs(uint64_t run_id,
                                                   uint64_t since) const;
  // Up to `limit` runs newest first, starting below `before_run_id`
  // (UINT64_MAX: the newest).
  Result<std::vector<pb::RunRecord>> ListRuns(uint64_t before_run_id,
                                              size_t limit) const;
  // One line of a run; nullopt when there is none.
  Result<std::optional<pb::LineRecord>> GetLine(uint64_t run_id,
                                                uint64_t line) const;

  // Puts back the data_sources and the referral targets of a result read
  // from the `results` family (from the sets its data_sources_ref and
  // referrals_ref name, then cleared); a result without references is left
  // as it is. Every read of results through this class does it (but
  // PendingEnrichment); code that reads the family's bytes by other means
  // must call it. Fails with kDataLoss when a set is missing.
  Status AttachDataSources(pb::Observation* observation) const;

  Result<pb::JobRecord> GetJob(uint64_t job_id) const;
  // Reads jobs (GetJob) through one iterator: an id a few keys after the
  // last one read is reached by stepping, any other by a seek, so jobs
  // read in ascending order (the lines of a run) cost a step each, not a
  // point lookup. Sees the store as it was when the first job was read
  // (the iterator's implicit snapshot). Valid while the Store is.
  class JobReader {
   public:
    ~JobReader();
    JobReader(JobReader&&) noexcept;
    // As GetJob: NotFound when the store holds no such job.
    Result<pb::JobRecord> Get(uint64_t job_id);

   private:
    friend class Store;
    explicit JobReader(const Store& store);
    const Store* store_;
    std::unique_ptr<rocksdb::Iterator> it_;  // made by the first Get
  };
  JobReader NewJobReader() const;
  // The newest check of a job, if any. With `check`, also its index among
  // the job's results (0: the first; indices stay as they were when a purge
  // removes older checks), so a caller knows without a read whether the
  // job has more than one check.
  Result<std::optional<pb::Observation>> LatestResult(
      uint64_t job_id, uint32_t* check = nullptr) const;
  // Reads the newest checks of many jobs (LatestResult) through one
  // iterator: a job after the last one read is reached by stepping
  // forward, any other by a seek, so jobs read in ascending order (the
  // lines of a run) cost a scan, not a seek each. Sees the store as it was
  // when made (the iterator's implicit snapshot). Valid while the Store is.
  class ResultReader {
   public:
    ~ResultReader();
    ResultReader(ResultReader&&) noexcept;
    // The newest check of `job_id` into *out (parsed in place, reusing
    // its allocations; left as it was when there is none); false when the
    // job has none. `check` as for LatestResult.
    Result<bool> Latest(uint64_t job_id, pb::Observation* out,
                        uint32_t* check = nullptr);

   private:
    friend class Store;
    explicit ResultReader(const Store& store);
    const Store* store_;
    std::unique_ptr<rocksdb::Iterator> it_;
    // Reused between jobs: the newest result's bytes and its enrichment's.
    std::string result_;
    std::string enrichment_;
    pb::Observation enrichment_scratch_;
  };
  ResultReader NewResultReader() const;
  // Every check of a job kept by retention, oldest first; each observation
  // carries its time (checked_at_unix_ms) and status.
  Result<std::vector<pb::Observation>> History(uint64_t job_id) const;
  // The job of a normalised URL probed with `context`, if known.
  Result<std::optional<uint64_t>> FindJobId(
      const std::string& normalized_url,
      const pb::RequestContext& context) const;
  Result<pb::RunRecord> GetRun(uint64_t run_id) const;
  // The newest run, NotFound when there is none.
  Result<pb::RunRecord> LatestRun() const;

  // Visits the lines of a run in line order from line `from_line` on; stops
  // early on a non-OK status. The record `fn` gets is valid during the
  // call only (one message, parsed again for each line).
  Status ForEachLine(uint64_t run_id,
                     const std::function<Status(const pb::LineRecord&)>& fn,
                     uint64_t from_line = 0) const;
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

  // Retention: removes the runs started before `cutoff_ms` with their
  // lines, the jobs no remaining run refers to (unless PENDING or LEASED)
  // with all their results, and of the remaining jobs every check before
  // cutoff_ms except the latest (a kept run's report still has its result).
  // Unless `dry_run`, records "purge" with the counts in the audit log as
  // `actor`. Waits for a running ingest to finish.
  Result<PurgeCounts> Purge(int64_t cutoff_ms, bool dry_run,
                            const std::string& actor, int64_t now_ms);
  // Writes a consistent copy of the store (a RocksDB checkpoint: hard links
  // where possible) to `dest`, which must not exist, while the store stays
  // in use. Records "backup" in the audit log first, so the copy holds its
  // own record.
  Status Checkpoint(const std::string& dest, const std::string& actor,
                    int64_t now_ms);

  // One result awaiting enrichment: the parts of it that the enrichment
  // plan reads (coordinator/enricher.h PlanEnrichment).
  struct EnrichmentItem {
    uint64_t job_id = 0;
    uint32_t check = 0;
    pb::EnrichmentSource source;
  };
  // Up to `max` results awaiting enrichment, in (job, check) order from
  // (from_job, from_check) inclusive; an entry whose result is gone (a
  // purge) is dropped on the way.
  Result<std::vector<EnrichmentItem>> PendingEnrichment(
      size_t max, uint64_t from_job = 0, uint32_t from_check = 0);
  // The smallest (job, check) given an `enrich` entry since the previous
  // call (by this process); nullopt when none was. A reader that goes on
  // from where it stopped starts there when it is earlier.
  std::optional<std::pair<uint64_t, uint32_t>> TakeEnrichmentFloor();
  // How many results await enrichment (stops counting at `limit`).
  Result<uint64_t> CountPendingEnrichment(uint64_t limit = UINT64_MAX) const;
  // How many purges (not dry runs) this process has begun: only a purge
  // removes results, so a result found after a call still exists while the
  // count stays the same.
  uint64_t PurgeCount() const;
  // The enrichment of result (job, check): an Observation holding only
  // rdap and registration (coordinator/enricher.h).
  struct Enriched {
    uint64_t job_id = 0;
    uint32_t check = 0;
    pb::Observation enrichment;
  };
  // Stores each enrichment beside its result (which stays as written) and
  // drops the result's `enrich` entry, all in one WriteBatch; every read of
  // the result applies it (ApplyEnrichment, common/verdict.h). Storing one
  // again replaces it. A result purged meanwhile gets none: each result is
  // looked up again unless `found_after_purges` is given, was PurgeCount()
  // before every result of `done` was found, and no purge began since.
  Status CompleteEnrichment(
      const std::vector<Enriched>& done,
      std::optional<uint64_t> found_after_purges = std::nullopt);

  // The `rdap_cache` family: a value by key, the first entry whose key is
  // >= `key` and starts with `prefix`, and a write (not synced: a lost
  // entry is asked again).
  Result<std::optional<std::string>> GetRdapCache(const std::string& key) const;
  Result<std::optional<std::pair<std::string, std::string>>> SeekRdapCache(
      const std::string& key, const std::string& prefix) const;
  Status PutRdapCache(const std::string& key, const std::string& value);

  // Signed export manifests by export id (the API serves them after the
  // export, also after a restart): small records in the `meta` family under
  // the prefix "export_manifest/", with the time they were signed; a purge
  // removes those signed before its cutoff. Synced.
  Status PutExportManifest(const std::string& export_id,
                           const std::string& text, int64_t signed_ms);
  Result<std::optional<std::string>> GetExportManifest(
      const std::string& export_id) const;

  uint64_t pending_count() const;
  uint64_t leased_count() const;

 private:
  Store() = default;
  static Result<std::unique_ptr<Store>> OpenMode(const std::string& dir,
                                                 StorePolicy policy,
                                                 bool read_only);
  Status Init(bool read_only);
  Status Write(rocksdb::WriteBatch* batch, bool sync);
  Result<std::optional<uint64_t>> FindJob(const std::string& key) const;
  Status PutJob(rocksdb::WriteBatch* batch, const pb::JobRecord& job);
  // Makes a DONE or DEAD `job` PENDING for a new check (attempts reset,
  // queue entry added, due entry removed) in `batch`, its counter changes
  // added to `changes`; the caller holds mu_
  // and counts the pending job once the batch is written.
  Status QueueForCheck(rocksdb::WriteBatch* batch, pb::JobRecord* job,
                       int64_t now_ms, CountChanges* changes);
  // Drops the job's `due` entry, if any, in `batch`.
  void ClearDue(rocksdb::WriteBatch* batch, pb::JobRecord* job);
  Status CountStates();
  // Loads `batch_counts` into live_.
  Status LoadBatchCounts();
  // Version 1 -> 2: JobRecord.batches and last_status, then batch_counts.
  Status MigrateToV2();
  // Puts the counters `changes` give the batches still known into `batch`,
  // writes it and, once written, updates live_ (finished lines at
  // `now_ms`). The caller holds mu_.
  Status WriteCounted(rocksdb::WriteBatch* batch, const CountChanges& changes,
                      bool sync, int64_t now_ms);
  // The job `job_id` as stored: from leased_ when it is there, else read.
  Result<pb::JobRecord> CurrentJob(uint64_t job_id) const;
  // What is kept once per distinct set (SharedSet), and the sets first
  // written by an unwritten batch.
  enum class SetKind { kDataSources, kReferrals };
  using NewSets = std::vector<std::pair<SetKind, std::string>>;
  // Adds to `batch` the Put of a result under `key`: the serialized
  // observation `observation` with its data_sources and its referral
  // targets (SplitForStorage, common/referral.h) replaced by their
  // references (SharedSet), then `suffix` (serialized Observation fields).
  // Sets first seen are appended to `new_sets`: the caller forgets them
  // (ForgetSharedSets) if the batch is not written. Fails with
  // kInvalidArgument when the observation's top level, verdict or
  // jurisdiction does not parse. The caller holds mu_.
  Status PutResult(rocksdb::WriteBatch* batch, const std::string& key,
                   std::string_view observation, std::string_view suffix,
                   NewSets* new_sets);
  // The serialized reference (data_sources_ref or referrals_ref) naming
  // `set`; the set is put in `batch` under `meta` (prefix + its SHA-256)
  // the first time this Store sees it. The caller holds mu_.
  const std::string& SharedSet(SetKind kind, std::string_view set,
                               rocksdb::WriteBatch* batch, NewSets* new_sets);
  void ForgetSharedSets(const NewSets& sets);
  // A set by reference: data sources as an Observation's data_sources,
  // referral targets as its verdict.jurisdiction. kDataLoss when missing.
  Result<std::shared_ptr<const pb::Observation>> ReadSharedSet(
      SetKind kind, const std::string& ref) const;
  // The read side of the `results` family, the one place where a stored
  // result becomes what readers see: ParseResult parses a result and puts
  // back what is stored once per set (AttachDataSources); AddEnrichment
  // applies the enrichment stored beside it (EnrichmentKey), when there
  // is one.
  Status ParseResult(std::string_view bytes, pb::Observation* out) const;
  // `scratch` (reused between calls) receives the parsed enrichment.
  Status AddEnrichment(std::string_view bytes, pb::Observation* out,
                       pb::Observation* scratch) const;

  // Hashes std::string and std::string_view alike, so a lookup by view
  // does not copy the key.
  struct ViewHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };

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
  // Marks queued job `job_id` (written, or in a batch about to be) as one
  // LeasePending must find: below the floor it joins requeued_.
  void Queued(uint64_t job_id);

  // Where LeasePending's scan of the `queue` family resumes: every queued
  // job below it is parked, in requeued_, or gone (entries there may be
  // stale: LeasePending checks the job is PENDING). Avoids scanning the
  // tombstones of dispatched entries and the parked jobs.
  uint64_t queue_floor_ = 0;
  // Jobs queued again below the floor (re-queued, re-checks).
  std::set<uint64_t> requeued_;
  ParkingLot parking_;
  uint64_t pending_count_ = 0;
  uint64_t leased_count_ = 0;
  // The record of every job this process leased and that is still LEASED,
  // equal to what `jobs` holds for it: results and re-queues of leased
  // jobs (the hot path) need no read. Bounded by the jobs in flight.
  std::unordered_map<uint64_t, pb::JobRecord> leased_;
  StorePolicy policy_;
  // Lower bound of the soonest `due` key (INT64_MAX: none).
  int64_t next_due_ms_ = INT64_MAX;
  rocksdb::ColumnFamilyHandle* due_ = nullptr;
  rocksdb::ColumnFamilyHandle* enrich_ = nullptr;
  rocksdb::ColumnFamilyHandle* rdap_cache_ = nullptr;
  rocksdb::ColumnFamilyHandle* batch_counts_ = nullptr;
  // PurgeCount's answer; guarded by mu_.
  uint64_t purges_ = 0;
  // TakeEnrichmentFloor's answer; guarded by mu_.
  std::optional<std::pair<uint64_t, uint32_t>> enrich_floor_;
  struct Live {
    pb::BatchCounts counts;
    uint64_t generation = 0;
    FinishRate rate;
    // (generation, job) of the latest changes, oldest first; every change
    // after generation log_complete_since is in it.
    std::deque<std::pair<uint64_t, uint64_t>> log;
    uint64_t log_complete_since = 0;
  };
  // Every batch's counters, as in `batch_counts`; guarded by mu_.
  std::unordered_map<uint64_t, Live> live_;
  // Sets this process has written, per SetKind, by their bytes: the
  // serialized reference field naming each. Under mu_. Both caches are
  // cleared past kMaxSharedSets entries (a worker sends one set of data
  // sources per configuration, and one set of referral targets per
  // country routed).
  using SetRefs =
      std::unordered_map<std::string, std::string, ViewHash, std::equal_to<>>;
  using SetRef = SetRefs::value_type;
  std::array<SetRefs, 2> set_refs_;
  // Per SetKind, the entry of set_refs_ SharedSet returned last, or null:
  // results in a row carry the same sets, and comparing with it costs less
  // than hashing a set of a kilobyte. Under mu_.
  std::array<const SetRef*, 2> last_set_ref_{};
  // Sets read back, by their `meta` key.
  mutable std::mutex sources_mu_;
  mutable std::unordered_map<std::string,
                             std::shared_ptr<const pb::Observation>>
      source_sets_;
};

}  // namespace hl::coordinator
