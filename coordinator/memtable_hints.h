// RocksDB memtable insert hints for the store's id-keyed column families.
//
// A skip-list insert without a hint reuses the position of the memtable's
// previous insert only when the new key lands right after it; otherwise it
// searches from the top of the list. The store's transitions mostly write
// keys near the ones written just before, but rarely right after them: a
// lease or a result rewrites job k, whose new version sorts just before the
// old one and after job k-1's old version; a result's enrichment lands
// among results written long before. A hint (RocksDB's
// `memtable_insert_with_hint_prefix_extractor`) keeps one position per
// group of keys and climbs from it only as far as the new key is away
// (O(log distance) instead of O(log entries)).
//
// Only the memtable's search changes: the keys, values, their order and
// every read are the same with or without hints, and the option is not
// persisted beyond the OPTIONS file.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

namespace rocksdb {
class SliceTransform;
}  // namespace rocksdb

namespace hl::coordinator {

// Groups a family's keys by what follows their leading `id_size` bytes of
// ascending ids (a result "" and its enrichment "e", each with its own
// position); keys shorter than `id_size` get no hint.
//
// Contract: RocksDB 7.8 keeps one hint map per memtable for its point
// entries and its range deletions alike, and a position taken from one of
// its skip lists corrupts the other. So every DeleteRange of a family with
// hints must start at a key shorter than its `id_size` (the store's purge
// deletes ranges of a whole run's lines or a whole job's results, starting
// at the 8-byte id alone).
std::shared_ptr<const rocksdb::SliceTransform> NewInsertHintTransform(
    size_t id_size);

// The `id_size` of each family the store opens with insert hints, 0 for a
// family without: those whose keys lead with ascending ids (jobs, queue,
// lines, results, enrich, due). `url_index` (URLs), `meta` (names) and
// `rdap_cache` (names) are not ordered by when they are written; `runs`,
// `audit` and `batch_counts` are written once per batch or event.
size_t InsertHintIdSize(std::string_view family);

// Whether a DeleteRange of `family` starting at `begin` keeps to the
// contract above: its start is shorter than the family's hinted ids (or
// the family has no hints), so RocksDB gives the range deletion no hint.
bool RangeDeletionTakesNoHint(std::string_view family, std::string_view begin);

}  // namespace hl::coordinator
