// The narrow views of a stored Observation (EnrichmentSource for the RDAP
// enricher, VerdictLineSource for the console line) must read the same
// wire format: every field of a view has the number, type and cardinality
// of the Observation field it mirrors, recursively, or the view would
// misread (or silently skip) stored results. ParseView (common/proto_view.h)
// must read a view exactly as a plain parse of it would, without the
// unknown fields.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/wire_format_lite.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proto/enrichment_source.pb.h"
#include "common/proto/hostlocator.pb.h"
#include "common/proto/verdict_line_source.pb.h"
#include "common/proto_view.h"

namespace hl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::internal::WireFormatLite;

void ExpectSameWireFormat(const Descriptor& view, const Descriptor& full,
                          const std::string& path) {
  for (int i = 0; i < view.field_count(); ++i) {
    const FieldDescriptor& field = *view.field(i);
    const std::string where = path + "." + field.name();
    const FieldDescriptor* mirror = full.FindFieldByNumber(field.number());
    ASSERT_NE(mirror, nullptr) << where << ": no field " << field.number()
                               << " in " << full.full_name();
    EXPECT_EQ(field.type(), mirror->type()) << where;
    EXPECT_EQ(field.is_repeated(), mirror->is_repeated()) << where;
    if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
      ExpectSameWireFormat(*field.message_type(), *mirror->message_type(),
                           where);
    }
  }
}

TEST(ProtoViewsTest, EnrichmentSourceReadsObservationsWireFormat) {
  ExpectSameWireFormat(*hostlocator::v1::EnrichmentSource::descriptor(),
                       *hostlocator::v1::Observation::descriptor(),
                       "EnrichmentSource");
}

TEST(ProtoViewsTest, VerdictLineSourceReadsObservationsWireFormat) {
  ExpectSameWireFormat(*hostlocator::v1::VerdictLineSource::descriptor(),
                       *hostlocator::v1::Observation::descriptor(),
                       "VerdictLineSource");
}

// Sets every field of `m` (each repeated field twice), recursively down to
// `depth` levels, to values that tell fields apart.
void FillAll(Message* m, int depth) {
  const Reflection& r = *m->GetReflection();
  const Descriptor& d = *m->GetDescriptor();
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor* f = d.field(i);
    for (int n = 0; n < (f->is_repeated() ? 2 : 1); ++n) {
      const int v = f->number() * 10 + n + 1;
      const bool rep = f->is_repeated();
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING: {
          // Valid UTF-8 for string fields; a non-ASCII byte for bytes.
          const std::string text =
              f->name() + std::to_string(v) +
              (f->type() == FieldDescriptor::TYPE_BYTES ? "\xff" : "");
          rep ? r.AddString(m, f, text) : r.SetString(m, f, text);
          break;
        }
        case FieldDescriptor::CPPTYPE_INT32:
          rep ? r.AddInt32(m, f, -v) : r.SetInt32(m, f, -v);
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          rep ? r.AddInt64(m, f, -v * 1000000007LL)
              : r.SetInt64(m, f, -v * 1000000007LL);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          rep ? r.AddUInt32(m, f, v * 70001u) : r.SetUInt32(m, f, v * 70001u);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          rep ? r.AddUInt64(m, f, v * 1000000007ULL)
              : r.SetUInt64(m, f, v * 1000000007ULL);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          rep ? r.AddDouble(m, f, v + 0.5) : r.SetDouble(m, f, v + 0.5);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          rep ? r.AddFloat(m, f, v + 0.5f) : r.SetFloat(m, f, v + 0.5f);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          rep ? r.AddBool(m, f, true) : r.SetBool(m, f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f->enum_type();
          const int value = e->value(e->value_count() - 1)->number();
          rep ? r.AddEnumValue(m, f, value) : r.SetEnumValue(m, f, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth > 0) {
            FillAll(rep ? r.AddMessage(m, f) : r.MutableMessage(m, f),
                    depth - 1);
          }
          break;
      }
    }
  }
}

// A full Observation with every field set, as stored.
std::string FullObservation() {
  hostlocator::v1::Observation o;
  FillAll(&o, 6);
  return o.SerializeAsString();
}

