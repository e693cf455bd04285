// Coordinator <-> worker protocol framing (DESIGN.md, "Coordinator <->
// worker protocol"). Every ZeroMQ message body is one serialized Envelope
// carrying kProtocolVersion.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/hostlocator.pb.h"
#include "common/status.h"

namespace hl {

// Bumped when a peer of the previous version could misread a message.
// Version 2: results travel in batches (RESULTS) instead of one a message.
inline constexpr uint32_t kProtocolVersion = 2;
// Messages larger than this are refused unread.
inline constexpr size_t kMaxMessageBytes = 16 << 20;

// Stamps the protocol version and serializes.
std::string EncodeEnvelope(hostlocator::v1::Envelope envelope);

// One result as an element of a RESULTS batch: a JobResult in
// SerializedJobResult's wire format (the bytes its serializer writes),
// whose observation is `observation` serialized with `suffix` appended:
// serialized Observation fields, such as the worker's data sources
// (Prober::data_sources). The observation is serialized once, straight
// into the result's bytes.
std::string EncodeResult(uint64_t job_id, uint32_t attempt,
                         const hostlocator::v1::Observation& observation,
                         std::string_view suffix);

// RESULTS envelopes, stamped and serialized (Envelope's wire format), that
// carry `results` (each an EncodeResult) in order: as few as keep each
// within `max_bytes`, but every result in one (a result too large for
// `max_bytes` alone travels alone, to be refused by the receiver). None
// for no results.
std::vector<std::string> EncodeResultBatches(
    const std::vector<std::string_view>& results,
    size_t max_bytes = kMaxMessageBytes);

// Fails with kInvalidArgument for undecodable or oversized bytes, and with
// kFailedPrecondition (message naming both versions) for another protocol
// version.
Result<hostlocator::v1::Envelope> DecodeEnvelope(std::string_view bytes);

// DecodeEnvelope for the coordinator: the RESULTS' observations are left
// serialized (InboundEnvelope), to be checked with SummarizeObservation.
Result<hostlocator::v1::InboundEnvelope> DecodeInbound(std::string_view bytes);

// What the coordinator reads of an observation it stores without decoding.
struct ObservationSummary {
  std::string host;
  std::string status;
  std::string error_class;             // error.error_class
  uint32_t http_elapsed_ms = 0;        // http.elapsed_ms
  std::vector<std::string> addresses;  // addresses[].ip, in order
};

// Reads the fields of ObservationSummary from a serialized Observation and
// checks the wire structure of the whole top level and of every nested
// message it reads (error, addresses, http): tags, wire types and lengths
// within bounds, `status` valid UTF-8. Nested messages it does not read
// (dns, verdict, ...) are skipped whole, unchecked inside: the worker that
// wrote them speaks this protocol version. Fails with kInvalidArgument.
Result<ObservationSummary> SummarizeObservation(std::string_view bytes);

}  // namespace hl
