// A bench-only trace of where the store's process keeps its memory.
//
// With the environment variable HL_STORE_MEMORY_TRACE set to a file path,
// Store::Open starts a StoreMemoryTrace: one thread that appends a line of
// `key=value` fields to that file when it starts, every second, and when it
// stops, so a long run shows which part of the resident set grows with the
// number of URLs (bench/README.md, "RSS at 1,000,000 URLs"). Unset, nothing
// runs. Fields: `t_ms` since the start; `rss_kb` (VmRSS); RocksDB's
// `memtables` (rocksdb.size-all-mem-tables, immutable ones included),
// `table_readers` (rocksdb.estimate-table-readers-mem), `block_cache` and
// `block_cache_pinned` (the shared cache's usage), `sst_files`, `flushes`
// and `compactions` running; with jemalloc, its `je_allocated`,
// `je_resident` and `je_retained` (sizes in KB, -1 when unknown); then
// `immutable_memtables` waiting for their flush, `write_stopped` (1 while
// RocksDB stops writes) and `delayed_write_rate` (KB/s, 0 unless writes are
// slowed down): a stalled store write holds up the coordinator, and the
// results waiting for it are held in memory.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace hl::coordinator {

inline constexpr char kStoreMemoryTraceEnv[] = "HL_STORE_MEMORY_TRACE";

class StoreMemoryTrace {
 public:
  // Starts tracing `db` (its column families `families`, both outliving the
  // trace) into the file named by HL_STORE_MEMORY_TRACE; nullptr when the
  // variable is unset or empty, or the file cannot be opened (a warning is
  // logged: the trace never stops the store).
  static std::unique_ptr<StoreMemoryTrace> StartFromEnvironment(
      rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> families);
  // Writes a last line and joins the thread.
  ~StoreMemoryTrace();
  StoreMemoryTrace(const StoreMemoryTrace&) = delete;
  StoreMemoryTrace& operator=(const StoreMemoryTrace&) = delete;

 private:
  StoreMemoryTrace(rocksdb::DB* db,
                   std::vector<rocksdb::ColumnFamilyHandle*> families,
                   std::FILE* out);
  void Run();
  void WriteSample(int64_t t_ms);

  rocksdb::DB* const db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> families_;
  std::FILE* const out_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hl::coordinator
