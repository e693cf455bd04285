#include "coordinator/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <unordered_set>
#include <utility>

#include "common/digest.h"
#include "common/proto_view.h"
#include "common/protocol.h"
#include "common/referral.h"
#include "common/request_context.h"
#include "common/verdict.h"
#include "coordinator/memtable_hints.h"
#include "coordinator/scheduler.h"

namespace hl::coordinator {
namespace {

constexpr char kMetaSchemaVersion[] = "schema_version";
constexpr char kMetaNextJobId[] = "next_job_id";
constexpr char kMetaNextRunId[] = "next_run_id";
// + export id: 8 bytes of signing time (U64Key), then the manifest text.
constexpr std::string_view kMetaExportManifest = "export_manifest/";
// During the version 1 -> 2 migration: LineKey of the next line to migrate.
constexpr char kMetaV2Progress[] = "v2_progress";
constexpr size_t kMaxSharedSets = 1024;
// Per kind of set kept once (Store::SharedSet): its `meta` key prefix.
constexpr std::string_view kSharedSetPrefix[] = {"data_sources/", "referrals/"};

// In the order of the handles Open assigns (handles_[i] is names[i]).
const std::vector<std::string>& ColumnFamilyNames() {
  static const std::vector<std::string> names = {
      rocksdb::kDefaultColumnFamilyName,
      "meta",
      "jobs",
      "url_index",
      "queue",
      "results",
      "runs",
      "lines",
      "audit",
      "due",
      "enrich",
      "rdap_cache",
      "batch_counts"};
  return names;
}

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}
void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}
uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < in.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  }
  return v;
}
std::string U64Key(uint64_t v) {
  std::string k;
  AppendU64(&k, v);
  return k;
}
std::string ResultKey(uint64_t job_id, uint32_t check) {
  std::string k = U64Key(job_id);
  AppendU32(&k, check);
  return k;
}
// The enrichment of result (job, check), in the `results` family right
// after the result: its key and one byte.
std::string EnrichmentKey(uint64_t job_id, uint32_t check) {
  return ResultKey(job_id, check) + "e";
}
constexpr size_t kResultKeySize = 12;
std::string LineKey(uint64_t run_id, uint64_t line) {
  std::string k = U64Key(run_id);
  AppendU64(&k, line);
  return k;
}
std::string DueKey(int64_t due_ms, uint64_t job_id) {
  std::string k = U64Key(static_cast<uint64_t>(due_ms));
  AppendU64(&k, job_id);
  return k;
}
// When the job's latest check was stored; 0 before the first.
int64_t LastCheckMs(const pb::JobRecord& job) {
  if (job.last_check_unix_ms() > 0) return job.last_check_unix_ms();
  return job.checks() > 0 ? job.updated_unix_ms() : 0;
}

// An Observation holding only rdap.state "pending", serialised.
const std::string& PendingRdapBytes() {
  static const std::string bytes = [] {
    pb::Observation o;
    o.mutable_rdap()->set_state("pending");
    return o.SerializeAsString();
  }();
  return bytes;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Unavailable(msg +
                       " (is another hostlocator process using this data "
                       "folder?)");
  }
  if (s.IsCorruption()) return DataLoss(msg);
  if (s.IsNotFound()) return NotFound(msg);
  return Internal(msg);
}

// Moves `it` to the first key >= `target`, for targets in ascending
// order: it stays when it is there already (a later target than the
// previous one, and no key between), steps when `target` is a few keys
// ahead, else seeks.
void SeekForward(rocksdb::Iterator* it, const rocksdb::Slice& target) {
  constexpr int kSteps = 4;
  for (int i = 0; i < kSteps && it->Valid() && it->key().compare(target) < 0;
       ++i) {
    it->Next();
  }
  if (!it->Valid() || it->key().compare(target) < 0) it->Seek(target);
}

Status Undecodable(std::string_view what) {
  return DataLoss("undecodable " + std::string(what) + " record in store");
}

template <typename Message>
Status Parse(std::string_view bytes, Message* out, std::string_view what) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Undecodable(what);
  }
  return Status::Ok();
}

}  // namespace

StorePolicy StorePolicyOf(const Config& config) {
  return {.default_max_result_age_ms =
              int64_t{config.coordinator.max_result_age_s} * 1000,
          .recheck_interval_ms =
              int64_t{config.coordinator.recheck_interval_s} * 1000,
          .enrich_results = config.rdap.enabled};
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir,
                                           StorePolicy policy) {
  return OpenMode(dir, policy, /*read_only=*/false);
}

Result<std::unique_ptr<Store>> Store::OpenReadOnly(const std::string& dir) {
  return OpenMode(dir, StorePolicy{}, /*read_only=*/true);
}

Result<std::unique_ptr<Store>> Store::OpenMode(const std::string& dir,
                                               StorePolicy policy,
                                               bool read_only) {
  std::error_code ec;
  if (!read_only) std::filesystem::create_directories(dir, ec);
  if (ec) {
    return FailedPrecondition("cannot create data folder " + dir + ": " +
                              ec.message());
  }
  ::chmod(dir.c_str(), 0700);

  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 4;
  // Memory stays bounded whatever the batch size: memtables of all column
  // families together flush at kMemtableBudget, and one block cache serves
  // them all (RocksDB's defaults give each family its own, and results
  // alone would grow to several 64 MB memtables). The cache fills with the
  // blocks a run touches until it reaches its capacity, so its capacity is
  // what a long run adds to a short one: small enough to be full early in
  // any run keeps the resident set flat. bench/README.md has the figures.
  constexpr size_t kMemtableBudget = 32 << 20;
  constexpr size_t kBlockCache = 4 << 20;
  options.db_write_buffer_size = kMemtableBudget;
  // A write-ahead log file is deleted only when every column family with
  // data in it has flushed. Families written rarely (runs, meta) would pin
  // each log file since their last write until RocksDB's default bound (four
  // times all memtables: hundreds of MB); this bound flushes them instead.
  options.max_total_wal_size = 2 * kMemtableBudget;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(kBlockCache);
  // Index and filter blocks live in that cache too, not beside it (where
  // they would grow with the number of table files).
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  std::shared_ptr<rocksdb::TableFactory> table_factory(
      rocksdb::NewBlockBasedTableFactory(table));
  // Every submitted URL is looked up in url_index, and a new one is found in
  // no table: a Bloom filter answers that without reading a data block. Its
  // blocks (about 1.25 bytes a URL) stay in the table readers, outside the
  // small cache, which they would otherwise keep evicting and re-reading.
  rocksdb::BlockBasedTableOptions url_table = table;
  url_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  url_table.cache_index_and_filter_blocks = false;
  std::shared_ptr<rocksdb::TableFactory> url_table_factory(
      rocksdb::NewBlockBasedTableFactory(url_table));
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : ColumnFamilyNames()) {
    rocksdb::ColumnFamilyOptions cf;
    cf.OptimizeLevelStyleCompaction(kMemtableBudget);
    cf.max_write_buffer_number = 2;
    cf.min_write_buffer_number_to_merge = 1;
    cf.table_factory = table_factory;
    if (name == "url_index") {
      cf.table_factory = url_table_factory;
      // The same for the URLs still in memtables (a skip-list search per
      // miss otherwise): a whole-key Bloom filter of a tenth of the
      // memtable's size.
      cf.memtable_whole_key_filtering = true;
      cf.memtable_prefix_bloom_size_ratio = 0.1;
    }
    if (const size_t id_size = InsertHintIdSize(name); id_size > 0) {
      cf.memtable_insert_with_hint_prefix_extractor =
          NewInsertHintTransform(id_size);
    }
    families.emplace_back(name, cf);
  }
  std::unique_ptr<Store> store(new Store());
  store->policy_ = policy;
  rocksdb::DB* raw = nullptr;
  // A new folder gets its families in one call after the default one:
  // DB::Open creates each missing family with its own write and re-read of
  // the OPTIONS file, CreateColumnFamilies writes it once (a new store's
  // Open: 146 million instructions before, 30 million now).
  std::vector<std::string> existing;
  const bool fresh =
      !read_only &&
      !rocksdb::DB::ListColumnFamilies(options, dir, &existing).ok();
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(options, dir, families,
                                               &store->handles_, &raw)
      : fresh
          ? rocksdb::DB::Open(options, dir, {families.front()},
                              &store->handles_, &raw)
          : rocksdb::DB::Open(options, dir, families, &store->handles_, &raw);
  if (!s.ok()) return FromRocks(s, "cannot open store in " + dir);
  store->db_.reset(raw);
  if (fresh) {
    std::vector<rocksdb::ColumnFamilyHandle*> created;
    s = raw->CreateColumnFamilies({families.begin() + 1, families.end()},
                                  &created);
    store->handles_.insert(store->handles_.end(), created.begin(),
                           created.end());
    if (!s.ok()) return FromRocks(s, "cannot create the store in " + dir);
  }
  store->meta_ = store->handles_[1];
  store->jobs_ = store->handles_[2];
  store->url_index_ = store->handles_[3];
  store->queue_ = store->handles_[4];
  store->results_ = store->handles_[5];
  store->runs_ = store->handles_[6];
  store->lines_ = store->handles_[7];
  store->audit_ = store->handles_[8];
  store->due_ = store->handles_[9];
  store->enrich_ = store->handles_[10];
  store->rdap_cache_ = store->handles_[11];
  store->batch_counts_ = store->handles_[12];
  HL_RETURN_IF_ERROR(store->Init(read_only));
  if (!read_only) {
    store->memory_trace_ =
        StoreMemoryTrace::StartFromEnvironment(raw, store->handles_);
  }
  return store;
}

