#include "coordinator/memtable_hints.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/slice_transform.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/store.h"

namespace hl::coordinator {
namespace {

std::string Id(uint64_t v, int bytes = 8) {
  std::string k;
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    k.push_back(static_cast<char>((v >> shift) & 0xff));
  }
  return k;
}

TEST(InsertHintIdSizeTest, FamiliesKeyedByAscendingIds) {
  const struct {
    std::string family;
    size_t id_size;
  } cases[] = {
      {"jobs", 8},       {"queue", 8}, {"results", 12},  {"enrich", 12},
      {"lines", 16},     {"due", 16},  {"url_index", 0}, {"meta", 0},
      {"rdap_cache", 0}, {"runs", 0},  {"audit", 0},     {"batch_counts", 0},
      {"default", 0},    {"", 0},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(InsertHintIdSize(c.family), c.id_size) << c.family;
  }
}

// A range deletion takes no hint only when its start is shorter than its
// family's hinted ids: the purge's ranges (a job's results, a run's lines,
// from the 8-byte id alone) do; one over jobs or queue would not.
TEST(RangeDeletionTakesNoHintTest, OnlyStartsShorterThanTheHintedIds) {
  const struct {
    std::string family;
    std::string begin;
    bool no_hint;
  } cases[] = {
      {"results", Id(7), true},
      {"lines", Id(3), true},
      {"results", Id(7) + Id(2, 4), false},
      {"lines", Id(3) + Id(9), false},
      {"jobs", Id(7), false},
      {"queue", Id(7), false},
      {"due", Id(5), true},
      {"url_index", Id(7), true},
      {"meta", "", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(RangeDeletionTakesNoHint(c.family, c.begin), c.no_hint)
        << c.family << " / " << c.begin.size();
  }
}

// The group of a key is what follows its ids; a key shorter than the ids
// (a purge's DeleteRange starts at the 8-byte id alone) has none.
TEST(InsertHintTransformTest, GroupsKeysByWhatFollowsTheirIds) {
  const struct {
    size_t id_size;
    std::string key;
    bool in_domain;
    std::string group;
  } cases[] = {
      {8, Id(7), true, ""},                     // jobs, queue
      {12, Id(7) + Id(2, 4), true, ""},         // a result
      {12, Id(7) + Id(2, 4) + "e", true, "e"},  // its enrichment
      {12, Id(7), false, ""},         // DeleteRange of a job's results
      {16, Id(3) + Id(9), true, ""},  // a line
      {16, Id(3), false, ""},         // DeleteRange of a run's lines
      {16, Id(3) + Id(9, 7), false, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.id_size) + " / " +
                 std::to_string(c.key.size()));
    const auto transform = NewInsertHintTransform(c.id_size);
    const rocksdb::Slice key(c.key);
    EXPECT_EQ(transform->InDomain(key), c.in_domain);
    if (c.in_domain) EXPECT_EQ(transform->Transform(key).ToString(), c.group);
  }
}

// Hinted inserts out of order, overwrites, deletions and range deletions
// in one memtable read back as a plain map of the same operations (RocksDB
// 7.8 shares a memtable's hints between its point entries and its range
// deletions: the range deletions' keys must stay out of the domain).
TEST(InsertHintTransformTest, MemtableReadsBackWithRangeDeletions) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("hl-memtable-hints-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.allow_concurrent_memtable_write = false;
  options.memtable_insert_with_hint_prefix_extractor =
      NewInsertHintTransform(12);
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.string(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, std::string> want;
  const auto put = [&](const std::string& key, const std::string& value) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    want[key] = value;
  };
  // Results of jobs in a shuffled order, each rewritten, enrichments behind
  // them, some jobs' results range-deleted between the writes.
  constexpr uint64_t kJobs = 600;
  for (uint64_t round = 0; round < 3; ++round) {
    for (uint64_t i = 0; i < kJobs; ++i) {
      const uint64_t job = (i * 7919) % kJobs;
      const std::string key = Id(job) + Id(round % 2, 4);
      put(key, "r" + std::to_string(round));
      if (i >= 50) {
        const uint64_t behind = ((i - 50) * 7919) % kJobs;
        put(Id(behind) + Id(round % 2, 4) + "e", "e" + std::to_string(round));
      }
      if (i % 97 == 0) {
        const uint64_t gone = (i * 31) % kJobs;
        rocksdb::WriteBatch batch;
        ASSERT_TRUE(batch.DeleteRange(Id(gone), Id(gone + 1)).ok());
        ASSERT_TRUE(batch.Delete(Id(gone + 1) + Id(0, 4)).ok());
        ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
        want.erase(want.lower_bound(Id(gone)), want.lower_bound(Id(gone + 1)));
        want.erase(Id(gone + 1) + Id(0, 4));
      }
    }
  }
  std::map<std::string, std::string> got;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    got[it->key().ToString()] = it->value().ToString();
  }
  ASSERT_TRUE(it->status().ok());
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
  for (const auto& [key, value] : want) {
    std::string read;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), key, &read).ok());
    EXPECT_EQ(read, value);
  }
  it.reset();
  db.reset();
  std::filesystem::remove_all(dir);
}

// A store opens each family with the hint InsertHintIdSize names, as its
// OPTIONS file records.
TEST(InsertHintTransformTest, StoreFamiliesOpenWithTheirHints) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("hl-memtable-hints-store-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(Store::Open(dir.string()).ok());
  std::filesystem::path latest;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("OPTIONS-") && entry.path() > latest) {
      latest = entry.path();
    }
  }
  ASSERT_FALSE(latest.empty());
  std::ifstream in(latest);
  std::map<std::string, std::string> hint_of;  // family -> option value
  std::string family, line;
  while (std::getline(in, line)) {
    if (line.starts_with("[CFOptions \"")) {
      family = line.substr(12, line.size() - 14);
    }
    const std::string option = "memtable_insert_with_hint_prefix_extractor=";
    if (const size_t at = line.find(option); at != std::string::npos) {
      hint_of[family] = line.substr(at + option.size());
    }
  }
  for (const std::string name :
       {"default", "meta", "jobs", "url_index", "queue", "results", "runs",
        "lines", "audit", "due", "enrich", "rdap_cache", "batch_counts"}) {
    const size_t id_size = InsertHintIdSize(name);
    EXPECT_EQ(hint_of[name], id_size == 0 ? "nullptr"
                                          : "hostlocator.InsertHint." +
                                                std::to_string(id_size))
        << name;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hl::coordinator
