#include "common/request_context.h"

#include "common/net/url.h"

namespace hl {

bool IsValidUserAgent(std::string_view user_agent) {
  if (user_agent.empty() || user_agent.size() > kMaxUserAgentBytes) {
    return false;
  }
  for (unsigned char c : user_agent) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

Result<hostlocator::v1::RequestContext, ContextError> MakeRequestContext(
    std::string_view referer, std::string_view user_agent) {
  hostlocator::v1::RequestContext context;
  if (!referer.empty()) {
    auto url = net::NormalizeUrl(referer);
    if (!url.ok()) {
      return ContextError{
          "invalid referer",
          std::string(net::UrlRejectionReason(url.error().reason)) + ": " +
              url.error().detail};
    }
    context.set_referer(url->url);
  }
  if (!user_agent.empty()) {
    if (!IsValidUserAgent(user_agent)) {
      return ContextError{"invalid user agent",
                          "a user agent has at most " +
                              std::to_string(kMaxUserAgentBytes) +
                              " bytes and no control characters"};
    }
    context.set_user_agent(std::string(user_agent));
  }
  return context;
}

std::string JobKey(std::string_view url,
                   const hostlocator::v1::RequestContext& context) {
  std::string key(url);
  if (context.referer().empty() && context.user_agent().empty()) return key;
  key += '\0';
  key += context.referer();
  key += '\0';
  key += context.user_agent();
  return key;
}

}  // namespace hl
