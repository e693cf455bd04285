#include "common/geo/mmdb_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <unordered_map>

namespace hl::geo {
namespace {

// MMDB data-section type numbers (spec, "Output Data Section").
enum MmdbType : int {
  kPointer = 1,
  kUtf8String = 2,
  kDouble = 3,
  kUint16 = 5,
  kUint32 = 6,
  kMap = 7,
  kUint64 = 9,
  kArray = 11,
  kBoolean = 14,
};

// Largest size a control byte can express: 65821 + 2^24 - 1.
constexpr size_t kMaxPayloadSize = 16843036;
constexpr char kMetadataMarker[] = "\xAB\xCD\xEFMaxMind.com";
constexpr size_t kSeparatorSize = 16;

void AppendBigEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = bytes - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

// Control byte(s) of a value of `type` whose size field is `size`.
// Requires size <= kMaxPayloadSize.
void AppendControl(int type, size_t size, std::string* out) {
  const uint8_t type_bits = type <= 7 ? static_cast<uint8_t>(type << 5) : 0;
  uint8_t size_bits;
  int extra_bytes = 0;
  size_t extra = 0;
  if (size < 29) {
    size_bits = static_cast<uint8_t>(size);
  } else if (size < 29 + 256) {
    size_bits = 29;
    extra_bytes = 1;
    extra = size - 29;
  } else if (size < 285 + 65536) {
    size_bits = 30;
    extra_bytes = 2;
    extra = size - 285;
  } else {
    size_bits = 31;
    extra_bytes = 3;
    extra = size - 65821;
  }
  out->push_back(static_cast<char>(type_bits | size_bits));
  if (type > 7) out->push_back(static_cast<char>(type - 7));
  AppendBigEndian(extra, extra_bytes, out);
}

int MinimalBytes(uint64_t value) {
  int n = 0;
  while (value != 0) {
    ++n;
    value >>= 8;
  }
  return n;
}

void AppendUint(int type, uint64_t value, std::string* out) {
  const int n = MinimalBytes(value);
  AppendControl(type, n, out);
  AppendBigEndian(value, n, out);
}

void AppendString(const std::string& s, std::string* out) {
  AppendControl(kUtf8String, s.size(), out);
  out->append(s);
}

// Appends the encoding of a scalar value; returns false for maps and arrays.
bool AppendScalar(const MmdbValue& v, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    AppendString(*s, out);
  } else if (const auto* u32 = std::get_if<uint32_t>(&v.v)) {
    AppendUint(kUint32, *u32, out);
  } else if (const auto* u64 = std::get_if<uint64_t>(&v.v)) {
    AppendUint(kUint64, *u64, out);
  } else if (const auto* d = std::get_if<double>(&v.v)) {
    uint64_t bits;
    static_assert(sizeof(bits) == sizeof(*d));
    std::memcpy(&bits, d, sizeof(bits));
    AppendControl(kDouble, 8, out);
    AppendBigEndian(bits, 8, out);
  } else if (const auto* b = std::get_if<bool>(&v.v)) {
    AppendControl(kBoolean, *b ? 1 : 0, out);
  } else {
    return false;
  }
  return true;
}

// Fails for sizes a control byte cannot express, anywhere inside `v`.
Status CheckSizes(const MmdbValue& v) {
  return std::visit(
      [](const auto& x) -> Status {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string> ||
                      std::is_same_v<T, MmdbValue::Map> ||
                      std::is_same_v<T, MmdbValue::Array>) {
          if (x.size() > kMaxPayloadSize) {
            return InvalidArgument(
                "MMDB value too large: " + std::to_string(x.size()) +
                " bytes or elements (the format allows " +
                std::to_string(kMaxPayloadSize) + ")");
          }
        }
        if constexpr (std::is_same_v<T, MmdbValue::Map>) {
          for (const auto& [key, value] : x) {
            HL_RETURN_IF_ERROR(CheckSizes(MmdbValue(key)));
            HL_RETURN_IF_ERROR(CheckSizes(value));
          }
        } else if constexpr (std::is_same_v<T, MmdbValue::Array>) {
          for (const auto& e : x) HL_RETURN_IF_ERROR(CheckSizes(e));
        }
        return Status::Ok();
      },
      v.v);
}

