#include "common/verdict_line.h"

#include <cstdio>

#include "common/proto/verdict_line_source.pb.h"
#include "common/proto_view.h"

namespace hl {
namespace {

namespace pb = hostlocator::v1;

std::string Countries(const pb::VerdictLineSource& obs) {
  std::string out;
  for (const auto& c : obs.verdict().hosting_countries()) {
    if (!out.empty()) out += ",";
    out += c;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string VerdictLine(std::string_view stored) {
  pb::VerdictLineSource obs;
  if (!ParseView(stored, &obs)) {
    return "(a result that cannot be read: the store may be damaged)";
  }
  // The evidence of the request that decided: the last hop of a redirect
  // chain (as FinalHopOf in common/verdict.h).
  const bool redirected = obs.redirects_size() > 0;
  const pb::LineHop* hop =
      redirected ? &obs.redirects(obs.redirects_size() - 1) : nullptr;
  const auto& addresses = redirected ? hop->addresses() : obs.addresses();
  const pb::LineHttp& http = redirected ? hop->http() : obs.http();
  const std::string& pinned_ip =
      redirected ? hop->pinned_ip() : obs.pinned_ip();
  // The answering address as AnsweringIp in common/verdict.h.
  const std::string& ip =
      http.connected_ip().empty() ? pinned_ip : http.connected_ip();

  std::string detail = obs.error().error_class();
  for (const auto& a : addresses) {
    if (a.ip() != ip) continue;
    detail += (detail.empty() ? "" : " ") + a.ip();
    if (a.asn()) detail += " AS" + std::to_string(a.asn());
    if (!a.as_org().empty()) detail += " " + a.as_org();
  }
  if (http.status() > 0) {
    detail += " HTTP " + std::to_string(http.status());
  } else if (!http.error().error_class().empty() &&
             http.error().error_class() != obs.error().error_class()) {
    detail += " HTTP failed: " + http.error().error_class();
  }
  if (redirected) {
    detail += " after " + std::to_string(obs.redirects_size()) +
              " redirect(s) from " + obs.host();
  }
  if (!obs.redirect_error().error_class().empty()) {
    detail += " (" + obs.redirect_error().error_class() + ")";
  }
  if (!obs.providers().empty()) {
    detail += " [" + obs.providers(0).name() + ", " +
              obs.providers(0).category() + "]";
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%-10s %-6s ", obs.status().c_str(),
                Countries(obs).c_str());
  return buf + obs.url() + "  " + detail;
}

}  // namespace hl
