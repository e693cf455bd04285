#include "coordinator/memtable_hints.h"

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <string>

namespace hl::coordinator {
namespace {

class InsertHintTransform : public rocksdb::SliceTransform {
 public:
  explicit InsertHintTransform(size_t id_size)
      : id_size_(id_size),
        name_("hostlocator.InsertHint." + std::to_string(id_size)) {}

  const char* Name() const override { return name_.c_str(); }

  // The key's bytes after its ids: a slice of the key itself, which RocksDB
  // keeps in the memtable for as long as the hint lives.
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data() + id_size_, key.size() - id_size_);
  }

  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() >= id_size_;
  }

 private:
  const size_t id_size_;
  const std::string name_;
};

}  // namespace

std::shared_ptr<const rocksdb::SliceTransform> NewInsertHintTransform(
    size_t id_size) {
  return std::make_shared<InsertHintTransform>(id_size);
}

size_t InsertHintIdSize(std::string_view family) {
  if (family == "jobs" || family == "queue") return 8;       // job id
  if (family == "results" || family == "enrich") return 12;  // job, check
  if (family == "lines") return 16;                          // run, line
  if (family == "due") return 16;                            // due time, job
  return 0;
}

bool RangeDeletionTakesNoHint(std::string_view family, std::string_view begin) {
  const size_t id_size = InsertHintIdSize(family);
  return id_size == 0 || begin.size() < id_size;
}

}  // namespace hl::coordinator