Store::~Store() {
  memory_trace_.reset();  // reads db_
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  db_->Close();
}

Status Store::Init(bool read_only) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_, kMetaSchemaVersion, &value);
  if (s.IsNotFound() && read_only) {
    return FailedPrecondition("no store schema version in the data folder");
  }
  if (s.IsNotFound()) {
    rocksdb::WriteBatch batch;
    batch.Put(meta_, kMetaSchemaVersion, std::to_string(kStoreSchemaVersion));
    HL_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  } else if (!s.ok()) {
    return FromRocks(s, "cannot read store schema version");
  } else if (value == "1" && read_only) {
    return FailedPrecondition(
        "the data folder was written with store schema version 1; open it "
        "once for writing with this hostlocator (the coordinator, or "
        "`hostlocator status --data`) to migrate it to version " +
        std::to_string(kStoreSchemaVersion));
  } else if (value == "1") {
    HL_RETURN_IF_ERROR(MigrateToV2());
  } else if (value == "2" && !read_only) {
    // Version 3 reads version 2's records as they are.
    rocksdb::WriteBatch batch;
    batch.Put(meta_, kMetaSchemaVersion, std::to_string(kStoreSchemaVersion));
    HL_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  } else if (value != "2" && value != std::to_string(kStoreSchemaVersion)) {
    return FailedPrecondition(
        "the data folder was written with store schema version " + value +
        " and this hostlocator understands version " +
        std::to_string(kStoreSchemaVersion) +
        "; use a matching hostlocator release or a new data folder");
  }
  for (auto [key, target] : {std::pair{kMetaNextJobId, &next_job_id_},
                             std::pair{kMetaNextRunId, &next_run_id_}}) {
    s = db_->Get(rocksdb::ReadOptions(), meta_, key, &value);
    if (s.ok()) {
      *target = ReadU64(value);
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "cannot read store counters");
    }
  }
  std::unique_ptr<rocksdb::Iterator> last(
      db_->NewIterator(rocksdb::ReadOptions(), audit_));
  last->SeekToLast();
  if (last->Valid()) next_audit_seq_ = ReadU64(last->key().ToStringView()) + 1;
  HL_RETURN_IF_ERROR(FromRocks(last->status(), "cannot read the audit log"));
  std::unique_ptr<rocksdb::Iterator> due(
      db_->NewIterator(rocksdb::ReadOptions(), due_));
  due->SeekToFirst();
  if (due->Valid()) {
    next_due_ms_ = static_cast<int64_t>(ReadU64(due->key().ToStringView()));
  }
  HL_RETURN_IF_ERROR(
      FromRocks(due->status(), "cannot read the re-check index"));
  HL_RETURN_IF_ERROR(LoadBatchCounts());
  return CountStates();
}

Status Store::LoadBatchCounts() {
  live_.clear();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), batch_counts_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Live& live = live_[ReadU64(it->key().ToStringView())];
    HL_RETURN_IF_ERROR(
        Parse(it->value().ToStringView(), &live.counts, "batch counts"));
  }
  return FromRocks(it->status(), "cannot read the batch counters");
}

Status Store::MigrateToV2() {
  // Pass 1, resumable: each job learns its lines per batch (and the status
  // of its latest result), a block of lines per WriteBatch together with
  // the position reached.
  constexpr size_t kLinesPerBlock = 65536;
  std::string start;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_, kMetaV2Progress, &start);
  if (!s.ok() && !s.IsNotFound()) {
    return FromRocks(s, "cannot read the migration position");
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), lines_));
  it->Seek(start);
  while (it->Valid()) {
    // (job, run) -> lines, for the lines of this block.
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> refs;
    size_t n = 0;
    for (; it->Valid() && n < kLinesPerBlock; it->Next(), ++n) {
      pb::LineRecord line;
      HL_RETURN_IF_ERROR(Parse(it->value().ToStringView(), &line, "line"));
      if (line.job_id() == 0) continue;
      ++refs[{line.job_id(), ReadU64(it->key().ToStringView())}];
    }
    HL_RETURN_IF_ERROR(FromRocks(it->status(), "line scan failed"));
    rocksdb::WriteBatch batch;
    std::optional<pb::JobRecord> job;
    const auto put = [&]() -> Status {
      if (!job) return Status::Ok();
      if (job->last_status().empty() && job->checks() > 0) {
        auto latest = LatestResult(job->job_id());
        if (!latest.ok()) return latest.status();
        if (*latest) job->set_last_status((*latest)->status());
      }
      return PutJob(&batch, *job);
    };
    for (const auto& [key, lines] : refs) {
      if (!job || job->job_id() != key.first) {
        HL_RETURN_IF_ERROR(put());
        auto read = GetJob(key.first);
        if (!read.ok()) return read.status();
        job = *std::move(read);
      }
      AddBatchLines(&*job, key.second, lines);
    }
    HL_RETURN_IF_ERROR(put());
    batch.Put(meta_, kMetaV2Progress,
              it->Valid() ? it->key().ToString() : std::string(16, '\xff'));
    HL_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  }
  // Pass 2: the counters, from the jobs and the rejected lines.
  CountChanges changes;
  HL_RETURN_IF_ERROR(ForEachJob([&](const pb::JobRecord& job) {
    AddJobLines(job, +1, &changes);
    return Status::Ok();
  }));
  std::unique_ptr<rocksdb::Iterator> runs(
      db_->NewIterator(rocksdb::ReadOptions(), runs_));
  for (runs->SeekToFirst(); runs->Valid(); runs->Next()) {
    const uint64_t run_id = ReadU64(runs->key().ToStringView());
    CountDelta& delta = changes[run_id];
    HL_RETURN_IF_ERROR(ForEachLine(run_id, [&](const pb::LineRecord& line) {
      if (line.job_id() == 0) ++delta.by_field[kRejectedLines];
      return Status::Ok();
    }));
  }
  HL_RETURN_IF_ERROR(FromRocks(runs->status(), "run scan failed"));
  rocksdb::WriteBatch batch;
  for (const auto& [run_id, delta] : changes) {
    batch.Put(batch_counts_, U64Key(run_id),
              Applied({}, delta).SerializeAsString());
  }
  batch.Delete(meta_, kMetaV2Progress);
  batch.Put(meta_, kMetaSchemaVersion, std::to_string(kStoreSchemaVersion));
  return Write(&batch, /*sync=*/true);
}

Status Store::WriteCounted(rocksdb::WriteBatch* batch,
                           const CountChanges& changes, bool sync,
                           int64_t now_ms) {
  struct Update {
    Live* live;
    pb::BatchCounts counts;
    const CountDelta* delta;
  };
  std::vector<Update> updates;
  updates.reserve(changes.size());
  for (const auto& [run_id, delta] : changes) {
    auto live = live_.find(run_id);
    if (live == live_.end()) continue;  // purged
    pb::BatchCounts counts = Applied(live->second.counts, delta);
    batch->Put(batch_counts_, U64Key(run_id), counts.SerializeAsString());
    updates.push_back({&live->second, std::move(counts), &delta});
  }
  HL_RETURN_IF_ERROR(Write(batch, sync));
  for (Update& u : updates) {
    u.live->counts = std::move(u.counts);
    const uint64_t generation = ++u.live->generation;
    if (u.delta->finished > 0) u.live->rate.Add(now_ms, u.delta->finished);
    auto& log = u.live->log;
    for (uint64_t job : u.delta->jobs) log.emplace_back(generation, job);
    while (log.size() > kChangeLog) {
      u.live->log_complete_since = log.front().first;
      log.pop_front();
    }
    // Memory stays with the batches under way: a batch with nothing
    // pending or in flight drops its log.
    if (u.live->counts.pending() == 0 && u.live->counts.in_flight() == 0) {
      log.clear();
      log.shrink_to_fit();
      u.live->log_complete_since = generation;
    }
  }
  return Status::Ok();
}