// The self-contained encoding of a value (no pointers): the identity used
// for deduplication. Requires CheckSizes(v).ok().
void AppendCanonical(const MmdbValue& v, std::string* out) {
  if (AppendScalar(v, out)) return;
  if (const auto* m = std::get_if<MmdbValue::Map>(&v.v)) {
    AppendControl(kMap, m->size(), out);
    for (const auto& [key, value] : *m) {
      AppendString(key, out);
      AppendCanonical(value, out);
    }
    return;
  }
  const auto& a = std::get<MmdbValue::Array>(v.v);
  AppendControl(kArray, a.size(), out);
  for (const auto& e : a) AppendCanonical(e, out);
}

std::string Canonical(const MmdbValue& v) {
  std::string out;
  AppendCanonical(v, &out);
  return out;
}

size_t PointerSize(uint64_t offset) {
  if (offset < 2048) return 2;
  if (offset < 526336) return 3;
  if (offset < 134744064) return 4;
  return 5;
}

void AppendPointer(uint64_t offset, std::string* out) {
  if (offset < 2048) {
    out->push_back(static_cast<char>((kPointer << 5) | (offset >> 8)));
    AppendBigEndian(offset, 1, out);
  } else if (offset < 526336) {
    const uint64_t v = offset - 2048;
    out->push_back(static_cast<char>((kPointer << 5) | (1 << 3) | (v >> 16)));
    AppendBigEndian(v, 2, out);
  } else if (offset < 134744064) {
    const uint64_t v = offset - 526336;
    out->push_back(static_cast<char>((kPointer << 5) | (2 << 3) | (v >> 24)));
    AppendBigEndian(v, 3, out);
  } else {
    out->push_back(static_cast<char>((kPointer << 5) | (3 << 3)));
    AppendBigEndian(offset, 4, out);
  }
}

// The data section. Invariant: every offset in `offsets_` starts the inline
// (non-pointer) encoding of the value whose canonical bytes are its key, so
// pointers never point at pointers (which the spec forbids).
class DataSection {
 public:
  // The offset of `v`, appending it unless an identical value is present.
  uint64_t Add(const MmdbValue& v) {
    std::string key = Canonical(v);
    if (auto it = offsets_.find(key); it != offsets_.end()) return it->second;
    return AppendInline(v, std::move(key));
  }
  const std::string& bytes() const { return bytes_; }

 private:
  uint64_t AppendInline(const MmdbValue& v, std::string key) {
    const uint64_t offset = bytes_.size();
    if (!AppendScalar(v, &bytes_)) {
      if (const auto* m = std::get_if<MmdbValue::Map>(&v.v)) {
        AppendControl(kMap, m->size(), &bytes_);
        for (const auto& [k, value] : *m) {
          AppendChild(MmdbValue(k));
          AppendChild(value);
        }
      } else {
        const auto& a = std::get<MmdbValue::Array>(v.v);
        AppendControl(kArray, a.size(), &bytes_);
        for (const auto& e : a) AppendChild(e);
      }
    }
    offsets_.emplace(std::move(key), offset);
    return offset;
  }

  // A value inside a map or array: a pointer when one is shorter.
  void AppendChild(const MmdbValue& v) {
    std::string key = Canonical(v);
    if (auto it = offsets_.find(key); it != offsets_.end()) {
      if (PointerSize(it->second) < key.size()) {
        AppendPointer(it->second, &bytes_);
      } else {
        bytes_.append(key);
      }
      return;
    }
    AppendInline(v, std::move(key));
  }

