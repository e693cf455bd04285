// The review table of a batch (GET /api/v1/batches/ID/rows): one compact
// row per line, filtered, sorted and paged in memory, with the batch-wide
// facets the UI draws its chart and filter menus from.
//
// A table is built from the store when the batch changed (the generation
// of Store::LiveCounts), at most once every kMinRebuildMs per batch (a
// table may lag that much behind a running batch), and kept by BatchTables.
// When only jobs changed (no new lines) and Store::ChangedJobs still
// reaches back to the table's generation, only those jobs are read again
// and the new table shares all but the changed chunks of facts with the
// previous one (ChunkedVector), its facets adjusted by the changed facts
// alone; otherwise a rebuild reads every line and job record, and re-reads
// results only for jobs whose checks or state changed since. Filtering,
// sorting and paging (RowsJson) are pure and table-tested.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/history.h"
#include "common/status.h"
#include "coordinator/api_request.h"
#include "coordinator/store.h"

namespace hl::coordinator {

// What the table shows of a line, shared by the lines of one job.
struct RowFacts {
  std::string url;        // the checked URL, else the job's, else the input
  std::string url_lower;  // for q
  std::string status;     // located|unresolved|error|rejected|queued|
                          // in_flight|dead
  std::string country;    // `referral` unless unattributed, else the first
                          // hosting country
  std::vector<std::string> countries;  // verdict.hosting_countries
  std::string provider;
  std::string provider_category;
  std::string error_class;
  std::string confidence;
  std::vector<std::string> events;  // moved|down|back_up, as they occurred
  std::string state;                // online|down|unreachable; "" no check
  int64_t checked_at_ms = 0;        // 0: no check
  std::string referral;             // the first referral package key
  std::string reason;               // a rejected line's reason
  // What the facts were read from (a rebuild reuses them while equal).
  uint32_t checks = 0;
  pb::JobState job_state = pb::JOB_STATE_UNSPECIFIED;
  uint32_t lines = 0;  // lines of the table sharing these facts
  bool cdn() const { return provider_category == "cdn"; }
};

struct TableRow {
  uint64_t line = 0;
  uint64_t job_id = 0;  // 0: rejected
  uint32_t facts = 0;   // index in BatchTable::facts
};

// A vector in chunks of kChunk values shared between copies: a copy costs
// a pointer per chunk, and Mutable copies the one chunk it writes to when
// another copy still shares it. Not thread-safe for writes; copies may be
// read from any thread while another copy is written.
template <typename T>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = 256;

  ChunkedVector() = default;
  ChunkedVector(std::initializer_list<T> values) {
    for (const T& v : values) push_back(v);
  }

  size_t size() const { return size_; }
  const T& operator[](size_t i) const {
    return (*chunks_[i / kChunk])[i % kChunk];
  }
  void push_back(T value) {
    if (size_ % kChunk == 0) {
      chunks_.push_back(std::make_shared<std::vector<T>>());
      chunks_.back()->reserve(kChunk);
    }
    Own(chunks_.back()).push_back(std::move(value));
    ++size_;
  }
  T& Mutable(size_t i) { return Own(chunks_[i / kChunk])[i % kChunk]; }

  class const_iterator {
   public:
    const_iterator(const ChunkedVector* v, size_t i) : v_(v), i_(i) {}
    const T& operator*() const { return (*v_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

   private:
    const ChunkedVector* v_;
    size_t i_;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

 private:
  // The chunk, copied first unless this vector is its only owner (then no
  // other copy can come to share it while this one is written).
  static std::vector<T>& Own(std::shared_ptr<std::vector<T>>& chunk) {
    if (chunk.use_count() > 1) {
      chunk = std::make_shared<std::vector<T>>(*chunk);
    }
    return *chunk;
  }

  std::vector<std::shared_ptr<std::vector<T>>> chunks_;
  size_t size_ = 0;
};

// Lines per value, by facet name.
using Facets = std::map<std::string, std::map<std::string, uint64_t>>;

struct BatchTable {
  uint64_t run_id = 0;
  uint64_t generation = 0;
  int64_t built_ms = 0;
  ChunkedVector<TableRow> rows;  // in line order
  ChunkedVector<RowFacts> facts;
  // job -> facts index; the same for a table and its updates.
  std::shared_ptr<const std::unordered_map<uint64_t, uint32_t>> job_facts;
  // Lines per value over the whole batch; a value with no line is absent.
  Facets facets;
};

enum class RowSort {
  kLine,
  kUrl,
  kCountry,
  kProvider,
  kStatus,
  kErrorClass,
  kConfidence,
  kCheckedAt
};

struct RowQuery {
  uint64_t offset = 0;
  size_t limit = 100;
  RowSort sort = RowSort::kLine;
  bool descending = false;
  std::string country;      // upper case; matches any of `countries`
  std::string provider;     // exact
  int cdn = -1;             // -1 any, 0 no, 1 yes
  std::string status;       // exact
  std::string error_class;  // exact
  std::string event;        // one of `events`
  std::string state;        // exact
  std::string q;            // lower case; substring of the URL
};
inline constexpr size_t kMaxRowsPage = 1000;

// The parameters of GET /api/v1/batches/ID/rows; errors say which value is
// wrong and what is allowed.
Result<RowQuery> ParseRowQuery(const QueryParams& params);

// The answer: {"total", "offset", "rows", "facets"} (docs/api.md).
std::string RowsJson(const BatchTable& table, const RowQuery& query);

// The facts of `line` given its job record (null for a rejected line) and
// its outcome; pure.
RowFacts FactsOf(const pb::LineRecord& line, const pb::JobRecord* job,
                 const pb::Observation* latest, const HistorySummary* history);

// Builds the table of batch `run_id` at `generation` (at `now_ms`), reusing
// the facts of `previous` (may be null) for jobs unchanged since.
Result<std::shared_ptr<const BatchTable>> BuildBatchTable(
    const Store& store, uint64_t run_id, uint64_t generation,
    const HistorySettings& settings, const BatchTable* previous,
    int64_t now_ms);

// `previous` with the facts of the jobs `changed` read again, at
// `generation` (the batch has the same lines).
Result<std::shared_ptr<const BatchTable>> UpdateBatchTable(
    const Store& store, const BatchTable& previous,
    const std::vector<uint64_t>& changed, uint64_t generation,
    const HistorySettings& settings, int64_t now_ms);

// The tables of the batches asked for lately (at most kKept), rebuilt when
// their batch changed. Thread-safe; one build at a time.
class BatchTables {
 public:
  static constexpr size_t kKept = 4;
  static constexpr int64_t kMinRebuildMs = 2000;
  BatchTables(const Store* store, HistorySettings settings)
      : store_(store), settings_(std::move(settings)) {}
  // NotFound for an unknown batch.
  Result<std::shared_ptr<const BatchTable>> Get(uint64_t run_id,
                                                int64_t now_ms);

 private:
  const Store* store_;
  HistorySettings settings_;
  std::mutex mu_;
  std::list<std::shared_ptr<const BatchTable>> kept_;  // most recent first
};

}  // namespace hl::coordinator