Status Store::CountStates() {
  pending_count_ = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), queue_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++pending_count_;
  leased_count_ = 0;
  return FromRocks(it->status(), "cannot scan the queue");
}

Status Store::Write(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocks(db_->Write(options, batch), "store write failed");
}

Status Store::PutJob(rocksdb::WriteBatch* batch, const pb::JobRecord& job) {
  std::string bytes;
  if (!job.SerializeToString(&bytes)) return Internal("job encode failed");
  return FromRocks(batch->Put(jobs_, U64Key(job.job_id()), bytes), "batch put");
}

void Store::ClearDue(rocksdb::WriteBatch* batch, pb::JobRecord* job) {
  if (job->recheck_due_unix_ms() == 0) return;
  batch->Delete(due_, DueKey(job->recheck_due_unix_ms(), job->job_id()));
  job->set_recheck_due_unix_ms(0);
}

Status Store::QueueForCheck(rocksdb::WriteBatch* batch, pb::JobRecord* job,
                            int64_t now_ms, CountChanges* changes) {
  AddJobLines(*job, -1, changes);
  ClearDue(batch, job);
  job->set_state(pb::JOB_STATE_PENDING);
  job->set_attempts(0);
  job->set_updated_unix_ms(now_ms);
  AddJobLines(*job, +1, changes);
  HL_RETURN_IF_ERROR(PutJob(batch, *job));
  batch->Put(queue_, U64Key(job->job_id()), "");
  Queued(job->job_id());
  return Status::Ok();
}

void Store::Queued(uint64_t job_id) {
  if (job_id < queue_floor_) requeued_.insert(job_id);
}

Result<uint64_t> Store::RecoverLeases(int64_t now_ms) {
  std::lock_guard lock(mu_);
  rocksdb::WriteBatch batch;
  CountChanges changes;
  uint64_t recovered = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), jobs_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    pb::JobRecord job;
    HL_RETURN_IF_ERROR(Parse(it->value().ToStringView(), &job, "job"));
    if (job.state() != pb::JOB_STATE_LEASED) continue;
    AddJobLines(job, -1, &changes);
    job.set_state(pb::JOB_STATE_PENDING);
    job.set_attempts(job.attempts() > 0 ? job.attempts() - 1 : 0);
    job.set_updated_unix_ms(now_ms);
    AddJobLines(job, +1, &changes);
    HL_RETURN_IF_ERROR(PutJob(&batch, job));
    batch.Put(queue_, U64Key(job.job_id()), "");
    ++recovered;
  }
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "cannot scan jobs"));
  if (recovered == 0) return recovered;
  HL_RETURN_IF_ERROR(WriteCounted(&batch, changes, /*sync=*/true, now_ms));
  leased_.clear();
  // Every queued job is above the floor again.
  queue_floor_ = 0;
  requeued_.clear();
  parking_.Clear();
  pending_count_ += recovered;
  return recovered;
}

Result<pb::RunRecord> Store::BeginRun(pb::RunRecord run, int64_t now_ms) {
  std::lock_guard lock(mu_);
  run.set_run_id(next_run_id_);
  run.set_started_unix_ms(now_ms);
  run.set_ingest_complete(false);
  rocksdb::WriteBatch batch;
  batch.Put(meta_, kMetaNextRunId, U64Key(next_run_id_ + 1));
  batch.Put(runs_, U64Key(run.run_id()), run.SerializeAsString());
  batch.Put(batch_counts_, U64Key(run.run_id()),
            pb::BatchCounts().SerializeAsString());
  HL_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  live_[run.run_id()];
  ++next_run_id_;
  return run;
}

Status Store::FinishIngest(pb::RunRecord run) {
  run.set_ingest_complete(true);
  rocksdb::WriteBatch batch;
  batch.Put(runs_, U64Key(run.run_id()), run.SerializeAsString());
  return Write(&batch, /*sync=*/true);
}

std::unique_ptr<Store::Ingest> Store::StartIngest(uint64_t run_id,
                                                  int64_t now_ms,
                                                  int64_t max_result_age_ms) {
  return std::unique_ptr<Ingest>(
      new Ingest(this, run_id, now_ms,
                 max_result_age_ms < 0 ? policy_.default_max_result_age_ms
                                       : max_result_age_ms));
}

Store::Ingest::Ingest(Store* store, uint64_t run_id, int64_t now_ms,
                      int64_t max_age_ms)
    : store_(store),
      ingest_lock_(store->ingest_mu_),
      run_id_(run_id),
      now_ms_(now_ms),
      max_age_ms_(max_age_ms),
      batch_(std::make_unique<rocksdb::WriteBatch>()) {}

Store::Ingest::~Ingest() = default;

Status Store::Ingest::PutLine(const pb::LineRecord& line) {
  ++lines_in_batch_;
  if (!line.SerializeToString(&bytes_scratch_)) {
    return Internal("line encode failed");
  }
  return FromRocks(batch_->Put(store_->lines_, LineKey(run_id_, line.line()),
                               bytes_scratch_),
                   "batch put");
}

Status Store::Ingest::AddRejected(uint64_t line, const std::string& input,
                                  const std::string& reason,
                                  const std::string& detail) {
  pb::LineRecord& record = line_scratch_;
  record.Clear();
  record.set_line(line);
  record.set_input(input);
  record.set_rejection(reason);
  record.set_rejection_detail(detail);
  ++changes_[run_id_].by_field[kRejectedLines];
  return PutLine(record);
}

Status Store::Ingest::PutCreated(uint64_t job_id,
                                 const std::string& normalized_url,
                                 const pb::RequestContext& context,
                                 uint64_t lines) {
  pb::JobRecord& job = job_scratch_;
  job.Clear();
  job.set_job_id(job_id);
  job.set_url(normalized_url);
  if (context.ByteSizeLong() > 0) *job.mutable_context() = context;
  job.set_state(pb::JOB_STATE_PENDING);
  job.set_created_unix_ms(now_ms_);
  job.set_updated_unix_ms(now_ms_);
  AddBatchLines(&job, run_id_, lines);
  if (lines == 1) {
    AddJobLines(job, +1, &changes_);
  } else {
    // A later line of the same job: the record Put last wins.
    changes_[run_id_].by_field[kPendingLines] += 1;
  }
  if (!job.SerializeToString(&bytes_scratch_)) {
    return Internal("job encode failed");
  }
  return FromRocks(batch_->Put(store_->jobs_, U64Key(job_id), bytes_scratch_),
                   "batch put");
}

Status Store::Ingest::AddUrl(uint64_t line, const std::string& input,
                             const std::string& normalized_url,
                             const pb::RequestContext& context) {
  std::string key = JobKey(normalized_url, context);
  uint64_t job_id = 0;
  if (auto it = batch_urls_.find(key); it != batch_urls_.end()) {
    job_id = it->second.job_id;
    if (it->second.created_lines > 0) {
      HL_RETURN_IF_ERROR(PutCreated(job_id, normalized_url, context,
                                    ++it->second.created_lines));
    } else {
      ++job_lines_[job_id];
    }
  } else {
    auto found = store_->FindJob(key);
    if (!found.ok()) return found.status();
    if (found->has_value()) {
      job_id = **found;
      auto job = store_->GetJob(job_id);
      if (!job.ok()) return job.status();
      if (DecideKnownJob(job->state(), LastCheckMs(*job), max_age_ms_,
                         now_ms_) == KnownJobAction::kRecheck) {
        rechecks_.insert(job_id);
      }
      ++reused_jobs_;
      ++job_lines_[job_id];
      batch_urls_.emplace(std::move(key), BatchUrl{job_id, 0});
    } else {
      {
        std::lock_guard lock(store_->mu_);
        job_id = store_->next_job_id_++;
      }
      HL_RETURN_IF_ERROR(PutCreated(job_id, normalized_url, context, 1));
      batch_->Put(store_->url_index_, key, U64Key(job_id));
      batch_->Put(store_->queue_, U64Key(job_id), "");
      created_any_ = true;
      ++new_jobs_;
      ++queued_in_batch_;
      batch_urls_.emplace(std::move(key), BatchUrl{job_id, 1});
    }
  }
  pb::LineRecord& record = line_scratch_;
  record.Clear();
  record.set_line(line);
  record.set_input(input);
  record.set_job_id(job_id);
  return PutLine(record);
}