  std::string bytes_;
  std::unordered_map<std::string, uint64_t> offsets_;
};

// A record of the build tree: kEmpty, a node index (the root, node 0, is
// never a child), or kDataBit | value id.
using Ref = uint32_t;
constexpr Ref kEmpty = 0;
constexpr Ref kDataBit = 1u << 31;
constexpr Ref kUnset = std::numeric_limits<Ref>::max();

bool IsNode(Ref r) { return r != kEmpty && (r & kDataBit) == 0; }

struct Node {
  std::array<Ref, 2> child{kEmpty, kEmpty};
};

using Bits = std::array<uint8_t, 16>;

int BitAt(const Bits& bits, int i) { return (bits[i / 8] >> (7 - i % 8)) & 1; }

// Sets the record for the first `prefix_len` bits of `bits` to `leaf`,
// splitting records into nodes along the way (a split node starts with the
// record it replaces on both sides, so the rest of its network keeps its
// data). Returns false when the node index space is exhausted.
bool InsertPath(std::vector<Node>* nodes, const Bits& bits, int prefix_len,
                Ref leaf) {
  if (prefix_len == 0) {
    (*nodes)[0].child = {leaf, leaf};
    return true;
  }
  uint32_t node = 0;
  for (int depth = 0; depth < prefix_len - 1; ++depth) {
    const int bit = BitAt(bits, depth);
    const Ref r = (*nodes)[node].child[bit];
    if (IsNode(r)) {
      node = r;
      continue;
    }
    if (nodes->size() >= kDataBit) return false;
    const auto next = static_cast<uint32_t>(nodes->size());
    nodes->push_back(Node{{r, r}});
    (*nodes)[node].child[bit] = next;
    node = next;
  }
  (*nodes)[node].child[BitAt(bits, prefix_len - 1)] = leaf;
  return true;
}

// The record reached by following the first `depth` (>= 1) bits of `bits`
// from the root, or the leaf that covers it.
Ref Follow(const std::vector<Node>& nodes, const Bits& bits, int depth) {
  Ref r = nodes[0].child[BitAt(bits, 0)];
  for (int i = 1; i < depth && IsNode(r); ++i) {
    r = nodes[r].child[BitAt(bits, i)];
  }
  return r;
}

// Replaces, bottom-up, every node whose two records are the same leaf by
// that leaf; returns the record that stands for `r`. The root stays a node.
// Memoised by node, so shared subtrees (the IPv4 alias) are visited once.
Ref Collapse(std::vector<Node>* nodes, std::vector<Ref>* memo, Ref r,
             bool is_root) {
  if (!is_root && !IsNode(r)) return r;
  if ((*memo)[r] != kUnset) return (*memo)[r];
  Node& n = (*nodes)[r];
  // The recursion never resizes *nodes, so `n` stays valid.
  for (Ref& c : n.child) c = Collapse(nodes, memo, c, false);
  const Ref result = !is_root && n.child[0] == n.child[1] && !IsNode(n.child[0])
                         ? n.child[0]
                         : r;
  (*memo)[r] = result;
  return result;
}

Bits ToTreeBits(const net::IpAddress& ip, int tree_bits) {
  Bits bits{};
  if (tree_bits == 32 || !ip.is_v4()) {
    std::memcpy(bits.data(), ip.bytes(), ip.size());
  } else {
    std::memcpy(bits.data() + 12, ip.bytes(), 4);
  }
  return bits;
}

bool IsIpv4Mapped(const Bits& bits, int prefix_len) {
  static constexpr Bits kMapped = {0, 0, 0,    0,    0, 0, 0, 0,
                                   0, 0, 0xff, 0xff, 0, 0, 0, 0};
  return prefix_len >= 96 && std::memcmp(bits.data(), kMapped.data(), 12) == 0;
}

// A 128-bit unsigned integer view of an address, for range arithmetic.
using U128 = unsigned __int128;

