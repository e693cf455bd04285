#include "common/protocol.h"

namespace hl {

std::string EncodeEnvelope(hostlocator::v1::Envelope envelope) {
  envelope.set_protocol_version(kProtocolVersion);
  return envelope.SerializeAsString();
}

Result<hostlocator::v1::Envelope> DecodeEnvelope(std::string_view bytes) {
  if (bytes.size() > kMaxMessageBytes) {
    return InvalidArgument("message of " + std::to_string(bytes.size()) +
                           " bytes exceeds the limit of " +
                           std::to_string(kMaxMessageBytes));
  }
  hostlocator::v1::Envelope envelope;
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
  if (envelope.body_case() == hostlocator::v1::Envelope::BODY_NOT_SET) {
    return InvalidArgument("message without a body");
  }
  return envelope;
}

}  // namespace hl
