// Reported-URL parsing and normalisation.
//
// Contract of NormalizeUrl:
// - only http and https (scheme matched case-insensitively; no scheme is a
//   rejection, not a guess);
// - host lower-cased; IDN converted to A-labels (IDNA2008 via libidn2,
//   with the UTS#46 transitional mapping); trailing dot removed;
// - IPv4 literals in any form a browser accepts (decimal integer, hex,
//   octal, short dotted forms) canonicalised to dotted quad; IPv6 literals
//   canonicalised (RFC 5952) and kept in brackets in the URL;
// - default port (80/443) dropped, other ports kept;
// - userinfo dropped (hotlines never send credentials);
// - fragment dropped; path and query kept byte-exact (no decoding, no
//   re-encoding, no dot-segment removal beyond what the URL parser requires);
//   an empty path becomes "/";
// - .onion names recognised (HostKind::kOnion).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hl::net {

// Longest accepted input, in bytes.
inline constexpr size_t kMaxUrlLength = 8192;

enum class UrlRejection {
  kEmpty,              // "empty"
  kTooLong,            // "too long"
  kUnsupportedScheme,  // "unsupported scheme"
  kMissingScheme,      // "missing scheme"
  kInvalidSyntax,      // "invalid syntax"
  kInvalidHost,        // "invalid host"
  kInvalidPort,        // "invalid port"
};

// The stable, user-facing reason string listed next to each enumerator.
std::string_view UrlRejectionReason(UrlRejection r);

struct UrlError {
  UrlRejection reason;
  std::string detail;  // what exactly was wrong, for the analyst
};

enum class HostKind { kDomain, kIpv4, kIpv6, kOnion };

struct NormalizedUrl {
  std::string url;          // the normalised URL, the dedup key
  std::string scheme;       // "http" | "https"
  std::string host;         // A-label domain or canonical IP (no brackets)
  uint16_t port = 0;        // effective port (80/443 when default)
  std::string path_query;   // path plus "?query" if any, byte-exact
  HostKind host_kind = HostKind::kDomain;
  // Registrable domain (eTLD+1 via libpsl); empty for IP literals and for
  // hosts that are themselves public suffixes.
  std::string registrable_domain;
};

Result<NormalizedUrl, UrlError> NormalizeUrl(std::string_view input);

}  // namespace hl::net