U128 ToInteger(const net::IpAddress& ip) {
  U128 v = 0;
  for (size_t i = 0; i < ip.size(); ++i) v = (v << 8) | ip.bytes()[i];
  return v;
}

net::IpAddress FromInteger(U128 v, bool v4) {
  if (v4) {
    std::array<uint8_t, 4> b{};
    for (int i = 3; i >= 0; --i, v >>= 8) b[i] = static_cast<uint8_t>(v);
    return net::IpAddress::V4(b);
  }
  std::array<uint8_t, 16> b{};
  for (int i = 15; i >= 0; --i, v >>= 8) b[i] = static_cast<uint8_t>(v);
  return net::IpAddress::V6(b);
}

int CountTrailingZeros(U128 v, int width) {
  if (v == 0) return width;
  int n = 0;
  while ((v & 1) == 0) {
    v >>= 1;
    ++n;
  }
  return n;
}

// floor(log2(v)) for v > 0.
int FloorLog2(U128 v) {
  int n = -1;
  while (v != 0) {
    v >>= 1;
    ++n;
  }
  return n;
}

void AppendMetadata(const MmdbWriterOptions& o, uint32_t node_count,
                    int record_size, uint64_t build_epoch, std::string* out) {
  out->append(kMetadataMarker, sizeof(kMetadataMarker) - 1);
  AppendControl(kMap, 9, out);
  AppendString("binary_format_major_version", out);
  AppendUint(kUint16, 2, out);
  AppendString("binary_format_minor_version", out);
  AppendUint(kUint16, 0, out);
  AppendString("build_epoch", out);
  AppendUint(kUint64, build_epoch, out);
  AppendString("database_type", out);
  AppendString(o.database_type, out);
  AppendString("description", out);
  AppendControl(kMap, o.description.empty() ? 0 : 1, out);
  if (!o.description.empty()) {
    AppendString("en", out);
    AppendString(o.description, out);
  }
  AppendString("ip_version", out);
  AppendUint(kUint16, static_cast<uint64_t>(o.ip_version), out);
  AppendString("languages", out);
  AppendControl(kArray, o.languages.size(), out);
  for (const auto& l : o.languages) AppendString(l, out);
  AppendString("node_count", out);
  AppendUint(kUint32, node_count, out);
  AppendString("record_size", out);
  AppendUint(kUint16, static_cast<uint64_t>(record_size), out);
}

void AppendNode(uint64_t left, uint64_t right, int record_size,
                std::string* out) {
  switch (record_size) {
    case 24:
      AppendBigEndian(left, 3, out);
      AppendBigEndian(right, 3, out);
      break;
    case 28:
      AppendBigEndian(left & 0xffffff, 3, out);
      out->push_back(
          static_cast<char>(((left >> 24) << 4) | ((right >> 24) & 0x0f)));
      AppendBigEndian(right & 0xffffff, 3, out);
      break;
    default:
      AppendBigEndian(left, 4, out);
      AppendBigEndian(right, 4, out);
      break;
  }
}

}  // namespace

struct MmdbWriter::Impl {
  MmdbWriterOptions options;
  int tree_bits = 128;
  // nodes[0] is the root. Nodes cut off by a later insert stay in the vector
  // unreachable; Serialize writes only reachable ones.
  std::vector<Node> nodes{Node{}};
  std::vector<MmdbValue> values;                        // by value id
  std::unordered_map<std::string, uint32_t> value_ids;  // canonical -> id
  Status option_error;

  Result<Ref> Intern(const MmdbValue& v) {
    HL_RETURN_IF_ERROR(CheckSizes(v));
    std::string key = Canonical(v);
    if (auto it = value_ids.find(key); it != value_ids.end()) {
      return kDataBit | it->second;
    }
    if (values.size() >= kDataBit - 1) {
      return ResourceExhausted("MMDB writer: too many distinct values");
    }
    const auto id = static_cast<uint32_t>(values.size());
    values.push_back(v);
    value_ids.emplace(std::move(key), id);
    return kDataBit | id;
  }