Status Store::Ingest::Commit() {
  if (lines_in_batch_ == 0) return Status::Ok();
  std::lock_guard lock(store_->mu_);
  // Each known job of these lines, as it is now (it may have moved on
  // since AddUrl), gets the lines and their counts; the jobs this group
  // created are in the batch and changes_ already.
  CountChanges& changes = changes_;
  std::vector<pb::JobRecord> leased;
  for (const auto& [job_id, lines] : job_lines_) {
    auto current = store_->CurrentJob(job_id);
    if (!current.ok()) return current.status();
    pb::JobRecord& job = *current;
    if (rechecks_.contains(job_id) &&
        DecideKnownJob(job.state(), LastCheckMs(job), max_age_ms_, now_ms_) ==
            KnownJobAction::kRecheck) {
      HL_RETURN_IF_ERROR(
          store_->QueueForCheck(batch_.get(), &job, now_ms_, &changes));
      ++queued_in_batch_;
    }
    AddJobLines(job, -1, &changes);
    AddBatchLines(&job, run_id_, lines);
    AddJobLines(job, +1, &changes);
    // A known job queued for a re-check had QueueForCheck put its record,
    // which this replaces.
    HL_RETURN_IF_ERROR(store_->PutJob(batch_.get(), job));
    if (store_->leased_.contains(job_id)) leased.push_back(std::move(job));
  }
  // The job counter once per group, not once per new job.
  if (created_any_) {
    batch_->Put(store_->meta_, kMetaNextJobId, U64Key(store_->next_job_id_));
  }
  HL_RETURN_IF_ERROR(
      store_->WriteCounted(batch_.get(), changes, /*sync=*/true, now_ms_));
  for (pb::JobRecord& job : leased) {
    store_->leased_.insert_or_assign(job.job_id(), std::move(job));
  }
  store_->pending_count_ += queued_in_batch_;
  rechecks_.clear();
  job_lines_.clear();
  changes_.clear();
  created_any_ = false;
  queued_in_batch_ = 0;
  batch_->Clear();
  batch_urls_.clear();
  lines_in_batch_ = 0;
  return Status::Ok();
}

}  // namespace hl::coordinator

namespace hl::coordinator {

Result<std::optional<uint64_t>> Store::FindJob(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), url_index_, key, &value);
  if (s.IsNotFound()) return std::optional<uint64_t>();
  if (!s.ok()) return FromRocks(s, "url index read failed");
  return std::optional<uint64_t>(ReadU64(value));
}

Result<pb::JobRecord> Store::GetJob(uint64_t job_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), jobs_, U64Key(job_id), &value);
  if (s.IsNotFound()) return NotFound("no job " + std::to_string(job_id));
  if (!s.ok()) return FromRocks(s, "job read failed");
  pb::JobRecord job;
  HL_RETURN_IF_ERROR(Parse(value, &job, "job"));
  return job;
}

Store::JobReader Store::NewJobReader() const { return JobReader(*this); }

Store::JobReader::JobReader(const Store& store) : store_(&store) {}
Store::JobReader::~JobReader() = default;
Store::JobReader::JobReader(JobReader&&) noexcept = default;

Result<pb::JobRecord> Store::JobReader::Get(uint64_t job_id) {
  constexpr uint64_t kStepAhead = 8;
  if (!it_) {
    it_.reset(store_->db_->NewIterator(rocksdb::ReadOptions(), store_->jobs_));
  }
  const auto id_at = [&] { return ReadU64(it_->key().ToStringView()); };
  if (!it_->Valid() || id_at() > job_id || job_id - id_at() > kStepAhead) {
    it_->Seek(U64Key(job_id));
  }
  while (it_->Valid() && id_at() < job_id) it_->Next();
  HL_RETURN_IF_ERROR(FromRocks(it_->status(), "job read failed"));
  if (!it_->Valid() || id_at() != job_id) {
    return NotFound("no job " + std::to_string(job_id));
  }
  pb::JobRecord job;
  HL_RETURN_IF_ERROR(Parse(it_->value().ToStringView(), &job, "job"));
  return job;
}

Result<std::optional<pb::Observation>> Store::LatestResult(
    uint64_t job_id, uint32_t* check) const {
  pb::Observation obs;
  ResultReader reader = NewResultReader();
  auto found = reader.Latest(job_id, &obs, check);
  if (!found.ok()) return found.status();
  if (!*found) return std::optional<pb::Observation>();
  return std::optional<pb::Observation>(std::move(obs));
}

Store::ResultReader Store::NewResultReader() const {
  return ResultReader(*this);
}

Store::ResultReader::ResultReader(const Store& store)
    : store_(&store),
      it_(store.db_->NewIterator(rocksdb::ReadOptions(), store.results_)) {}
Store::ResultReader::~ResultReader() = default;
Store::ResultReader::ResultReader(ResultReader&&) noexcept = default;

Result<bool> Store::ResultReader::Latest(uint64_t job_id, pb::Observation* out,
                                         uint32_t* check) {
  // Jobs just after the iterator's position are reached by stepping: the
  // keys of jobs without results in between are few.
  constexpr uint64_t kStepAhead = 8;
  const auto job_at = [&] { return ReadU64(it_->key().ToStringView()); };
  if (!it_->Valid() || job_at() > job_id || job_id - job_at() > kStepAhead) {
    it_->Seek(U64Key(job_id));
  }
  while (it_->Valid() && job_at() < job_id) it_->Next();
  // Forwards over the job's keys: each result, then its enrichment if it
  // has one; the newest result is the last result key.
  std::string newest;  // the key of result_
  for (; it_->Valid() && job_at() == job_id; it_->Next()) {
    const std::string_view key = it_->key().ToStringView();
    if (key.size() == kResultKeySize) {
      newest.assign(key);
      result_.assign(it_->value().data(), it_->value().size());
      enrichment_.clear();
    } else if (!newest.empty() && key.substr(0, kResultKeySize) == newest) {
      enrichment_.assign(it_->value().data(), it_->value().size());
    }
  }
  HL_RETURN_IF_ERROR(FromRocks(it_->status(), "result read failed"));
  if (newest.empty()) return false;
  HL_RETURN_IF_ERROR(store_->ParseResult(result_, out));
  if (!enrichment_.empty()) {
    HL_RETURN_IF_ERROR(
        store_->AddEnrichment(enrichment_, out, &enrichment_scratch_));
  }
  if (check != nullptr) {
    // The last 4 key bytes, read as a number.
    *check = static_cast<uint32_t>(ReadU64(std::string_view(newest).substr(8)));
  }
  return true;
}

Result<std::vector<pb::Observation>> Store::History(uint64_t job_id) const {
  std::vector<pb::Observation> checks;
  pb::Observation enrichment;  // scratch
  const std::string prefix = U64Key(job_id);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), results_));
  std::string last_result;  // the key of checks.back()
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() == kResultKeySize) {
      HL_RETURN_IF_ERROR(
          ParseResult(it->value().ToStringView(), &checks.emplace_back()));
      last_result = key;
    } else if (!last_result.empty() &&
               key.substr(0, kResultKeySize) == last_result) {
      HL_RETURN_IF_ERROR(AddEnrichment(it->value().ToStringView(),
                                       &checks.back(), &enrichment));
    }
  }
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "result scan failed"));
  return checks;
}

Result<std::optional<uint64_t>> Store::FindJobId(
    const std::string& normalized_url,
    const pb::RequestContext& context) const {
  return FindJob(JobKey(normalized_url, context));
}

Result<pb::RunRecord> Store::GetRun(uint64_t run_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), runs_, U64Key(run_id), &value);
  if (s.IsNotFound()) return NotFound("no run " + std::to_string(run_id));
  if (!s.ok()) return FromRocks(s, "run read failed");
  pb::RunRecord run;
  HL_RETURN_IF_ERROR(Parse(value, &run, "run"));
  return run;
}

Result<pb::RunRecord> Store::LatestRun() const {
  std::unique_lock lock(mu_);
  const uint64_t next_run_id = next_run_id_;
  lock.unlock();
  if (next_run_id <= 1) return NotFound("the data folder holds no run yet");
  return GetRun(next_run_id - 1);
}

Result<Store::BatchLive> Store::LiveCounts(uint64_t run_id,
                                           int64_t now_ms) const {
  std::lock_guard lock(mu_);
  auto it = live_.find(run_id);
  if (it == live_.end()) return NotFound("no batch " + std::to_string(run_id));
  return BatchLive{it->second.counts, it->second.generation,
                   it->second.rate.PerSecond(now_ms)};
}

std::optional<std::vector<uint64_t>> Store::ChangedJobs(uint64_t run_id,
                                                        uint64_t since) const {
  std::lock_guard lock(mu_);
  auto it = live_.find(run_id);
  if (it == live_.end() || since < it->second.log_complete_since) {
    return std::nullopt;
  }
  std::vector<uint64_t> jobs;
  const auto& log = it->second.log;
  auto from =
      std::upper_bound(log.begin(), log.end(), since,
                       [](uint64_t g, const std::pair<uint64_t, uint64_t>& e) {
                         return g < e.first;
                       });
  for (; from != log.end(); ++from) jobs.push_back(from->second);
  return jobs;
}

