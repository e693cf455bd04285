#include "coordinator/store_memory_trace.h"

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/process.h"

// jemalloc's control interface, present only when the binary links
// jemalloc (not in sanitizer builds or the tests).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp,
                       void* newp, size_t newlen) __attribute__((weak));

namespace hl::coordinator {
namespace {

constexpr auto kPeriod = std::chrono::seconds(1);

int64_t ResidentKb() {
  return static_cast<int64_t>(CurrentProcessUsage().resident_bytes / 1024);
}

// A jemalloc statistic in KB, -1 without jemalloc.
int64_t JemallocKb(const char* name) {
  if (mallctl == nullptr) return -1;
  size_t value = 0;
  size_t len = sizeof(value);
  if (mallctl(name, &value, &len, nullptr, 0) != 0) return -1;
  return static_cast<int64_t>(value / 1024);
}

}  // namespace

std::unique_ptr<StoreMemoryTrace> StoreMemoryTrace::StartFromEnvironment(
    rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> families) {
  const char* path = std::getenv(kStoreMemoryTraceEnv);
  if (path == nullptr || *path == '\0') return nullptr;
  std::FILE* out = std::fopen(path, "a");
  if (out == nullptr) {
    spdlog::warn("{}: cannot open {}: {}", kStoreMemoryTraceEnv, path,
                 std::strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<StoreMemoryTrace>(
      new StoreMemoryTrace(db, std::move(families), out));
}

StoreMemoryTrace::StoreMemoryTrace(
    rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> families,
    std::FILE* out)
    : db_(db), families_(std::move(families)), out_(out) {
  std::fprintf(out_, "# pid=%d\n", static_cast<int>(::getpid()));
  // The first sample is written here, so a store closed at once still has
  // a first and a last one.
  WriteSample(0);
  thread_ = std::thread([this] { Run(); });
}

StoreMemoryTrace::~StoreMemoryTrace() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::fclose(out_);
}

void StoreMemoryTrace::Run() {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - start)
        .count();
  };
  std::unique_lock<std::mutex> lock(mu_);
  for (auto next = start + kPeriod;; next += kPeriod) {
    if (wake_.wait_until(lock, next, [this] { return stop_; })) break;
    WriteSample(elapsed_ms());
  }
  WriteSample(elapsed_ms());
}

void StoreMemoryTrace::WriteSample(int64_t t_ms) {
  auto aggregated = [this](const char* property) -> int64_t {
    uint64_t value = 0;
    return db_->GetAggregatedIntProperty(property, &value)
               ? static_cast<int64_t>(value / 1024)
               : -1;
  };
  auto count = [this](const char* property) -> int64_t {
    uint64_t value = 0;
    return db_->GetAggregatedIntProperty(property, &value)
               ? static_cast<int64_t>(value)
               : -1;
  };
  auto db_wide = [this](const char* property, uint64_t scale) -> int64_t {
    uint64_t value = 0;
    return db_->GetIntProperty(property, &value)
               ? static_cast<int64_t>(value / scale)
               : -1;
  };
  size_t sst_files = 0;
  for (auto* family : families_) {
    rocksdb::ColumnFamilyMetaData meta;
    db_->GetColumnFamilyMetaData(family, &meta);
    sst_files += meta.file_count;
  }
  if (mallctl != nullptr) {
    uint64_t epoch = 1;  // refreshes jemalloc's cached statistics
    size_t len = sizeof(epoch);
    mallctl("epoch", &epoch, &len, &epoch, len);
  }
  fmt::print(out_,
             "t_ms={} rss_kb={} memtables={} table_readers={} block_cache={} "
             "block_cache_pinned={} sst_files={} flushes={} compactions={} "
             "je_allocated={} je_resident={} je_retained={} "
             "immutable_memtables={} write_stopped={} delayed_write_rate={}\n",
             t_ms, ResidentKb(), aggregated("rocksdb.size-all-mem-tables"),
             aggregated("rocksdb.estimate-table-readers-mem"),
             db_wide("rocksdb.block-cache-usage", 1024),
             db_wide("rocksdb.block-cache-pinned-usage", 1024), sst_files,
             db_wide("rocksdb.num-running-flushes", 1),
             db_wide("rocksdb.num-running-compactions", 1),
             JemallocKb("stats.allocated"), JemallocKb("stats.resident"),
             JemallocKb("stats.retained"),
             count("rocksdb.num-immutable-mem-table"),
             db_wide("rocksdb.is-write-stopped", 1),
             db_wide("rocksdb.actual-delayed-write-rate", 1024));
  std::fflush(out_);
}

}  // namespace hl::coordinator