  Status InsertRef(const net::Cidr& network, Ref leaf) {
    HL_RETURN_IF_ERROR(option_error);
    const net::IpAddress& base = network.base();
    if (tree_bits == 32 && !base.is_v4()) {
      return InvalidArgument("IPv6 network " + network.ToString() +
                             " in an IPv4-only MMDB");
    }
    Bits bits = ToTreeBits(base, tree_bits);
    int prefix_len = network.prefix_len();
    if (tree_bits == 128 && base.is_v4()) {
      prefix_len += 96;
    } else if (tree_bits == 128 && IsIpv4Mapped(bits, prefix_len)) {
      bits[10] = bits[11] = 0;
    }
    if (!InsertPath(&nodes, bits, prefix_len, leaf)) {
      return ResourceExhausted("MMDB writer: search tree too large");
    }
    return Status::Ok();
  }
};

MmdbWriter::MmdbWriter(MmdbWriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  const MmdbWriterOptions& o = impl_->options;
  if (o.ip_version != 4 && o.ip_version != 6) {
    impl_->option_error = InvalidArgument(
        "MMDB ip_version must be 4 or 6, not " + std::to_string(o.ip_version));
  } else if (o.record_size != 0 && o.record_size != 24 && o.record_size != 28 &&
             o.record_size != 32) {
    impl_->option_error =
        InvalidArgument("MMDB record_size must be 24, 28 or 32, not " +
                        std::to_string(o.record_size));
  }
  impl_->tree_bits = o.ip_version == 4 ? 32 : 128;
}

MmdbWriter::~MmdbWriter() = default;

Status MmdbWriter::Insert(const net::Cidr& network, const MmdbValue& data) {
  Result<Ref> leaf = impl_->Intern(data);
  HL_RETURN_IF_ERROR(leaf.status());
  return impl_->InsertRef(network, *leaf);
}

Status MmdbWriter::InsertRange(const net::IpAddress& first,
                               const net::IpAddress& last,
                               const MmdbValue& data) {
  Result<std::vector<net::Cidr>> cover = CoverRange(first, last);
  HL_RETURN_IF_ERROR(cover.status());
  Result<Ref> leaf = impl_->Intern(data);
  HL_RETURN_IF_ERROR(leaf.status());
  for (const net::Cidr& c : *cover) {
    HL_RETURN_IF_ERROR(impl_->InsertRef(c, *leaf));
  }
  return Status::Ok();
}