Result<std::vector<pb::RunRecord>> Store::ListRuns(uint64_t before_run_id,
                                                   size_t limit) const {
  std::vector<pb::RunRecord> runs;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), runs_));
  for (it->SeekForPrev(U64Key(before_run_id - 1));
       it->Valid() && runs.size() < limit && before_run_id > 1; it->Prev()) {
    HL_RETURN_IF_ERROR(
        Parse(it->value().ToStringView(), &runs.emplace_back(), "run"));
  }
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "run scan failed"));
  return runs;
}

Result<std::optional<pb::LineRecord>> Store::GetLine(uint64_t run_id,
                                                     uint64_t line) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), lines_, LineKey(run_id, line), &value);
  if (s.IsNotFound()) return std::optional<pb::LineRecord>();
  HL_RETURN_IF_ERROR(FromRocks(s, "line read failed"));
  pb::LineRecord record;
  HL_RETURN_IF_ERROR(Parse(value, &record, "line"));
  return std::optional<pb::LineRecord>(std::move(record));
}

uint64_t Store::pending_count() const {
  std::lock_guard lock(mu_);
  return pending_count_;
}

uint64_t Store::leased_count() const {
  std::lock_guard lock(mu_);
  return leased_count_;
}

Status Store::ForEachLine(
    uint64_t run_id, const std::function<Status(const pb::LineRecord&)>& fn,
    uint64_t from_line) const {
  const std::string prefix = U64Key(run_id);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), lines_));
  pb::LineRecord line;  // parsed in place, reusing its allocations
  for (it->Seek(LineKey(run_id, from_line));
       it->Valid() && it->key().starts_with(prefix); it->Next()) {
    HL_RETURN_IF_ERROR(Parse(it->value().ToStringView(), &line, "line"));
    HL_RETURN_IF_ERROR(fn(line));
  }
  return FromRocks(it->status(), "line scan failed");
}

Status Store::ForEachJob(
    const std::function<Status(const pb::JobRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), jobs_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    pb::JobRecord job;
    HL_RETURN_IF_ERROR(Parse(it->value().ToStringView(), &job, "job"));
    HL_RETURN_IF_ERROR(fn(job));
  }
  return FromRocks(it->status(), "job scan failed");
}

Result<pb::AuditRecord> Store::AppendAudit(const std::string& actor,
                                           const std::string& action,
                                           const std::string& detail,
                                           int64_t now_ms) {
  std::lock_guard lock(mu_);
  pb::AuditRecord record;
  record.set_seq(next_audit_seq_);
  record.set_unix_ms(now_ms);
  record.set_actor(actor);
  record.set_action(action);
  record.set_detail(detail);
  rocksdb::WriteBatch batch;
  batch.Put(audit_, U64Key(record.seq()), record.SerializeAsString());
  HL_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  ++next_audit_seq_;
  return record;
}

Status Store::ForEachAudit(
    uint64_t from_seq,
    const std::function<Status(const pb::AuditRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), audit_));
  for (it->Seek(U64Key(from_seq)); it->Valid(); it->Next()) {
    pb::AuditRecord record;
    HL_RETURN_IF_ERROR(
        Parse(it->value().ToStringView(), &record, "audit record"));
    HL_RETURN_IF_ERROR(fn(record));
  }
  return FromRocks(it->status(), "audit log scan failed");
}

Result<std::vector<pb::JobRecord>> Store::LeasePending(size_t max,
                                                       int64_t now_ms,
                                                       const LeaseFilter& admit,
                                                       size_t look_ahead) {
  std::lock_guard lock(mu_);
  std::vector<pb::JobRecord> leased;
  if (max == 0 || pending_count_ == 0) return leased;
  if (!admit) parking_.WakeAll();
  rocksdb::WriteBatch batch;
  CountChanges changes;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), queue_));
  it->Seek(U64Key(queue_floor_));
  // The job records are read in id order too: queued jobs are mostly
  // neighbours, so stepping a second iterator costs less than a point
  // lookup each (both iterators see every transition: writes of jobs and
  // of the queue take mu_).
  JobReader jobs = NewJobReader();
  // The three places a queued job may be, each in id order.
  enum class From { kScan, kRequeued, kParked };
  size_t looked_at = 0;
  while (leased.size() < max && looked_at < max + look_ahead) {
    uint64_t job_id = UINT64_MAX;
    From from = From::kScan;
    if (it->Valid()) job_id = ReadU64(it->key().ToStringView());
    if (!requeued_.empty() && *requeued_.begin() < job_id) {
      job_id = *requeued_.begin();
      from = From::kRequeued;
    }
    if (auto parked = parking_.Next(); parked && *parked < job_id) {
      job_id = *parked;
      from = From::kParked;
    }
    if (job_id == UINT64_MAX) break;
    ++looked_at;
    const auto take = [&] {
      switch (from) {
        case From::kScan:
          it->Next();
          queue_floor_ = job_id + 1;
          break;
        case From::kRequeued:
          requeued_.erase(requeued_.begin());
          break;
        case From::kParked:
          parking_.TakeNext();
          break;
      }
    };
    auto job = jobs.Get(job_id);
    if (!job.ok() &&
        (from == From::kScan || job.status().code() != StatusCode::kNotFound)) {
      return job.status();
    }
    if (!job.ok() || job->state() != pb::JOB_STATE_PENDING) {
      take();  // a stale entry of requeued_ or the parking lot
      continue;
    }
    if (admit) {
      if (auto refusal = admit(*job)) {
        if (from == From::kParked) {
          parking_.RefuseNext(*refusal);
        } else {
          take();
          parking_.Park(*refusal, job_id);
        }
        continue;
      }
    }
    take();
    AddJobLines(*job, -1, &changes);
    job->set_state(pb::JOB_STATE_LEASED);
    job->set_attempts(job->attempts() + 1);
    job->set_updated_unix_ms(now_ms);
    AddJobLines(*job, +1, &changes);
    HL_RETURN_IF_ERROR(PutJob(&batch, *job));
    batch.Delete(queue_, U64Key(job_id));
    leased.push_back(std::move(job).value());
  }
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "queue scan failed"));
  if (leased.empty()) return leased;
  // A lost lease write only means the job is dispatched again after a crash.
  if (Status written = WriteCounted(&batch, changes, /*sync=*/false, now_ms);
      !written.ok()) {
    for (const auto& job : leased) requeued_.insert(job.job_id());
    return written;
  }
  for (const auto& job : leased) leased_.insert_or_assign(job.job_id(), job);
  pending_count_ -= std::min<uint64_t>(pending_count_, leased.size());
  leased_count_ += leased.size();
  return leased;
}

void Store::WakeParked(const std::vector<std::string>& keys) {
  std::lock_guard lock(mu_);
  for (const auto& key : keys) parking_.Wake(key);
}

size_t Store::parked_count() const {
  std::lock_guard lock(mu_);
  return parking_.size();
}

Status Store::Requeue(uint64_t job_id, const std::string& error,
                      uint32_t max_attempts, bool count_attempt,
                      int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto job = CurrentJob(job_id);
  if (!job.ok()) return job.status();
  if (job->state() != pb::JOB_STATE_LEASED) {
    return FailedPrecondition("job " + std::to_string(job_id) +
                              " is not leased");
  }
  rocksdb::WriteBatch batch;
  const pb::JobRecord before = *job;
  job->set_last_error(error);
  job->set_updated_unix_ms(now_ms);
  if (!count_attempt && job->attempts() > 0) {
    job->set_attempts(job->attempts() - 1);
  }
  const bool dead = job->attempts() >= max_attempts;
  job->set_state(dead ? pb::JOB_STATE_DEAD : pb::JOB_STATE_PENDING);
  HL_RETURN_IF_ERROR(PutJob(&batch, *job));
  if (!dead) batch.Put(queue_, U64Key(job_id), "");
  CountChanges changes;
  AddJobChange(before, *job, &changes);
  HL_RETURN_IF_ERROR(WriteCounted(&batch, changes, /*sync=*/false, now_ms));
  leased_.erase(job_id);
  leased_count_ -= std::min<uint64_t>(leased_count_, 1);
  if (!dead) {
    ++pending_count_;
    Queued(job_id);
  }
  return Status::Ok();
}

Result<pb::JobRecord> Store::CurrentJob(uint64_t job_id) const {
  if (auto it = leased_.find(job_id); it != leased_.end()) return it->second;
  return GetJob(job_id);
}

