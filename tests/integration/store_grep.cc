// Test helper for run_test.py's no-body check:
//   store_grep DIR TEXT
// reads every key and value of every column family of the closed RocksDB
// store in DIR through RocksDB (blocks decompressed, the WAL replayed: what
// a scan of the raw files can miss) and prints "FAMILY key KEY_HEX" or
// "FAMILY value KEY_HEX" for each that contains TEXT, then "read N
// entries". Exit 0 when the store was read, whatever was found; 1 when it
// could not be; 2 on a wrong command line.
#include <rocksdb/db.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: store_grep DIR TEXT\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string_view text = argv[2];
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir, &names);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (s.ok()) {
    s = rocksdb::DB::OpenForReadOnly(options, dir, families, &handles, &db);
  }
  long entries = 0;
  for (size_t i = 0; s.ok() && i < handles.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++entries;
      const std::string_view key = it->key().ToStringView();
      for (const auto& [part, bytes] :
           {std::pair{"key", key},
            std::pair{"value", it->value().ToStringView()}}) {
        if (bytes.find(text) != std::string_view::npos) {
          std::printf("%s %s %s\n", names[i].c_str(), part, Hex(key).c_str());
        }
      }
    }
    s = it->status();
  }
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  delete db;
  if (!s.ok()) {
    std::fprintf(stderr, "store_grep: %s: %s\n", dir.c_str(),
                 s.ToString().c_str());
    return 1;
  }
  std::printf("read %ld entries\n", entries);
  return 0;
}
