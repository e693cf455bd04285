// The request context of a probe (RequestContext in the schema): the Referer
// and User-Agent a site may demand before it shows its content. It travels
// with the job and is part of the job's identity.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/proto/hostlocator.pb.h"
#include "common/status.h"

namespace hl {

inline constexpr size_t kMaxUserAgentBytes = 1024;

// A header value fit for User-Agent: non-empty, at most kMaxUserAgentBytes,
// no control characters (no header injection).
bool IsValidUserAgent(std::string_view user_agent);

struct ContextError {
  std::string reason;  // "invalid referer" | "invalid user agent"
  std::string detail;
};

// Validates one line's (or batch's) context. The referer must be an http or
// https URL and is normalised like a reported URL; empty fields stay empty
// (no Referer; the configured User-Agent).
Result<hostlocator::v1::RequestContext, ContextError> MakeRequestContext(
    std::string_view referer, std::string_view user_agent);

// The identity of a job: the normalised URL alone when the context is empty,
// else the URL, referer and user agent joined by NUL bytes (which none of
// them can contain).
std::string JobKey(std::string_view url,
                   const hostlocator::v1::RequestContext& context);

}  // namespace hl