Result<pb::JobRecord> Store::StoreResult(uint64_t job_id, uint32_t attempt,
                                         const pb::Observation& observation,
                                         int64_t now_ms) {
  const std::string bytes = observation.SerializeAsString();
  auto stored =
      StoreResults({{job_id, attempt, bytes, observation.status()}}, now_ms);
  if (!stored.ok()) return stored.status();
  return std::move(stored->front());
}

Result<std::vector<Result<pb::JobRecord>>> Store::StoreResults(
    const std::vector<ResultIn>& results, int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<Result<pb::JobRecord>> outcomes;
  outcomes.reserve(results.size());
  size_t result_bytes = 0;
  for (const ResultIn& in : results) result_bytes += in.observation.size();
  // Room for the results and their small records, so that appending them
  // does not copy the batch again and again.
  rocksdb::WriteBatch batch(result_bytes + 512 * results.size());
  CountChanges changes;
  int64_t soonest_due = INT64_MAX;
  // Jobs this call completed: a later result for one of them is a
  // duplicate. Their records move from leased_ to `outcomes` (leased_ keeps
  // an empty one until the end), so on a failure their cache entries are
  // dropped and the jobs are read again.
  std::unordered_set<uint64_t> completed;
  NewSets new_sets;
  std::optional<std::pair<uint64_t, uint32_t>> enrich_floor;
  const auto fail = [&](Status status) {
    for (uint64_t job_id : completed) leased_.erase(job_id);
    ForgetSharedSets(new_sets);
    return status;
  };
  for (const ResultIn& in : results) {
    const auto duplicate = [&] {
      return Status(StatusCode::kAlreadyExists,
                    "job " + std::to_string(in.job_id) + " attempt " +
                        std::to_string(in.attempt) +
                        " is not the current lease");
    };
    if (completed.count(in.job_id)) {
      outcomes.push_back(duplicate());
      continue;
    }
    pb::JobRecord read;
    pb::JobRecord* job = &read;
    if (auto it = leased_.find(in.job_id); it != leased_.end()) {
      job = &it->second;
    } else if (auto got = GetJob(in.job_id); got.ok()) {
      read = *std::move(got);
    } else if (got.status().code() == StatusCode::kNotFound) {
      outcomes.push_back(got.status());
      continue;
    } else {
      return fail(got.status());
    }
    if (job->state() != pb::JOB_STATE_LEASED || job->attempts() != in.attempt) {
      outcomes.push_back(duplicate());
      continue;
    }
    const std::string key = ResultKey(in.job_id, job->checks());
    // Parsing concatenated messages merges them: the stored result says
    // rdap.state "pending" without decoding the observation.
    const Status put =
        PutResult(&batch, key, in.observation,
                  policy_.enrich_results ? PendingRdapBytes() : "", &new_sets);
    // Not reached from the broker: SummarizeObservation refuses first
    // whatever SplitForStorage refuses.
    if (put.code() == StatusCode::kInvalidArgument) {
      outcomes.push_back(put);
      continue;
    }
    if (!put.ok()) return fail(put);
    if (policy_.enrich_results) {
      batch.Put(enrich_, key, "");
      const std::pair<uint64_t, uint32_t> position{in.job_id, job->checks()};
      enrich_floor = std::min(enrich_floor.value_or(position), position);
    }
    // LEASED -> DONE: every line leaves in flight and finishes.
    AddJobLines(*job, -1, &changes);
    job->set_checks(job->checks() + 1);
    job->set_state(pb::JOB_STATE_DONE);
    job->set_last_status(std::string(in.status));
    job->set_last_error("");
    job->set_updated_unix_ms(now_ms);
    job->set_last_check_unix_ms(now_ms);
    ClearDue(&batch, job);
    if (policy_.recheck_interval_ms > 0 && in.status == "located") {
      job->set_recheck_due_unix_ms(now_ms + policy_.recheck_interval_ms);
      batch.Put(due_, DueKey(job->recheck_due_unix_ms(), in.job_id), "");
      soonest_due = std::min(soonest_due, job->recheck_due_unix_ms());
    }
    AddJobLines(*job, +1, &changes);
    AddFinished(*job, &changes);
    if (Status put_job = PutJob(&batch, *job); !put_job.ok()) {
      return fail(put_job);
    }
    completed.insert(in.job_id);
    outcomes.push_back(std::move(*job));
  }
  if (completed.empty()) return outcomes;
  if (Status written = WriteCounted(&batch, changes, /*sync=*/false, now_ms);
      !written.ok()) {
    return fail(written);
  }
  for (uint64_t job_id : completed) leased_.erase(job_id);
  if (enrich_floor) {
    enrich_floor_ =
        std::min(enrich_floor_.value_or(*enrich_floor), *enrich_floor);
  }
  leased_count_ -= std::min<uint64_t>(leased_count_, completed.size());
  next_due_ms_ = std::min(next_due_ms_, soonest_due);
  return outcomes;
}

Result<uint64_t> Store::QueueDueRechecks(int64_t now_ms, size_t max) {
  std::lock_guard lock(mu_);
  if (now_ms < next_due_ms_) return uint64_t{0};
  rocksdb::WriteBatch batch;
  CountChanges changes;
  uint64_t queued = 0;
  size_t looked_at = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), due_));
  for (it->SeekToFirst(); it->Valid() && looked_at < max;
       it->Next(), ++looked_at) {
    const std::string_view key = it->key().ToStringView();
    const auto due_ms = static_cast<int64_t>(ReadU64(key));
    if (due_ms > now_ms) break;
    const uint64_t job_id = ReadU64(key.substr(8));
    auto job = GetJob(job_id);
    if (!job.ok()) return job.status();
    if (job->state() != pb::JOB_STATE_DONE ||
        job->recheck_due_unix_ms() != due_ms) {
      batch.Delete(due_, it->key());  // stale: the job moved on
      continue;
    }
    HL_RETURN_IF_ERROR(QueueForCheck(&batch, &*job, now_ms, &changes));
    ++queued;
  }
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "re-check index scan failed"));
  next_due_ms_ = it->Valid()
                     ? static_cast<int64_t>(ReadU64(it->key().ToStringView()))
                     : INT64_MAX;
  if (batch.Count() == 0) return queued;
  HL_RETURN_IF_ERROR(WriteCounted(&batch, changes, /*sync=*/false, now_ms));
  pending_count_ += queued;
  return queued;
}

Result<Store::QueueCounts> Store::QueueChecks(
    const std::vector<uint64_t>& job_ids, int64_t now_ms) {
  std::lock_guard lock(mu_);
  rocksdb::WriteBatch batch;
  CountChanges changes;
  QueueCounts counts;
  for (uint64_t job_id : job_ids) {
    auto job = CurrentJob(job_id);
    if (!job.ok()) return job.status();
    if (job->state() != pb::JOB_STATE_DONE &&
        job->state() != pb::JOB_STATE_DEAD) {
      ++counts.skipped;
      continue;
    }
    HL_RETURN_IF_ERROR(QueueForCheck(&batch, &*job, now_ms, &changes));
    ++counts.queued;
  }
  if (counts.queued == 0) return counts;
  HL_RETURN_IF_ERROR(WriteCounted(&batch, changes, /*sync=*/true, now_ms));
  pending_count_ += counts.queued;
  return counts;
}

Result<std::vector<Store::EnrichmentItem>> Store::PendingEnrichment(
    size_t max, uint64_t from_job, uint32_t from_check) {
  std::vector<EnrichmentItem> items;
  rocksdb::WriteBatch stale;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), enrich_));
  // Made after `it`: it sees the result of every entry `it` sees. The
  // entries' results come in key order, each normally the key after the
  // previous one: reached by a step, not a search.
  std::unique_ptr<rocksdb::Iterator> results(
      db_->NewIterator(rocksdb::ReadOptions(), results_));
  for (it->Seek(ResultKey(from_job, from_check));
       it->Valid() && items.size() < max; it->Next()) {
    const rocksdb::Slice key = it->key();
    SeekForward(results.get(), key);
    if (!results->Valid() || results->key() != key) {
      HL_RETURN_IF_ERROR(
          FromRocks(results->status(), "cannot read a result to enrich"));
      stale.Delete(enrich_, key);
      continue;
    }
    EnrichmentItem& item = items.emplace_back();
    item.job_id = ReadU64(key.ToStringView());
    item.check = static_cast<uint32_t>(ReadU64(key.ToStringView().substr(8)));
    if (!ParseView(results->value().ToStringView(), &item.source)) {
      return Undecodable("result");
    }
  }
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "enrichment index scan failed"));
  if (stale.Count() > 0) HL_RETURN_IF_ERROR(Write(&stale, /*sync=*/false));
  return items;
}

std::optional<std::pair<uint64_t, uint32_t>> Store::TakeEnrichmentFloor() {
  std::lock_guard lock(mu_);
  return std::exchange(enrich_floor_, std::nullopt);
}

