// libFuzzer target for URL normalisation (and the IP text forms it relies
// on). Invariants checked on every input:
// - NormalizeUrl never crashes and never trips ASan/UBSan;
// - an accepted URL has http(s) scheme, a non-empty host, a usable port, a
//   path starting with '/', is printable ASCII without spaces, fits the
//   length limit, and normalising it again yields the same result;
// - RenormalizeUrl (the fast path for already-normal URLs: the worker's,
//   and the ingest's without the registrable domain) gives NormalizeUrl's
//   answer, value or rejection, on every input;
// - a rejection carries a non-empty, printable, UTF-8 detail;
// - an address IpAddress::Parse accepts prints to text that parses back to
//   it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/net/ip.h"
#include "common/net/url.h"
#include "common/utf8.h"

namespace {

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "invariant violated: %s\ninput (%zu bytes): ", what,
               input.size());
  for (unsigned char c : input) std::fprintf(stderr, "\\x%02X", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

bool SameResult(const hl::net::NormalizedUrl& a,
                const hl::net::NormalizedUrl& b) {
  return a.url == b.url && a.scheme == b.scheme && a.host == b.host &&
         a.port == b.port && a.path_query == b.path_query &&
         a.host_kind == b.host_kind &&
         a.registrable_domain == b.registrable_domain;
}

void CheckUrl(std::string_view input) {
  using hl::net::NormalizeUrl;
  for (const bool registrable_domain : {true, false}) {
    const auto slow = NormalizeUrl(input, registrable_domain);
    const auto fast = hl::net::RenormalizeUrl(input, registrable_domain);
    if (fast.ok() != slow.ok() || (slow.ok() && !SameResult(*slow, *fast)) ||
        (!slow.ok() && (fast.error().reason != slow.error().reason ||
                        fast.error().detail != slow.error().detail))) {
      Fail(registrable_domain
               ? "RenormalizeUrl differs from NormalizeUrl"
               : "RenormalizeUrl without the registrable domain differs",
           input);
    }
  }
  const auto r = NormalizeUrl(input);
  if (!r.ok()) {
    const std::string& detail = r.error().detail;
    if (detail.empty()) Fail("empty rejection detail", input);
    for (unsigned char c : detail) {
      if (c < 0x20 || c == 0x7f) Fail("control character in detail", input);
    }
    if (!hl::IsValidUtf8(detail)) Fail("detail is not UTF-8", input);
    return;
  }
  const hl::net::NormalizedUrl& n = *r;
  if (n.scheme != "http" && n.scheme != "https") Fail("scheme", input);
  if (n.host.empty()) Fail("empty host", input);
  if (n.port == 0) Fail("port 0", input);
  if (n.path_query.empty() || n.path_query[0] != '/') Fail("path", input);
  if (n.url.size() > hl::net::kMaxUrlLength) Fail("url too long", input);
  if (n.url.compare(0, n.scheme.size() + 3, n.scheme + "://") != 0) {
    Fail("url does not start with the scheme", input);
  }
  if (n.url.size() < n.path_query.size() ||
      n.url.compare(n.url.size() - n.path_query.size(), n.path_query.size(),
                    n.path_query) != 0) {
    Fail("url does not end with path_query", input);
  }
  for (unsigned char c : n.url) {
    if (c <= 0x20 || c >= 0x7f) Fail("url is not printable ASCII", input);
  }
  const auto again = NormalizeUrl(n.url);
  if (!again.ok()) Fail("normalised url is rejected", input);
  if (!SameResult(n, *again)) Fail("normalisation is not idempotent", input);
  const auto fast_again = hl::net::RenormalizeUrl(n.url);
  if (!fast_again.ok() || !SameResult(n, *fast_again)) {
    Fail("RenormalizeUrl of a normalised url differs", input);
  }
}

void CheckIp(std::string_view input) {
  const auto ip = hl::net::IpAddress::Parse(input);
  if (!ip) return;
  if (hl::net::IpAddress::Parse(ip->ToString()) != ip) {
    Fail("IpAddress text does not round-trip", input);
  }
  hl::net::Classify(*ip);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckUrl(input);
  CheckIp(input);
  return 0;
}
