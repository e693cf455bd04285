// Counts a closed store's entries per column family, read straight from
// RocksDB: what tests use to see what a store operation left behind.
#ifndef HOSTLOCATOR_TESTS_COORDINATOR_FAMILY_ENTRIES_H_
#define HOSTLOCATOR_TESTS_COORDINATOR_FAMILY_ENTRIES_H_

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hl::coordinator::testing {

// Entries of each column family of the closed store in `dir`; a test
// failure (and what was counted so far) when it cannot be opened.
inline std::map<std::string, int> FamilyEntries(const std::string& dir) {
  std::map<std::string, int> entries;
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(options, dir, &names).ok()) {
    ADD_FAILURE() << "cannot list the column families of " << dir;
    return entries;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& n : names) {
    families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(options, dir, families, &handles, &db)
           .ok()) {
    ADD_FAILURE() << "cannot open " << dir;
    return entries;
  }
  for (size_t i = 0; i < names.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++entries[names[i]];
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return entries;
}

}  // namespace hl::coordinator::testing

#endif  // HOSTLOCATOR_TESTS_COORDINATOR_FAMILY_ENTRIES_H_