Result<uint64_t> Store::CountPendingEnrichment(uint64_t limit) const {
  uint64_t n = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), enrich_));
  for (it->SeekToFirst(); it->Valid() && n < limit; it->Next()) ++n;
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "enrichment index scan failed"));
  return n;
}

uint64_t Store::PurgeCount() const {
  std::lock_guard lock(mu_);
  return purges_;
}

Status Store::CompleteEnrichment(const std::vector<Enriched>& done,
                                 std::optional<uint64_t> found_after_purges) {
  if (done.empty()) return Status::Ok();
  // Under the job mutex, so a purge cannot remove a result between the
  // check and the write.
  std::lock_guard lock(mu_);
  const bool check = found_after_purges != purges_;
  rocksdb::WriteBatch batch;
  rocksdb::PinnableSlice stored;  // only whether it is there
  for (const Enriched& e : done) {
    const std::string key = ResultKey(e.job_id, e.check);
    batch.Delete(enrich_, key);
    if (check) {
      stored.Reset();
      rocksdb::Status s =
          db_->Get(rocksdb::ReadOptions(), results_, key, &stored);
      if (s.IsNotFound()) continue;
      HL_RETURN_IF_ERROR(FromRocks(s, "cannot read a result to enrich"));
    }
    batch.Put(results_, EnrichmentKey(e.job_id, e.check),
              e.enrichment.SerializeAsString());
  }
  stored.Reset();
  return Write(&batch, /*sync=*/false);
}

Status Store::PutResult(rocksdb::WriteBatch* batch, const std::string& key,
                        std::string_view observation, std::string_view suffix,
                        NewSets* new_sets) {
  Result<StorageSplit> split = SplitForStorage(observation);
  if (!split.ok()) return split.status();
  std::vector<rocksdb::Slice> parts;
  parts.reserve(split->rest.size() + 3);
  for (std::string_view piece : split->rest) {
    parts.emplace_back(piece.data(), piece.size());
  }
  if (!split->data_sources.empty()) {
    std::string joined;
    std::string_view sources = split->data_sources.front();
    if (split->data_sources.size() > 1) {
      for (std::string_view piece : split->data_sources) joined += piece;
      sources = joined;
    }
    parts.emplace_back(
        SharedSet(SetKind::kDataSources, sources, batch, new_sets));
  }
  if (!split->referrals.empty()) {
    parts.emplace_back(
        SharedSet(SetKind::kReferrals, split->referrals, batch, new_sets));
  }
  if (!suffix.empty()) parts.emplace_back(suffix.data(), suffix.size());
  const rocksdb::Slice key_slice(key);
  return FromRocks(
      batch->Put(
          results_, rocksdb::SliceParts(&key_slice, 1),
          rocksdb::SliceParts(parts.data(), static_cast<int>(parts.size()))),
      "result write failed");
}

const std::string& Store::SharedSet(SetKind kind, std::string_view set,
                                    rocksdb::WriteBatch* batch,
                                    NewSets* new_sets) {
  auto& refs = set_refs_[static_cast<size_t>(kind)];
  const SetRef*& last = last_set_ref_[static_cast<size_t>(kind)];
  if (last != nullptr && last->first == set) return last->second;
  auto known = refs.find(set);
  if (known != refs.end()) {
    last = &*known;
    return known->second;
  }
  if (refs.size() >= kMaxSharedSets) {
    refs.clear();
    last = nullptr;
  }
  const std::string sha = Sha256Hex(set);
  pb::Observation ref;
  (kind == SetKind::kDataSources ? ref.mutable_data_sources_ref()
                                 : ref.mutable_referrals_ref())
      ->assign(sha);
  batch->Put(meta_,
             std::string(kSharedSetPrefix[static_cast<size_t>(kind)]) + sha,
             rocksdb::Slice(set.data(), set.size()));
  known = refs.emplace(std::string(set), ref.SerializeAsString()).first;
  new_sets->emplace_back(kind, known->first);
  last = &*known;
  return known->second;
}

void Store::ForgetSharedSets(const NewSets& sets) {
  for (const auto& [kind, set] : sets) {
    set_refs_[static_cast<size_t>(kind)].erase(set);
    last_set_ref_[static_cast<size_t>(kind)] = nullptr;
  }
}

Status Store::ParseResult(std::string_view bytes, pb::Observation* out) const {
  HL_RETURN_IF_ERROR(Parse(bytes, out, "result"));
  return AttachDataSources(out);
}

Status Store::AddEnrichment(std::string_view bytes, pb::Observation* out,
                            pb::Observation* scratch) const {
  HL_RETURN_IF_ERROR(Parse(bytes, scratch, "enrichment"));
  ApplyEnrichment(*scratch, out);
  return Status::Ok();
}

Status Store::AttachDataSources(pb::Observation* observation) const {
  if (!observation->data_sources_ref().empty()) {
    auto set =
        ReadSharedSet(SetKind::kDataSources, observation->data_sources_ref());
    if (!set.ok()) return set.status();
    observation->clear_data_sources_ref();
    observation->mutable_data_sources()->MergeFrom((*set)->data_sources());
  }
  if (!observation->referrals_ref().empty()) {
    auto set = ReadSharedSet(SetKind::kReferrals, observation->referrals_ref());
    if (!set.ok()) return set.status();
    observation->clear_referrals_ref();
    observation->mutable_verdict()->mutable_jurisdiction()->MergeFrom(
        (*set)->verdict().jurisdiction());
  }
  return Status::Ok();
}

Result<std::shared_ptr<const pb::Observation>> Store::ReadSharedSet(
    SetKind kind, const std::string& ref) const {
  const std::string key =
      std::string(kSharedSetPrefix[static_cast<size_t>(kind)]) + ref;
  {
    std::lock_guard lock(sources_mu_);
    if (auto it = source_sets_.find(key); it != source_sets_.end()) {
      return it->second;
    }
  }
  std::string bytes;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, key, &bytes);
  if (s.IsNotFound()) {
    return DataLoss("a result cites " + key +
                    ", which the store does not hold");
  }
  HL_RETURN_IF_ERROR(FromRocks(s, "cannot read a result's " + key));
  auto parsed = std::make_shared<pb::Observation>();
  HL_RETURN_IF_ERROR(
      kind == SetKind::kDataSources
          ? Parse(bytes, parsed.get(), "data sources")
          : Parse(bytes, parsed->mutable_verdict()->mutable_jurisdiction(),
                  "referral targets"));
  std::lock_guard lock(sources_mu_);
  if (source_sets_.size() >= kMaxSharedSets) source_sets_.clear();
  source_sets_.emplace(key, parsed);
  return std::shared_ptr<const pb::Observation>(std::move(parsed));
}

Result<std::optional<std::string>> Store::GetRdapCache(
    const std::string& key) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), rdap_cache_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  HL_RETURN_IF_ERROR(FromRocks(s, "cannot read the RDAP cache"));
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::pair<std::string, std::string>>> Store::SeekRdapCache(
    const std::string& key, const std::string& prefix) const {
  using Entry = std::optional<std::pair<std::string, std::string>>;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), rdap_cache_));
  it->Seek(key);
  HL_RETURN_IF_ERROR(FromRocks(it->status(), "cannot read the RDAP cache"));
  if (!it->Valid() || !it->key().starts_with(prefix)) return Entry();
  return Entry(std::make_pair(it->key().ToString(), it->value().ToString()));
}

Status Store::PutRdapCache(const std::string& key, const std::string& value) {
  rocksdb::WriteBatch batch;
  batch.Put(rdap_cache_, key, value);
  return Write(&batch, /*sync=*/false);
}

int64_t Store::next_recheck_ms() const {
  std::lock_guard lock(mu_);
  return next_due_ms_;
}

namespace {

// Writes `batch` once it holds many operations, so a purge of millions of
// records does not build one huge batch.
constexpr size_t kPurgeOpsPerWrite = 16384;

// Adds to `batch` the deletion of every key of `family` that starts with
// the 8-byte `id`: the store's only kind of range deletion, kept to the
// insert hints' contract (memtable_hints.h) or refused.
Status DeleteKeysOfId(rocksdb::WriteBatch* batch,
                      rocksdb::ColumnFamilyHandle* family, uint64_t id) {
  const std::string begin = U64Key(id);
  if (!RangeDeletionTakesNoHint(family->GetName(), begin)) {
    return Internal("a range deletion in family " + family->GetName() +
                    " would take a memtable insert hint");
  }
  return FromRocks(batch->DeleteRange(family, begin, U64Key(id + 1)),
                   "batch range delete");
}

}  // namespace

