// Coordinator <-> worker protocol framing (DESIGN.md, "Coordinator <->
// worker protocol"). Every ZeroMQ message body is one serialized Envelope
// carrying kProtocolVersion.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/proto/hostlocator.pb.h"
#include "common/status.h"

namespace hl {

// Bumped when a peer of the previous version could misread a message.
inline constexpr uint32_t kProtocolVersion = 1;
// Messages larger than this are refused unread.
inline constexpr size_t kMaxMessageBytes = 16 << 20;

// Stamps the protocol version and serializes.
std::string EncodeEnvelope(hostlocator::v1::Envelope envelope);

// Fails with kInvalidArgument for undecodable or oversized bytes, and with
// kFailedPrecondition (message naming both versions) for another protocol
// version.
Result<hostlocator::v1::Envelope> DecodeEnvelope(std::string_view bytes);

}  // namespace hl