Result<std::string> MmdbWriter::Serialize() const {
  const Impl& impl = *impl_;
  HL_RETURN_IF_ERROR(impl.option_error);
  std::vector<Node> tree = impl.nodes;

  if (impl.tree_bits == 128) {
    // ::ffff:0:0/96 -> the record of ::/96 (the IPv4 subtree or the leaf
    // covering it). The two paths part at bit 80, so splitting records
    // along the mapped path leaves the ::/96 record as it is.
    const Bits zero{};
    Bits mapped{};
    mapped[10] = mapped[11] = 0xff;
    const Ref ipv4 = Follow(tree, zero, 96);
    if (!InsertPath(&tree, mapped, 96, ipv4)) {
      return ResourceExhausted("MMDB writer: search tree too large");
    }
  }

  std::vector<Ref> memo(tree.size(), kUnset);
  Collapse(&tree, &memo, 0, true);

  // Breadth-first numbering of the reachable nodes; the root is node 0.
  std::vector<uint32_t> index(tree.size(), kUnset);
  std::vector<Ref> order{0};
  index[0] = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    for (Ref c : tree[order[i]].child) {
      if (IsNode(c) && index[c] == kUnset) {
        index[c] = static_cast<uint32_t>(order.size());
        order.push_back(c);
      }
    }
  }
  const auto node_count = static_cast<uint64_t>(order.size());

  DataSection data;
  constexpr uint64_t kNoOffset = std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> value_offset(impl.values.size(), kNoOffset);
  for (Ref n : order) {
    for (Ref c : tree[n].child) {
      if (c & kDataBit) {
        const uint32_t id = c & ~kDataBit;
        if (value_offset[id] == kNoOffset) {
          value_offset[id] = data.Add(impl.values[id]);
        }
      }
    }
  }

  // Largest record value: a data record points below node_count + 16 +
  // the data section size.
  const uint64_t max_record = node_count + kSeparatorSize + data.bytes().size();
  int record_size = impl.options.record_size;
  if (record_size == 0) {
    record_size = max_record < (1ull << 24)   ? 24
                  : max_record < (1ull << 28) ? 28
                                              : 32;
  }
  if (max_record >= (1ull << record_size)) {
    return ResourceExhausted(
        "MMDB too large for record size " + std::to_string(record_size) + " (" +
        std::to_string(node_count) + " nodes, " +
        std::to_string(data.bytes().size()) + " bytes of data)");
  }

  std::string out;
  out.reserve(node_count * record_size / 4 + kSeparatorSize +
              data.bytes().size() + 512);
  auto record = [&](Ref r) -> uint64_t {
    if (r == kEmpty) return node_count;
    if (r & kDataBit) {
      return node_count + kSeparatorSize + value_offset[r & ~kDataBit];
    }
    return index[r];
  };
  for (Ref n : order) {
    AppendNode(record(tree[n].child[0]), record(tree[n].child[1]), record_size,
               &out);
  }
  out.append(kSeparatorSize, '\0');
  out.append(data.bytes());
  const uint64_t epoch = impl.options.build_epoch != 0
                             ? impl.options.build_epoch
                             : static_cast<uint64_t>(std::time(nullptr));
  AppendMetadata(impl.options, static_cast<uint32_t>(node_count), record_size,
                 epoch, &out);
  return out;
}

Status MmdbWriter::WriteFile(const std::string& path) const {
  Result<std::string> contents = Serialize();
  HL_RETURN_IF_ERROR(contents.status());
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    return Unavailable("cannot create a temporary file beside '" + path +
                       "': " + std::strerror(errno));
  }
  const std::string& bytes = *contents;
  size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fchmod(fd, 0644) != 0) err = errno;
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return Unavailable("cannot write '" + path + "': " + std::strerror(err));
  }
  return Status::Ok();
}

Result<std::vector<net::Cidr>> CoverRange(const net::IpAddress& first,
                                          const net::IpAddress& last) {
  if (first.family() != last.family()) {
    return InvalidArgument("range " + first.ToString() + " - " +
                           last.ToString() + " mixes IPv4 and IPv6");
  }
  if (last < first) {
    return InvalidArgument("range " + first.ToString() + " - " +
                           last.ToString() + " ends before it starts");
  }
  const bool v4 = first.is_v4();
  const int width = v4 ? 32 : 128;
  U128 lo = ToInteger(first);
  const U128 hi = ToInteger(last);
  std::vector<net::Cidr> out;
  while (true) {
    // The largest aligned block at `lo` that stays within `hi`; a span of
    // the whole IPv6 space (hi - lo + 1 == 2^128) is the only overflow.
    const U128 span = hi - lo;
    const int fit = span == ~U128{0} ? 128 : FloorLog2(span + 1);
    const int host_bits = std::min(CountTrailingZeros(lo, width), fit);
    out.emplace_back(FromInteger(lo, v4), width - host_bits);
    if (host_bits == width) break;
    const U128 size = U128{1} << host_bits;
    if (hi - lo < size) break;  // this block ends exactly at hi
    lo += size;
  }
  return out;
}

}  // namespace hl::geo