Result<PurgeCounts> Store::Purge(int64_t cutoff_ms, bool dry_run,
                                 const std::string& actor, int64_t now_ms) {
  PurgeCounts counts;
  {
    std::lock_guard ingest_lock(ingest_mu_);
    std::lock_guard lock(mu_);
    if (!dry_run) ++purges_;
    rocksdb::WriteBatch batch;
    auto flush = [&](bool force) -> Status {
      if (dry_run || batch.Count() == 0) return Status::Ok();
      if (!force && batch.Count() < kPurgeOpsPerWrite) return Status::Ok();
      HL_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
      batch.Clear();
      return Status::Ok();
    };
    // Runs: purged ones go with their lines; kept ones keep their jobs.
    std::unordered_set<uint64_t> kept_jobs;
    std::vector<uint64_t> purged_runs;
    std::unique_ptr<rocksdb::Iterator> runs(
        db_->NewIterator(rocksdb::ReadOptions(), runs_));
    for (runs->SeekToFirst(); runs->Valid(); runs->Next()) {
      pb::RunRecord run;
      HL_RETURN_IF_ERROR(Parse(runs->value().ToStringView(), &run, "run"));
      const bool purge = run.started_unix_ms() < cutoff_ms;
      if (purge) purged_runs.push_back(run.run_id());
      HL_RETURN_IF_ERROR(
          ForEachLine(run.run_id(), [&](const pb::LineRecord& line) {
            if (purge) {
              ++counts.lines;
            } else if (line.job_id() != 0) {
              kept_jobs.insert(line.job_id());
            }
            return Status::Ok();
          }));
    }
    HL_RETURN_IF_ERROR(FromRocks(runs->status(), "run scan failed"));
    for (uint64_t run_id : purged_runs) {
      ++counts.runs;
      batch.Delete(runs_, U64Key(run_id));
      batch.Delete(batch_counts_, U64Key(run_id));
      HL_RETURN_IF_ERROR(DeleteKeysOfId(&batch, lines_, run_id));
    }
    HL_RETURN_IF_ERROR(flush(/*force=*/true));
    if (!dry_run) {
      for (uint64_t run_id : purged_runs) live_.erase(run_id);
    }
    const std::unordered_set<uint64_t> purged(purged_runs.begin(),
                                              purged_runs.end());
    // Jobs: unreferenced finished ones go whole; the others lose their old
    // checks except the latest, and their lines of purged runs.
    std::unique_ptr<rocksdb::Iterator> jobs(
        db_->NewIterator(rocksdb::ReadOptions(), jobs_));
    for (jobs->SeekToFirst(); jobs->Valid(); jobs->Next()) {
      pb::JobRecord job;
      HL_RETURN_IF_ERROR(Parse(jobs->value().ToStringView(), &job, "job"));
      const uint64_t id = job.job_id();
      const bool finished = job.state() == pb::JOB_STATE_DONE ||
                            job.state() == pb::JOB_STATE_DEAD;
      if (finished && !kept_jobs.contains(id)) {
        ++counts.jobs;
        counts.results += job.checks();
        ClearDue(&batch, &job);
        batch.Delete(jobs_, U64Key(id));
        batch.Delete(url_index_, JobKey(job.url(), job.context()));
        HL_RETURN_IF_ERROR(DeleteKeysOfId(&batch, results_, id));
        HL_RETURN_IF_ERROR(flush(/*force=*/false));
        continue;
      }
      const auto& refs = job.batches();
      if (!dry_run &&
          std::any_of(refs.begin(), refs.end(), [&](const pb::BatchLines& b) {
            return purged.contains(b.run_id());
          })) {
        auto current = CurrentJob(id);  // a leased job's record is leased_'s
        if (!current.ok()) return current.status();
        auto* kept = current->mutable_batches();
        kept->erase(std::remove_if(kept->begin(), kept->end(),
                                   [&](const pb::BatchLines& b) {
                                     return purged.contains(b.run_id());
                                   }),
                    kept->end());
        HL_RETURN_IF_ERROR(PutJob(&batch, *current));
        if (leased_.contains(id)) leased_[id] = *current;
      }
      if (job.checks() > 1) {
        auto checks = History(id);
        if (!checks.ok()) return checks.status();
        for (uint32_t check = 0; check + 1 < checks->size(); ++check) {
          if ((*checks)[check].checked_at_unix_ms() >= cutoff_ms) continue;
          ++counts.results;
          batch.Delete(results_, ResultKey(id, check));
          batch.Delete(results_, EnrichmentKey(id, check));
        }
      }
      HL_RETURN_IF_ERROR(flush(/*force=*/false));
    }
    HL_RETURN_IF_ERROR(FromRocks(jobs->status(), "job scan failed"));
    HL_RETURN_IF_ERROR(flush(/*force=*/true));
    std::unique_ptr<rocksdb::Iterator> manifests(
        db_->NewIterator(rocksdb::ReadOptions(), meta_));
    for (manifests->Seek(kMetaExportManifest);
         manifests->Valid() &&
         manifests->key().starts_with(rocksdb::Slice(
             kMetaExportManifest.data(), kMetaExportManifest.size()));
         manifests->Next()) {
      const rocksdb::Slice value = manifests->value();
      if (value.size() >= 8 && static_cast<int64_t>(ReadU64(std::string_view(
                                   value.data(), value.size()))) >= cutoff_ms) {
        continue;
      }
      ++counts.manifests;
      batch.Delete(meta_, manifests->key());
    }
    HL_RETURN_IF_ERROR(FromRocks(manifests->status(), "manifest scan failed"));
    HL_RETURN_IF_ERROR(flush(/*force=*/true));
  }
  if (dry_run) return counts;
  auto audited =
      AppendAudit(actor, "purge",
                  "before " + std::to_string(cutoff_ms) +
                      " ms: " + std::to_string(counts.runs) + " runs, " +
                      std::to_string(counts.lines) + " lines, " +
                      std::to_string(counts.results) + " results, " +
                      std::to_string(counts.jobs) + " jobs, " +
                      std::to_string(counts.manifests) + " export manifests",
                  now_ms);
  if (!audited.ok()) return audited.status();
  return counts;
}

Status Store::PutExportManifest(const std::string& export_id,
                                const std::string& text, int64_t signed_ms) {
  rocksdb::WriteBatch batch;
  batch.Put(meta_, std::string(kMetaExportManifest) + export_id,
            U64Key(static_cast<uint64_t>(signed_ms)) + text);
  return Write(&batch, /*sync=*/true);
}

Result<std::optional<std::string>> Store::GetExportManifest(
    const std::string& export_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_,
               std::string(kMetaExportManifest) + export_id, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  HL_RETURN_IF_ERROR(FromRocks(s, "cannot read an export manifest"));
  if (value.size() < 8) return DataLoss("a stored export manifest is cut");
  return std::optional<std::string>(value.substr(8));
}

Status Store::Checkpoint(const std::string& dest, const std::string& actor,
                         int64_t now_ms) {
  std::error_code ec;
  if (std::filesystem::exists(dest, ec)) {
    return FailedPrecondition("backup destination " + dest +
                              " exists; name a new folder");
  }
  auto audited = AppendAudit(actor, "backup", "to " + dest, now_ms);
  if (!audited.ok()) return audited.status();
  rocksdb::Checkpoint* raw = nullptr;
  HL_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw),
                               "cannot start a backup"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // Flushes the memtables first: the copy needs no WAL replay.
  HL_RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(dest),
                               "cannot write the backup to " + dest));
  ::chmod(dest.c_str(), 0700);
  return Status::Ok();
}

Result<std::unique_ptr<Store>> Store::Restore(const std::string& backup_dir,
                                              const std::string& data_dir,
                                              StorePolicy policy) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::path(backup_dir) / "CURRENT", ec)) {
    return FailedPrecondition(backup_dir +
                              " is not a hostlocator backup (no RocksDB "
                              "CURRENT file); give the folder that "
                              "`hostlocator backup --to` wrote");
  }
  if (fs::exists(data_dir, ec) && !fs::is_empty(data_dir, ec)) {
    return FailedPrecondition("data folder " + data_dir +
                              " is not empty; restore into a new or empty "
                              "folder");
  }
  auto empty_data_dir = [&] {
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(data_dir, ignored)) {
      fs::remove_all(entry.path(), ignored);
    }
  };
  fs::create_directories(data_dir, ec);
  if (!ec) fs::copy(backup_dir, data_dir, fs::copy_options::recursive, ec);
  if (ec) {
    empty_data_dir();
    return FailedPrecondition("cannot copy " + backup_dir + " to " + data_dir +
                              ": " + ec.message());
  }
  auto store = Open(data_dir, policy);
  if (!store.ok()) empty_data_dir();
  return store;
}

}  // namespace hl::coordinator