// ParseView against a plain parse with its unknown fields dropped: the
// same outcome, and when both read it, the same view.
template <typename View>
void ExpectSameAsPlainParse(const std::string& bytes, const std::string& what) {
  View plain;
  const bool plain_ok =
      plain.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  plain.DiscardUnknownFields();
  View view;
  const bool view_ok = ParseView(bytes, &view);
  ASSERT_EQ(view_ok, plain_ok) << what;
  if (!plain_ok) return;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(view, plain))
      << what << "\nview: " << view.ShortDebugString()
      << "\nplain: " << plain.ShortDebugString();
  EXPECT_TRUE(view.GetReflection()->GetUnknownFields(view).empty()) << what;
}

// Inputs with the names failures show.
using NamedInputs = std::vector<std::pair<std::string, std::string>>;

template <typename View>
void ExpectSameAsPlainParseForAll(const NamedInputs& inputs) {
  for (const auto& [name, bytes] : inputs) {
    ExpectSameAsPlainParse<View>(bytes, name);
  }
}

// A field's tag, and its payload for a length-delimited one.
std::string Tag(int number, WireFormatLite::WireType type) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteTag(WireFormatLite::MakeTag(number, type));
  coded.Trim();
  return out;
}
std::string Delimited(int number, const std::string& payload) {
  return Tag(number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED) +
         static_cast<char>(payload.size()) + payload;  // < 128 bytes here
}

// Hand-made wire forms: declared fields with another wire type, repeated
// and split messages (merged), packed numbers, unknown groups, and
// malformed input.
NamedInputs HandMadeInputs() {
  using W = WireFormatLite;
  const std::string address = Delimited(1, "192.0.2.1") +
                              Tag(4, W::WIRETYPE_VARINT) + "\x05" +
                              Delimited(2, "XX") + Delimited(5, "org");
  const std::string jurisdiction = Delimited(6, "example.com");
  const std::string verdict = Delimited(1, "DE") + Delimited(3, jurisdiction);
  const std::vector<std::string> inputs = {
      "",
      Delimited(6, address),
      Delimited(6, address) + Delimited(6, address + address),
      // The verdict in two pieces, the second overriding the domain.
      Delimited(9, verdict) +
          Delimited(9, Delimited(3, Delimited(6, "example.org"))),
      // Declared numbers with another wire type: unknown to the view.
      Tag(6, W::WIRETYPE_VARINT) + "\x01" + Delimited(6, address),
      Tag(9, W::WIRETYPE_FIXED32) + std::string("\x01\x02\x03\x04", 4),
      Delimited(6, Delimited(4, "x") + Delimited(1, "192.0.2.2")),
      // asn packed (a parser takes it) and as fixed64 (unknown).
      Delimited(6, Delimited(4, "\x07")),
      Delimited(6, Tag(4, W::WIRETYPE_FIXED64) + std::string(8, '\x01')),
      // An unknown group, nested, then a declared field.
      Tag(40, W::WIRETYPE_START_GROUP) + Tag(41, W::WIRETYPE_START_GROUP) +
          Delimited(1, "in a group") + Tag(41, W::WIRETYPE_END_GROUP) +
          Tag(40, W::WIRETYPE_END_GROUP) + Delimited(6, address),
      // Malformed: a group without its end, a mismatched end, a lone end,
      // field number 0, a length past the end, a truncated varint, wire
      // types 6 and 7, a declared message holding garbage.
      Tag(40, W::WIRETYPE_START_GROUP) + Delimited(1, "x"),
      Tag(40, W::WIRETYPE_START_GROUP) + Tag(41, W::WIRETYPE_END_GROUP),
      Delimited(6, address) + Tag(6, W::WIRETYPE_END_GROUP),
      Delimited(6, Tag(40, W::WIRETYPE_END_GROUP)),
      std::string("\x00\x01", 2),
      Delimited(6, address).substr(0, 5),
      Tag(3, W::WIRETYPE_VARINT) + "\xff\xff",
      std::string("\x0e\x00", 2),
      std::string("\x0f\x00", 2),
      Delimited(9, "\xff\xff\xff"),
      Delimited(9, Delimited(3, "\x0a\x09short")),
      // Invalid UTF-8 in a declared string field, and in an unknown one.
      Delimited(6, Delimited(1, "\xc3\x28")),
      Delimited(11, "\xc3\x28"),
  };
  NamedInputs named;
  for (size_t i = 0; i < inputs.size(); ++i) {
    named.emplace_back("hand-made input " + std::to_string(i), inputs[i]);
  }
  // The parser's limits (proto_view.cc): unknown groups nested up to 100
  // deep, a tag or a length of at most 5 bytes, a value of at most 10.
  for (int depth : {99, 100, 101, 102}) {
    std::string nested;
    for (int i = 0; i < depth; ++i) {
      nested += Tag(40, W::WIRETYPE_START_GROUP);
    }
    for (int i = 0; i < depth; ++i) nested += Tag(40, W::WIRETYPE_END_GROUP);
    named.emplace_back(std::to_string(depth) + " nested groups",
                       nested + Delimited(6, address));
  }
  const std::string payload = "\x03org";
  for (const auto& [name, bytes] : NamedInputs{
           {"a 5-byte tag", std::string("\xaa\x80\x80\x80\x00", 5) + payload},
           {"a 6-byte tag",
            std::string("\xaa\x80\x80\x80\x80\x00", 6) + payload},
           {"a 10-byte value",
            Tag(3, W::WIRETYPE_VARINT) + std::string(9, '\xff') + "\x01"},
           {"an 11-byte value",
            Tag(3, W::WIRETYPE_VARINT) + std::string(10, '\xff') + "\x01"},
           {"a 5-byte length", Tag(6, W::WIRETYPE_LENGTH_DELIMITED) +
                                   std::string("\x83\x80\x80\x80\x00", 5) +
                                   "org"},
           {"a 6-byte length", Tag(6, W::WIRETYPE_LENGTH_DELIMITED) +
                                   std::string("\x83\x80\x80\x80\x80\x00", 6) +
                                   "org"},
           {"a length of 2^31", Tag(11, W::WIRETYPE_LENGTH_DELIMITED) +
                                    std::string("\x80\x80\x80\x80\x08", 5) +
                                    "org"},
           {"a length of 2^32", Tag(11, W::WIRETYPE_LENGTH_DELIMITED) +
                                    std::string("\x80\x80\x80\x80\x10", 5) +
                                    "org"},
       }) {
    named.emplace_back(name, bytes);
  }
  return named;
}

