#include "common/proto_view.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <map>
#include <utility>

namespace hl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// As the parser (parse_context.h): a tag or a length is a varint of at
// most 5 bytes (a tag's bits past 32 dropped), a value one of at most 10;
// messages and groups nest at most 100 deep.
constexpr int kMaxTagOrLengthBytes = 5;
constexpr int kMaxValueBytes = 10;
constexpr int kMaxDepth = 100;

// The varint at `p` of at most `max_bytes` bytes, in `value`; the byte
// after it, or nullptr when it is longer or runs past `end`.
const char* ReadVarint(const char* p, const char* end, int max_bytes,
                       uint64_t* value) {
  uint64_t v = 0;
  for (int i = 0; i < max_bytes && p < end; ++i) {
    const uint64_t byte = static_cast<uint8_t>(*p++);
    v |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      *value = v;
      return p;
    }
  }
  return nullptr;
}

// The tag at `p` (field number > 0); the byte after it, or nullptr.
const char* ReadTag(const char* p, const char* end, uint32_t* tag) {
  uint64_t v = 0;
  p = ReadVarint(p, end, kMaxTagOrLengthBytes, &v);
  *tag = static_cast<uint32_t>(v);
  return p != nullptr && WireFormatLite::GetTagFieldNumber(*tag) != 0 ? p
                                                                      : nullptr;
}

// Skips the payload at `p` of a field with `tag`, `depth` levels down: the
// byte after it, or nullptr when it is not well-formed (a group's fields
// included, up to the end that matches it).
const char* SkipField(uint32_t tag, const char* p, const char* end, int depth) {
  uint64_t n = 0;
  switch (WireFormatLite::GetTagWireType(tag)) {
    case WireFormatLite::WIRETYPE_VARINT:
      return ReadVarint(p, end, kMaxValueBytes, &n);
    case WireFormatLite::WIRETYPE_FIXED64:
      return end - p >= 8 ? p + 8 : nullptr;
    case WireFormatLite::WIRETYPE_FIXED32:
      return end - p >= 4 ? p + 4 : nullptr;
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
      p = ReadVarint(p, end, kMaxTagOrLengthBytes, &n);
      return p != nullptr && n <= static_cast<uint64_t>(end - p) ? p + n
                                                                 : nullptr;
    case WireFormatLite::WIRETYPE_START_GROUP:
      if (depth >= kMaxDepth) return nullptr;
      while (p != nullptr) {
        uint32_t inner = 0;
        p = ReadTag(p, end, &inner);
        if (p == nullptr) return nullptr;
        if (WireFormatLite::GetTagWireType(inner) ==
            WireFormatLite::WIRETYPE_END_GROUP) {
          return WireFormatLite::GetTagFieldNumber(inner) ==
                         WireFormatLite::GetTagFieldNumber(tag)
                     ? p
                     : nullptr;
        }
        p = SkipField(inner, p, end, depth + 1);
      }
      return nullptr;
    default:  // an end without its group, or wire type 6 or 7
      return nullptr;
  }
}

}  // namespace

WireView::WireView(const Descriptor& view) {
  std::map<const Descriptor*, int> index = {{&view, 0}};
  std::vector<const Descriptor*> types = {&view};
  for (size_t m = 0; m < types.size(); ++m) {
    const Descriptor& type = *types[m];
    std::vector<Field> fields;
    for (int i = 0; i < type.field_count(); ++i) {
      const FieldDescriptor& f = *type.field(i);
      const auto number = static_cast<size_t>(f.number());
      if (number >= fields.size()) fields.resize(number + 1);
      Field& field = fields[number];
      field.wire_types = static_cast<uint8_t>(
          1u << WireFormatLite::WireTypeForFieldType(
              static_cast<WireFormatLite::FieldType>(f.type())));
      // A parser takes repeated numbers packed or not.
      if (f.is_packable()) {
        field.wire_types |= 1u << WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
      }
      if (f.type() == FieldDescriptor::TYPE_MESSAGE) {
        auto [it, added] =
            index.emplace(f.message_type(), static_cast<int>(types.size()));
        if (added) types.push_back(f.message_type());
        field.nested = it->second;
      }
    }
    messages_.push_back(std::move(fields));
  }
}

bool WireView::Filter(int message, const char* p, const char* end, int depth,
                      std::string* out) const {
  const std::vector<Field>& fields = messages_[static_cast<size_t>(message)];
  while (p < end) {
    const char* const begin = p;
    uint32_t tag = 0;
    p = ReadTag(p, end, &tag);
    if (p == nullptr) return false;
    const size_t number = WireFormatLite::GetTagFieldNumber(tag);
    const Field* field = number < fields.size() ? &fields[number] : nullptr;
    const bool kept =
        field != nullptr &&
        (field->wire_types >> WireFormatLite::GetTagWireType(tag) & 1);
    if (kept && field->nested >= 0) {
      uint64_t length = 0;
      const char* payload = ReadVarint(p, end, kMaxTagOrLengthBytes, &length);
      if (payload == nullptr || length > static_cast<uint64_t>(end - payload) ||
          depth >= kMaxDepth) {
        return false;
      }
      out->append(begin, p);
      // The filtered payload's length is known after it: room for the
      // longest, shrunk to the one written.
      const size_t length_at = out->size();
      out->append(kMaxTagOrLengthBytes, '\0');
      p = payload + length;
      if (!Filter(field->nested, payload, p, depth + 1, out)) return false;
      uint8_t varint[kMaxTagOrLengthBytes];
      const size_t varint_size = static_cast<size_t>(
          CodedOutputStream::WriteVarint32ToArray(
              static_cast<uint32_t>(out->size() - length_at -
                                    kMaxTagOrLengthBytes),
              varint) -
          varint);
      out->replace(length_at, kMaxTagOrLengthBytes,
                   reinterpret_cast<const char*>(varint), varint_size);
      continue;
    }
    p = SkipField(tag, p, end, depth);
    if (p == nullptr) return false;
    if (kept) out->append(begin, p);
  }
  return true;
}

bool WireView::Parse(std::string_view bytes,
                     google::protobuf::Message* view) const {
  // Reused by every view parse of the thread: no allocation once it has
  // held the largest view.
  thread_local std::string kept;
  kept.clear();
  if (!Filter(0, bytes.data(), bytes.data() + bytes.size(), 0, &kept)) {
    view->Clear();
    return false;
  }
  return view->ParseFromArray(kept.data(), static_cast<int>(kept.size()));
}

}  // namespace hl
