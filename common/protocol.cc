#include "common/protocol.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <array>
#include <cstring>

#include "common/utf8.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

template <typename Message>
Result<Message> Decode(std::string_view bytes) {
  if (bytes.size() > kMaxMessageBytes) {
    return InvalidArgument("message of " + std::to_string(bytes.size()) +
                           " bytes exceeds the limit of " +
                           std::to_string(kMaxMessageBytes));
  }
  Message envelope;
  if (!envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("undecodable message");
  }
  if (envelope.protocol_version() != kProtocolVersion) {
    return FailedPrecondition(
        "peer speaks protocol version " +
        std::to_string(envelope.protocol_version()) +
        ", this side speaks version " + std::to_string(kProtocolVersion) +
        "; run the same hostlocator release on coordinator and workers");
  }
  if (envelope.body_case() == Message::BODY_NOT_SET) {
    return InvalidArgument("message without a body");
  }
  return envelope;
}

// Calls on_field(field number, wire type, bool* read) for each field of
// the message that `in` holds up to its limit; on_field reads the field
// and sets *read, or leaves it to have the field skipped. False when the
// structure does not hold or on_field returns false. A template, inlined:
// the broker summarises every result it gets.
template <typename OnField>
bool ForEachField(CodedInputStream& in, const OnField& on_field) {
  while (in.BytesUntilLimit() > 0) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return false;  // a malformed tag
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
    bool read = false;
    if (!on_field(number, type, &read)) return false;
    if (!read && !WireFormatLite::SkipField(&in, tag)) return false;
  }
  return true;
}

// Runs `body` on the length-delimited field at `in` as a nested message.
template <typename Body>
bool Nested(CodedInputStream& in, const Body& body) {
  int length = 0;
  // PushLimit would clamp a length past the enclosing limit.
  if (!in.ReadVarintSizeAsInt(&length) || length > in.BytesUntilLimit()) {
    return false;
  }
  const CodedInputStream::Limit limit = in.PushLimit(length);
  if (!body() || in.BytesUntilLimit() != 0) return false;
  in.PopLimit(limit);
  return true;
}

bool ReadBytes(CodedInputStream& in, std::string* out) {
  int length = 0;
  return in.ReadVarintSizeAsInt(&length) && in.ReadString(out, length);
}

constexpr auto kDelimited = WireFormatLite::WIRETYPE_LENGTH_DELIMITED;

// Reads field `number` of the nested message at `in` as a string (the last
// occurrence wins, as in a parse).
bool NestedString(CodedInputStream& in, int number, std::string* out) {
  return Nested(in, [&] {
    return ForEachField(in,
                        [&](int n, WireFormatLite::WireType type, bool* read) {
                          if (n != number) return true;
                          *read = true;
                          return type == kDelimited && ReadBytes(in, out);
                        });
  });
}

}  // namespace

std::string EncodeEnvelope(hostlocator::v1::Envelope envelope) {
  envelope.set_protocol_version(kProtocolVersion);
  return envelope.SerializeAsString();
}

std::string EncodeResult(uint64_t job_id, uint32_t attempt,
                         const pb::Observation& observation,
                         std::string_view suffix) {
  // Proto3: fields holding their default are not written.
  const size_t observation_size = observation.ByteSizeLong() + suffix.size();
  size_t size = 0;
  if (job_id != 0) size += 1 + CodedOutputStream::VarintSize64(job_id);
  if (attempt != 0) size += 1 + CodedOutputStream::VarintSize32(attempt);
  if (observation_size != 0) {
    size += 1 + CodedOutputStream::VarintSize64(observation_size) +
            observation_size;
  }
  std::string bytes(size, '\0');
  auto* out = reinterpret_cast<uint8_t*>(bytes.data());
  if (job_id != 0) {
    out = WireFormatLite::WriteUInt64ToArray(
        pb::SerializedJobResult::kJobIdFieldNumber, job_id, out);
  }
  if (attempt != 0) {
    out = WireFormatLite::WriteUInt32ToArray(
        pb::SerializedJobResult::kAttemptFieldNumber, attempt, out);
  }
  if (observation_size != 0) {
    out = WireFormatLite::WriteTagToArray(
        pb::SerializedJobResult::kObservationFieldNumber, kDelimited, out);
    out = CodedOutputStream::WriteVarint64ToArray(observation_size, out);
    // ByteSizeLong above cached the sizes this needs.
    out = observation.SerializeWithCachedSizesToArray(out);
    if (!suffix.empty()) std::memcpy(out, suffix.data(), suffix.size());
  }
  return bytes;
}