// The full Observation, every prefix of it, and every byte of it replaced
// by a few values: the view's reading of broken input too.
NamedInputs FullAndDamagedInputs() {
  const std::string full = FullObservation();
  NamedInputs inputs = {{"full", full}};
  for (size_t n = 0; n < full.size(); ++n) {
    inputs.emplace_back("the first " + std::to_string(n) + " bytes",
                        full.substr(0, n));
  }
  for (size_t i = 0; i < full.size(); ++i) {
    for (char c : {'\x00', '\x01', '\x7f', '\x80', '\xff'}) {
      std::string damaged = full;
      damaged[i] = c;
      inputs.emplace_back(
          "byte " + std::to_string(i) + " set to " +
              std::to_string(static_cast<uint8_t>(c)) + " (was " +
              std::to_string(static_cast<uint8_t>(full[i])) + ", the next " +
              std::to_string(
                  static_cast<uint8_t>(i + 1 < full.size() ? full[i + 1] : 0)) +
              ")",
          std::move(damaged));
    }
  }
  return inputs;
}

TEST(ProtoViewsTest, ParseViewOfAFullObservationIsThePlainParse) {
  const std::string full = FullObservation();
  ASSERT_GT(full.size(), 1000u);
  ExpectSameAsPlainParse<hostlocator::v1::EnrichmentSource>(full, "full");
  ExpectSameAsPlainParse<hostlocator::v1::VerdictLineSource>(full, "full");
  // The views are not empty: they read the fields they declare.
  hostlocator::v1::EnrichmentSource source;
  ASSERT_TRUE(ParseView(full, &source));
  EXPECT_EQ(source.addresses_size(), 2);
  EXPECT_FALSE(source.verdict().jurisdiction().registrable_domain().empty());
  EXPECT_EQ(source.redirects_size(), 2);
  EXPECT_EQ(source.redirects(1).addresses_size(), 2);
}

TEST(ProtoViewsTest, ParseViewOfHandMadeWireFormsIsThePlainParse) {
  ExpectSameAsPlainParseForAll<hostlocator::v1::EnrichmentSource>(
      HandMadeInputs());
  ExpectSameAsPlainParseForAll<hostlocator::v1::VerdictLineSource>(
      HandMadeInputs());
}

TEST(ProtoViewsTest, ParseViewOfDamagedObservationsIsThePlainParse) {
  const NamedInputs inputs = FullAndDamagedInputs();
  ExpectSameAsPlainParseForAll<hostlocator::v1::EnrichmentSource>(inputs);
  ExpectSameAsPlainParseForAll<hostlocator::v1::VerdictLineSource>(inputs);
}

}  // namespace
}  // namespace hl
