// Reported-URL parsing and normalisation.
//
// Contract of NormalizeUrl (what an analyst sees in the normalised URL):
// - leading and trailing ASCII whitespace (space, tab, CR, LF, VT, FF) is
//   trimmed; any other control character (U+0000-U+001F, U+007F) anywhere is
//   a rejection;
// - only http and https (scheme matched case-insensitively; no scheme is a
//   rejection, not a guess, and "host:port/..." counts as no scheme); the
//   scheme must be followed by "//" and a non-empty authority;
// - host: percent-encoding decoded once (as browsers do) and lower-cased;
//   IDN labels converted to A-labels with libidn2 (UTS#46 non-transitional
//   processing, as current browsers do; when a label is disallowed under
//   IDNA2008 the UTS#46 transitional mapping is tried, as curl does, so
//   symbol domains such as xn--n3h.net still resolve); the full-width and
//   ideographic dots are label separators; one trailing dot removed; labels
//   are ASCII letters, digits, '-' and '_' of 1 to 63 bytes, at most 253 in
//   all, and the top-level label starts and ends with a letter or digit
//   (inner labels may start or end with '-': such hosts exist and browsers
//   accept them);
// - a host whose last label is a number is an IPv4 literal and goes through
//   the WHATWG IPv4 parser, so every form a browser accepts (decimal
//   integer, hex, octal, short dotted forms, full-width digits) is
//   canonicalised to a dotted quad and every other numeric form is rejected;
//   IPv6 literals are canonicalised (RFC 5952) and kept in brackets in the
//   URL; zone identifiers are rejected;
// - default port (80/443) dropped, other ports kept, port 0 rejected;
// - userinfo dropped (hotlines never send credentials); malformed userinfo
//   (for example with a space) is a rejection;
// - a backslash before the path is a rejection: browsers read it as '/' and
//   libcurl as part of the userinfo, so the two would disagree on the host
//   ("http://example.com\@evil.com/"); in the path it is kept as given;
// - fragment dropped; path and query kept byte-exact (percent-escapes are
//   neither decoded nor re-cased) except that spaces and bytes >= 0x80 are
//   percent-encoded (upper-case hex), as a browser does before sending, so
//   the normalised URL is printable ASCII; dot segments ("/./", "/../") are
//   removed as RFC 3986 section 5.2.4 requires (percent-encoded dots are
//   left alone); an empty path becomes "/"; a present but empty query ("?")
//   is kept;
// - .onion names recognised (HostKind::kOnion).
// A successful result is a fixed point: normalising NormalizedUrl::url again
// yields the same result. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hl::net {

// Longest accepted URL, in bytes, both as given (after trimming) and after
// normalisation.
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
  std::string url;         // the normalised URL, the dedup key
  std::string scheme;      // "http" | "https"
  std::string host;        // A-label domain or canonical IP (no brackets)
  uint16_t port = 0;       // effective port (80/443 when default)
  std::string path_query;  // path plus "?query" if any, byte-exact
  HostKind host_kind = HostKind::kDomain;
  // Registrable domain: the public suffix plus one label, by the ICANN
  // section of the Public Suffix List only (the domain a registrar sold and
  // whose registrant and name servers matter for jurisdiction; for
  // "user.github.io" it is "github.io"). Unlisted top-level domains count as
  // public suffixes. Empty for IP literals and for hosts that are themselves
  // public suffixes. The list is libpsl's psl_latest(): the newer of the
  // compiled-in list and the system one (/usr/share/publicsuffix).
  std::string registrable_domain;
};

// With `registrable_domain` false, NormalizedUrl::registrable_domain is left
// empty and the Public Suffix List is not consulted (the ingest needs only
// the URL; a URL accepted or refused either way is the same).
Result<NormalizedUrl, UrlError> NormalizeUrl(std::string_view input,
                                             bool registrable_domain = true);

// NormalizeUrl(input, registrable_domain) for an input that is often
// already normal (a job's URL, which the coordinator normalised; a submitted
// URL): the result, value or error, is always NormalizeUrl's. A URL in the
// plain normal form (SplitPlainNormalUrl) is split without parsing it again;
// any other goes through NormalizeUrl.
Result<NormalizedUrl, UrlError> RenormalizeUrl(std::string_view input,
                                               bool registrable_domain = true);

// The NormalizedUrl of `input` when it is in the plain normal form: scheme
// "http" or "https", "://", a domain of labels of lower-case ASCII letters,
// digits, '-' and '_' that start and end with a letter or digit (no
// A-label, no trailing dot, a top-level label that starts with a letter),
// an optional port of 1 to 65535 without leading zeros that is not the
// scheme's default, then a path starting with '/' without "." or ".."
// segments and an optional query, both of RFC 3986 characters with '%'
// only before two hex digits, at most kMaxUrlLength bytes in all. nullopt for
// every other input. Such an input is a fixed point of NormalizeUrl, and the
// result is NormalizeUrl(input, registrable_domain)'s.
std::optional<NormalizedUrl> SplitPlainNormalUrl(
    std::string_view input, bool registrable_domain = true);

// NormalizedUrl::registrable_domain of a URL whose NormalizedUrl::host is
// `host`, without normalising the URL again: empty for IP literals.
std::string RegistrableDomainOfHost(std::string_view host);

// The URL a redirect's Location header points to: `reference` resolved
// against `base` (RFC 3986 section 5: absolute, scheme-relative,
// path-absolute or relative), then normalised like a reported URL.
Result<NormalizedUrl, UrlError> ResolveReference(std::string_view base,
                                                 std::string_view reference);

}  // namespace hl::net