std::vector<std::string> EncodeResultBatches(
    const std::vector<std::string_view>& results, size_t max_bytes) {
  // Bytes of a RESULTS envelope whose batch holds `batch_size` bytes.
  const auto envelope_size = [](size_t batch_size) {
    return 1 + CodedOutputStream::VarintSize32(kProtocolVersion) + 1 +
           CodedOutputStream::VarintSize64(batch_size) + batch_size;
  };
  // A result's bytes within the batch: its tag, length and body.
  const auto element_size = [](std::string_view result) {
    return 1 + CodedOutputStream::VarintSize64(result.size()) + result.size();
  };
  // The bytes are appended, never zero-filled first: a batch is tens of KB.
  const auto encode = [&](size_t begin, size_t end, size_t batch_size) {
    std::string bytes;
    bytes.reserve(envelope_size(batch_size));
    // Room for a tag and a 64-bit varint, twice.
    std::array<uint8_t, 2 * (5 + 10)> head;
    const auto append_head = [&bytes, &head](const uint8_t* head_end) {
      bytes.append(reinterpret_cast<const char*>(head.data()),
                   static_cast<size_t>(head_end - head.data()));
    };
    uint8_t* out = WireFormatLite::WriteUInt32ToArray(
        pb::Envelope::kProtocolVersionFieldNumber, kProtocolVersion,
        head.data());
    out = WireFormatLite::WriteTagToArray(pb::Envelope::kResultsFieldNumber,
                                          kDelimited, out);
    append_head(CodedOutputStream::WriteVarint64ToArray(batch_size, out));
    for (size_t i = begin; i < end; ++i) {
      out = WireFormatLite::WriteTagToArray(
          pb::SerializedResultBatch::kResultsFieldNumber, kDelimited,
          head.data());
      append_head(
          CodedOutputStream::WriteVarint64ToArray(results[i].size(), out));
      bytes.append(results[i]);
    }
    return bytes;
  };
  std::vector<std::string> envelopes;
  size_t begin = 0;
  size_t batch_size = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const size_t element = element_size(results[i]);
    if (i > begin && envelope_size(batch_size + element) > max_bytes) {
      envelopes.push_back(encode(begin, i, batch_size));
      begin = i;
      batch_size = 0;
    }
    batch_size += element;
  }
  if (begin < results.size()) {
    envelopes.push_back(encode(begin, results.size(), batch_size));
  }
  return envelopes;
}

Result<hostlocator::v1::Envelope> DecodeEnvelope(std::string_view bytes) {
  return Decode<pb::Envelope>(bytes);
}

Result<pb::InboundEnvelope> DecodeInbound(std::string_view bytes) {
  return Decode<pb::InboundEnvelope>(bytes);
}

Result<ObservationSummary> SummarizeObservation(std::string_view bytes) {
  ObservationSummary summary;
  if (bytes.size() > kMaxMessageBytes) {
    return InvalidArgument("observation exceeds the message limit");
  }
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  in.PushLimit(static_cast<int>(bytes.size()));
  const bool ok = ForEachField(
      in, [&](int number, WireFormatLite::WireType type, bool* read) {
        switch (number) {
          case pb::Observation::kHostFieldNumber:
            *read = true;
            return type == kDelimited && ReadBytes(in, &summary.host);
          case pb::Observation::kStatusFieldNumber:
            *read = true;
            return type == kDelimited && ReadBytes(in, &summary.status);
          case pb::Observation::kErrorFieldNumber:
            *read = true;
            return type == kDelimited &&
                   NestedString(in, pb::ErrorInfo::kErrorClassFieldNumber,
                                &summary.error_class);
          case pb::Observation::kAddressesFieldNumber:
            *read = true;
            return type == kDelimited &&
                   NestedString(in, pb::AddressInfo::kIpFieldNumber,
                                &summary.addresses.emplace_back());
          case pb::Observation::kHttpFieldNumber:
            *read = true;
            return type == kDelimited && Nested(in, [&] {
                     return ForEachField(
                         in, [&](int n, WireFormatLite::WireType t, bool* r) {
                           if (n !=
                               pb::HttpObservation::kElapsedMsFieldNumber) {
                             return true;
                           }
                           *r = true;
                           return t == WireFormatLite::WIRETYPE_VARINT &&
                                  in.ReadVarint32(&summary.http_elapsed_ms);
                         });
                   });
          default:
            return true;
        }
      });
  if (!ok || !IsValidUtf8(summary.status)) {
    return InvalidArgument("undecodable observation");
  }
  return summary;
}

}  // namespace hl
