#include "common/net/url.h"

#include <curl/curl.h>
#include <idn2.h>
#include <libpsl.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ascii.h"
#include "common/net/ip.h"
#include "common/utf8.h"

namespace hl::net {
namespace {

constexpr std::string_view kAsciiWhitespace = " \t\n\v\f\r";
// Echoed input is cut to this many bytes in error details.
constexpr size_t kMaxQuoted = 80;

UrlError Reject(UrlRejection reason, std::string detail) {
  return UrlError{reason, std::move(detail)};
}

bool IsAsciiAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool StartsWithCaseless(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         ToLowerAscii(s.substr(0, prefix.size())) == prefix;
}

// Input echoed into an error detail: quoted, cut short, and valid UTF-8
// (other bytes and control characters appear as \xNN), so details are safe
// to put into JSON and protobuf strings.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  size_t shown = 0;
  while (!s.empty()) {
    if (shown >= kMaxQuoted) {
      out += "...";
      break;
    }
    const size_t len = Utf8SequenceLength(s);
    const auto c = static_cast<unsigned char>(s[0]);
    if (len == 0 || c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
      s.remove_prefix(1);
      ++shown;
    } else {
      out.append(s.substr(0, len));
      s.remove_prefix(len);
      shown += len;
    }
  }
  return out + "\"";
}

std::string DescribeControl(char c) {
  switch (c) {
    case '\0':
      return "a NUL byte";
    case '\t':
      return "a tab";
    case '\n':
      return "a line feed";
    case '\r':
      return "a carriage return";
    default:
      return "the control character " + Quote(std::string_view(&c, 1));
  }
}

std::string_view Trim(std::string_view s) {
  const size_t first = s.find_first_not_of(kAsciiWhitespace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kAsciiWhitespace) - first + 1);
}

// RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool IsSchemeSyntax(std::string_view s) {
  return !s.empty() && IsAsciiAlpha(s[0]) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return IsAsciiAlpha(c) || IsAsciiDigit(c) || c == '+' || c == '-' ||
                  c == '.';
         });
}

// True for "8080", "8080/x", "8080?q": what follows "host:" when a URL
// was written without a scheme.
bool LooksLikePortAndPath(std::string_view after_colon) {
  const size_t end = after_colon.find_first_of("/?#");
  const std::string_view digits = after_colon.substr(0, end);
  return !digits.empty() &&
         std::all_of(digits.begin(), digits.end(), IsAsciiDigit);
}

// Spaces and non-ASCII bytes percent-encoded, every other byte as given.
std::string EncodePathAndQuery(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c >= 0x80) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

// The parts of "user:pw@host:port" as written, for error details only; the
// URL parser decides what is valid.
struct AuthorityText {
  std::string_view host;
  std::optional<std::string_view> port;  // text after the ':' if any
  std::string_view after_bracket;        // junk after "[...]" if any
};

AuthorityText SplitAuthority(std::string_view authority) {
  AuthorityText t;
  // The first '@' ends the userinfo, as libcurl reads it.
  const size_t at = authority.find('@');
  std::string_view hp =
      at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (!hp.empty() && hp[0] == '[') {
    const size_t close = hp.find(']');
    if (close == std::string_view::npos) {
      t.host = hp;
      return t;
    }
    std::string_view rest = hp.substr(close + 1);
    t.host = hp.substr(0, close + 1);
    if (!rest.empty() && rest[0] == ':') {
      t.port = rest.substr(1);
    } else {
      t.after_bracket = rest;
    }
    return t;
  }
  const size_t colon = hp.find(':');
  t.host = hp.substr(0, colon);
  if (colon != std::string_view::npos) t.port = hp.substr(colon + 1);
  return t;
}

UrlError PortError(std::string_view authority) {
  const AuthorityText t = SplitAuthority(authority);
  if (!t.after_bracket.empty()) {
    return Reject(UrlRejection::kInvalidPort,
                  "unexpected text " + Quote(t.after_bracket) +
                      " after the IPv6 address; a port is written as "
                      "[address]:port");
  }
  const std::string_view port = t.port.value_or("");
  if (!port.empty() && std::all_of(port.begin(), port.end(), IsAsciiDigit)) {
    return Reject(
        UrlRejection::kInvalidPort,
        "port " + Quote(port) + " is out of range; ports go from 1 to 65535");
  }
  return Reject(UrlRejection::kInvalidPort,
                "port " + Quote(port) + " is not a number");
}

UrlError HostSyntaxError(std::string_view authority, CURLUcode rc) {
  const AuthorityText t = SplitAuthority(authority);
  if (rc == CURLUE_NO_HOST || t.host.empty()) {
    return Reject(UrlRejection::kInvalidHost, "the host name is empty");
  }
  if (rc == CURLUE_BAD_IPV6) {
    return Reject(UrlRejection::kInvalidHost,
                  Quote(t.host) + " is not a valid IPv6 address");
  }
  if (t.host.find(' ') != std::string_view::npos) {
    return Reject(UrlRejection::kInvalidHost,
                  "the host name " + Quote(t.host) + " contains a space");
  }
  const auto bad = std::find_if(t.host.begin(), t.host.end(), [](char c) {
    return !(IsAsciiAlpha(c) || IsAsciiDigit(c) || c == '.' || c == '-' ||
             c == '_' || c == '%' || static_cast<unsigned char>(c) >= 0x80);
  });
  if (bad != t.host.end()) {
    return Reject(UrlRejection::kInvalidHost,
                  "the host name " + Quote(t.host) + " contains " +
                      Quote(std::string_view(&*bad, 1)) +
                      ", which is not allowed in host names");
  }
  return Reject(UrlRejection::kInvalidHost,
                Quote(t.host) + " is not a valid host name");
}

UrlError CurlError(CURLUcode rc, std::string_view authority) {
  switch (rc) {
    case CURLUE_OUT_OF_MEMORY:
      throw std::bad_alloc();
    case CURLUE_BAD_PORT_NUMBER:
      return PortError(authority);
    case CURLUE_NO_HOST:
    case CURLUE_BAD_HOSTNAME:
    case CURLUE_BAD_IPV6:
      return HostSyntaxError(authority, rc);
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD:
      // Not echoed: it may be a credential.
      return Reject(UrlRejection::kInvalidSyntax,
                    "the user name or password before '@' contains "
                    "characters that are not allowed there (such as a "
                    "space); credentials are not needed and can be removed");
    default:
      return Reject(UrlRejection::kInvalidSyntax,
                    std::string("the URL could not be parsed (") +
                        curl_url_strerror(rc) + ")");
  }
}

// WHATWG URL Standard, "IPv4 number parser". Values above 2^32 saturate.
std::optional<uint64_t> ParseIpv4Number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int radix = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    radix = 16;
    s.remove_prefix(2);
  } else if (s.size() >= 2 && s[0] == '0') {
    radix = 8;
    s.remove_prefix(1);
  }
  constexpr uint64_t kCap = uint64_t{1} << 33;
  uint64_t value = 0;
  for (char c : s) {
    int digit;
    if (IsAsciiDigit(c)) {
      digit = c - '0';
    } else if (radix == 16 && ToLowerAscii(c) >= 'a' &&
               ToLowerAscii(c) <= 'f') {
      digit = ToLowerAscii(c) - 'a' + 10;
    } else {
      return std::nullopt;
    }
    if (digit >= radix) return std::nullopt;
    value = std::min(kCap, value * radix + digit);
  }
  return value;
}

std::vector<std::string_view> SplitDots(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t dot; (dot = s.find('.', start)) != std::string_view::npos;
       start = dot + 1) {
    parts.push_back(s.substr(start, dot - start));
  }
  parts.push_back(s.substr(start));
  return parts;
}

// WHATWG "ends in a number checker", for a host without a trailing dot.
bool EndsInNumber(std::string_view host) {
  const std::string_view last = host.substr(host.rfind('.') + 1);
  return !last.empty() &&
         (std::all_of(last.begin(), last.end(), IsAsciiDigit) ||
          ParseIpv4Number(last).has_value());
}

// WHATWG "IPv4 parser", for a host without a trailing dot.
std::optional<IpAddress> ParseWhatwgIpv4(std::string_view host) {
  const std::vector<std::string_view> parts = SplitDots(host);
  if (parts.size() > 4) return std::nullopt;
  uint64_t value = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto n = ParseIpv4Number(parts[i]);
    if (!n) return std::nullopt;
    const bool last = i + 1 == parts.size();
    const int shift = last ? 0 : 8 * (3 - static_cast<int>(i));
    const uint64_t limit = last ? uint64_t{1} << (8 * (5 - parts.size())) : 256;
    if (*n >= limit) return std::nullopt;
    value += *n << shift;
  }
  return IpAddress::V4(
      {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
       static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)});
}

// UTS#46 ToASCII of one label that is not plain ASCII (or is an A-label to
// be validated).
Result<std::string, UrlError> LabelToAscii(std::string_view label) {
  const std::string in(label);
  char* out = nullptr;
  int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(in.c_str()),
                          reinterpret_cast<uint8_t**>(&out),
                          IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc == IDN2_DISALLOWED) {
    rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(in.c_str()),
                        reinterpret_cast<uint8_t**>(&out),
                        IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
  }
  if (rc != IDN2_OK) {
    if (rc == IDN2_MALLOC) throw std::bad_alloc();
    return Reject(UrlRejection::kInvalidHost,
                  "the host name label " + Quote(label) +
                      " is not a valid internationalised domain name (" +
                      idn2_strerror(rc) + ")");
  }
  std::unique_ptr<char, decltype(&idn2_free)> owned(out, idn2_free);
  return std::string(out);
}

// Splits on the dots UTS#46 maps to '.', converting each label to ASCII.
Result<std::string, UrlError> HostToAscii(std::string_view host) {
  static constexpr std::string_view kDots[] = {".", "\u3002", "\uff0e",
                                               "\uff61"};
  // The usual host: ASCII (so only '.' separates labels) and no A-label
  // to check, lower-cased whole.
  const auto plain = [&] {
    for (char c : host) {
      if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    for (size_t start = 0;;) {
      if (StartsWithCaseless(host.substr(start), "xn--")) return false;
      const size_t dot = host.find('.', start);
      if (dot == std::string_view::npos) return true;
      start = dot + 1;
    }
  };
  if (plain()) return ToLowerAscii(host);
  std::string out;
  while (true) {
    size_t cut = std::string_view::npos, cut_len = 0;
    for (std::string_view dot : kDots) {
      const size_t pos = host.find(dot);
      if (pos < cut) {
        cut = pos;
        cut_len = dot.size();
      }
    }
    const std::string_view label = host.substr(0, cut);
    const bool ascii = std::all_of(label.begin(), label.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x80;
    });
    if (ascii && !StartsWithCaseless(label, "xn--")) {
      out += ToLowerAscii(label);
    } else {
      auto converted = LabelToAscii(label);
      if (!converted.ok()) return converted.error();
      out += *converted;
    }
    if (cut == std::string_view::npos) return out;
    out += '.';
    host.remove_prefix(cut + cut_len);
  }
}

bool IsHostChar(char c) {
  return IsAsciiAlpha(c) || IsAsciiDigit(c) || c == '-' || c == '_';
}

struct Host {
  std::string name;
  HostKind kind;
};

// Validates an A-label domain name (no trailing dot) and classifies it.
Result<Host, UrlError> CheckDomain(std::string name, std::string_view shown) {
  if (name.size() > 253) {
    return Reject(UrlRejection::kInvalidHost,
                  "the host name " + Quote(shown) + " is " +
                      std::to_string(name.size()) +
                      " characters long; DNS allows at most 253");
  }
  const std::vector<std::string_view> labels = SplitDots(name);
  for (std::string_view label : labels) {
    if (label.empty()) {
      return Reject(UrlRejection::kInvalidHost,
                    "the host name " + Quote(shown) +
                        " has an empty label (a leading dot or two dots in a "
                        "row)");
    }
    if (label.size() > 63) {
      return Reject(UrlRejection::kInvalidHost,
                    "the host name " + Quote(shown) +
                        " has a label longer than 63 characters");
    }
    const auto bad = std::find_if_not(label.begin(), label.end(), IsHostChar);
    if (bad != label.end()) {
      return Reject(UrlRejection::kInvalidHost,
                    "the host name " + Quote(shown) + " contains " +
                        Quote(std::string_view(&*bad, 1)) +
                        ", which is not allowed in host names");
    }
  }
  const std::string_view tld = labels.back();
  const auto alnum = [](char c) { return IsAsciiAlpha(c) || IsAsciiDigit(c); };
  if (!alnum(tld.front()) || !alnum(tld.back())) {
    return Reject(UrlRejection::kInvalidHost,
                  "the host name " + Quote(shown) + " ends in " + Quote(tld) +
                      ", which is not a valid top-level domain");
  }
  const HostKind kind = tld == "onion" ? HostKind::kOnion : HostKind::kDomain;
  return Host{std::move(name), kind};
}

// `raw` is the host as the URL parser returns it: percent-decoded, IPv6 in
// brackets without its zone.
Result<Host, UrlError> NormalizeHost(std::string_view raw) {
  if (raw.size() >= 2 && raw.front() == '[') {
    const auto ip = IpAddress::Parse(raw.substr(1, raw.size() - 2));
    if (!ip || ip->is_v4()) {
      return Reject(UrlRejection::kInvalidHost,
                    Quote(raw) + " is not a valid IPv6 address");
    }
    return Host{ip->ToString(), HostKind::kIpv6};
  }
  if (raw.find('%') != std::string_view::npos) {
    return Reject(UrlRejection::kInvalidHost,
                  "the host name " + Quote(raw) +
                      " contains '%' (after decoding percent-escapes), which "
                      "is not allowed in host names");
  }
  auto ascii = HostToAscii(raw);
  if (!ascii.ok()) return ascii.error();
  std::string name = std::move(*ascii);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) {
    return Reject(UrlRejection::kInvalidHost, "the host name is empty");
  }
  if (EndsInNumber(name)) {
    const auto ip = ParseWhatwgIpv4(name);
    if (!ip) {
      return Reject(UrlRejection::kInvalidHost,
                    "the host " + Quote(raw) +
                        " ends in a number, so it must be an IPv4 address, "
                        "but it is not a valid one");
    }
    return Host{ip->ToString(), HostKind::kIpv4};
  }
  return CheckDomain(std::move(name), raw);
}

const psl_ctx_t* PublicSuffixList() {
  static const psl_ctx_t* const ctx = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest != nullptr ? latest : psl_builtin();
  }();
  return ctx;
}

// Whether `name` is an ICANN public suffix. The answers for the names
// below a host's first label (its parent domains: few and shared by many
// hosts, each costing libpsl about 3,000 instructions) are remembered per
// thread, up to kMaxRemembered, then forgotten all at once.
bool IsPublicSuffix(const char* name, bool remember) {
  constexpr size_t kMaxRemembered = 4096;
  thread_local std::unordered_map<std::string, bool> remembered;
  if (!remember) {
    return psl_is_public_suffix2(PublicSuffixList(), name, PSL_TYPE_ICANN);
  }
  if (auto found = remembered.find(name); found != remembered.end()) {
    return found->second;
  }
  const bool suffix =
      psl_is_public_suffix2(PublicSuffixList(), name, PSL_TYPE_ICANN);
  if (remembered.size() >= kMaxRemembered) remembered.clear();
  remembered.emplace(name, suffix);
  return suffix;
}

// The ICANN public suffix plus one label; empty when `domain` is itself a
// public suffix.
std::string LookUpRegistrableDomain(const std::string& domain) {
  if (IsPublicSuffix(domain.c_str(), /*remember=*/false)) return {};
  size_t label_start = 0;
  for (size_t dot = domain.find('.'); dot != std::string::npos;
       dot = domain.find('.', dot + 1)) {
    if (IsPublicSuffix(domain.c_str() + dot + 1, /*remember=*/true)) {
      return domain.substr(label_start);
    }
    label_start = dot + 1;
  }
  return {};
}

// LookUpRegistrableDomain, its answers remembered per thread up to
// kMaxRemembered, then forgotten all at once: a probe asks for its host's
// twice (NormalizeUrl, then the jurisdiction), each costing libpsl about
// 4,000 instructions for the host itself.
std::string RegistrableDomain(const std::string& domain) {
  constexpr size_t kMaxRemembered = 4096;
  thread_local std::unordered_map<std::string, std::string> remembered;
  if (auto found = remembered.find(domain); found != remembered.end()) {
    return found->second;
  }
  std::string registrable = LookUpRegistrableDomain(domain);
  if (remembered.size() >= kMaxRemembered) remembered.clear();
  remembered.emplace(domain, registrable);
  return registrable;
}

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};

// A part of a parsed URL; nullopt when the URL lacks it.
std::optional<std::string> GetPart(CURLU* u, CURLUPart part) {
  char* raw = nullptr;
  const CURLUcode rc = curl_url_get(u, part, &raw, 0);
  if (rc == CURLUE_OUT_OF_MEMORY) throw std::bad_alloc();
  if (rc != CURLUE_OK) return std::nullopt;
  std::unique_ptr<char, CurlStringDeleter> owned(raw);
  return std::string(raw);
}

}  // namespace

std::string_view UrlRejectionReason(UrlRejection r) {
  switch (r) {
    case UrlRejection::kEmpty:
      return "empty";
    case UrlRejection::kTooLong:
      return "too long";
    case UrlRejection::kUnsupportedScheme:
      return "unsupported scheme";
    case UrlRejection::kMissingScheme:
      return "missing scheme";
    case UrlRejection::kInvalidSyntax:
      return "invalid syntax";
    case UrlRejection::kInvalidHost:
      return "invalid host";
    case UrlRejection::kInvalidPort:
      return "invalid port";
  }
  return "invalid syntax";
}

Result<NormalizedUrl, UrlError> NormalizeUrl(std::string_view input,
                                             bool registrable_domain) {
  const std::string_view s = Trim(input);
  if (s.empty()) {
    return Reject(UrlRejection::kEmpty,
                  input.empty() ? "the line is empty"
                                : "the line contains only whitespace");
  }
  if (s.size() > kMaxUrlLength) {
    return Reject(UrlRejection::kTooLong, "the URL is " +
                                              std::to_string(s.size()) +
                                              " bytes long; the limit is " +
                                              std::to_string(kMaxUrlLength));
  }
  const auto control = std::find_if(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (control != s.end()) {
    return Reject(UrlRejection::kInvalidSyntax,
                  "the URL contains " + DescribeControl(*control) +
                      " at byte " + std::to_string(control - s.begin() + 1) +
                      "; URLs cannot contain control characters");
  }

  const size_t colon = s.find(':');
  // "example.com:8080/x" is a host and port, not a scheme with a dot.
  if (colon == std::string_view::npos || !IsSchemeSyntax(s.substr(0, colon)) ||
      (s.substr(0, colon).find('.') != std::string_view::npos &&
       LooksLikePortAndPath(s.substr(colon + 1)))) {
    return Reject(UrlRejection::kMissingScheme,
                  Quote(s) +
                      " does not start with a scheme; write it as http://... "
                      "or https://...");
  }
  NormalizedUrl out;
  out.scheme = ToLowerAscii(s.substr(0, colon));
  if (out.scheme != "http" && out.scheme != "https") {
    return Reject(UrlRejection::kUnsupportedScheme,
                  "the scheme " + Quote(s.substr(0, colon)) +
                      " is not supported; only http and https URLs can be "
                      "located");
  }
  std::string_view rest = s.substr(colon + 1);
  if (rest.substr(0, 2) != "//") {
    return Reject(UrlRejection::kInvalidSyntax,
                  Quote(s.substr(0, colon + 1)) +
                      " must be followed by \"//\" and the host name");
  }
  rest.remove_prefix(2);
  rest = rest.substr(0, rest.find('#'));
  const size_t authority_end = rest.find_first_of("/?\\");
  const std::string_view authority = rest.substr(0, authority_end);
  if (authority_end != std::string_view::npos && rest[authority_end] == '\\') {
    // Browsers end the host at a backslash; libcurl does not. Refusing the
    // URL keeps both from disagreeing on which host is meant.
    return Reject(UrlRejection::kInvalidHost,
                  "a backslash follows " + Quote(authority) +
                      "; browsers read it as '/', so write the URL with '/' "
                      "to say which host is meant");
  }
  if (authority.empty()) {
    return Reject(UrlRejection::kInvalidHost, "the host name is empty");
  }
  const std::string to_parse =
      out.scheme + "://" + std::string(authority) +
      (authority_end == std::string_view::npos
           ? std::string()
           : EncodePathAndQuery(rest.substr(authority_end)));

  const std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (!u) throw std::bad_alloc();
  // Only http(s) reach this point; CURLU_NON_SUPPORT_SCHEME keeps parsing
  // independent of the protocols this libcurl was built with.
  const CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, to_parse.c_str(),
                                    CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) return CurlError(rc, authority);

  if (GetPart(u.get(), CURLUPART_ZONEID)) {
    return Reject(UrlRejection::kInvalidHost,
                  "the IPv6 address in " + Quote(authority) +
                      " has a zone identifier ('%'), which only names an "
                      "interface of the local machine");
  }
  auto host = NormalizeHost(GetPart(u.get(), CURLUPART_HOST).value_or(""));
  if (!host.ok()) return host.error();
  out.host = std::move(host->name);
  out.host_kind = host->kind;

  const uint16_t default_port = out.scheme == "https" ? 443 : 80;
  out.port = default_port;
  if (const auto port = GetPart(u.get(), CURLUPART_PORT)) {
    std::from_chars(port->data(), port->data() + port->size(), out.port);
    if (out.port == 0) {
      return Reject(UrlRejection::kInvalidPort,
                    "port 0 cannot be connected to; ports go from 1 to 65535");
    }
  }

  out.path_query = GetPart(u.get(), CURLUPART_PATH).value_or("/");
  if (const auto query = GetPart(u.get(), CURLUPART_QUERY)) {
    out.path_query += "?" + *query;
  }

  out.url = out.scheme + "://";
  out.url += out.host_kind == HostKind::kIpv6 ? "[" + out.host + "]" : out.host;
  if (out.port != default_port) out.url += ":" + std::to_string(out.port);
  out.url += out.path_query;
  if (out.url.size() > kMaxUrlLength) {
    return Reject(UrlRejection::kTooLong,
                  "with spaces and non-ASCII characters percent-encoded the "
                  "URL is " +
                      std::to_string(out.url.size()) +
                      " bytes long; the limit is " +
                      std::to_string(kMaxUrlLength));
  }
  if (registrable_domain && (out.host_kind == HostKind::kDomain ||
                             out.host_kind == HostKind::kOnion)) {
    out.registrable_domain = RegistrableDomain(out.host);
  }
  return out;
}

std::optional<NormalizedUrl> SplitPlainNormalUrl(std::string_view input,
                                                 bool registrable_domain) {
  if (input.size() > kMaxUrlLength) return std::nullopt;
  NormalizedUrl out;
  std::string_view rest;
  uint16_t default_port = 0;
  if (input.starts_with("http://")) {
    out.scheme = "http";
    default_port = 80;
    rest = input.substr(7);
  } else if (input.starts_with("https://")) {
    out.scheme = "https";
    default_port = 443;
    rest = input.substr(8);
  } else {
    return std::nullopt;
  }
  const size_t path_start = rest.find('/');
  if (path_start == std::string_view::npos) return std::nullopt;
  std::string_view authority = rest.substr(0, path_start);
  const std::string_view path_query = rest.substr(path_start);

  out.port = default_port;
  if (const size_t colon = authority.find(':');
      colon != std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port[0] == '0' ||
        !std::all_of(port.begin(), port.end(), IsAsciiDigit)) {
      return std::nullopt;
    }
    uint32_t value = 0;
    std::from_chars(port.data(), port.data() + port.size(), value);
    if (value > 65535 || value == default_port) return std::nullopt;
    out.port = static_cast<uint16_t>(value);
    authority = authority.substr(0, colon);
  }

  // The host: labels of lower-case letters, digits, '-' and '_' that
  // start and end with a letter or digit, none an A-label, the last one
  // starting with a letter (so it is neither a number nor an IPv4 part).
  if (authority.empty() || authority.size() > 253) return std::nullopt;
  const auto lower_or_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || IsAsciiDigit(c);
  };
  std::string_view tld;
  for (size_t start = 0;;) {
    const size_t dot = authority.find('.', start);
    const std::string_view label = authority.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.starts_with("xn--") ||
        !lower_or_digit(label.front()) || !lower_or_digit(label.back()) ||
        !std::all_of(label.begin(), label.end(), [&](char c) {
          return lower_or_digit(c) || c == '-' || c == '_';
        })) {
      return std::nullopt;
    }
    if (dot == std::string_view::npos) {
      tld = label;
      break;
    }
    start = dot + 1;
  }
  if (IsAsciiDigit(tld.front())) return std::nullopt;

  // The path and query: RFC 3986 characters, no dot segment in the path.
  const auto is_hex = [](char c) {
    return IsAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  for (size_t i = 0; i < path_query.size(); ++i) {
    const char c = path_query[i];
    if (IsAsciiAlpha(c) || IsAsciiDigit(c)) continue;
    if (c == '%') {
      if (i + 2 >= path_query.size() || !is_hex(path_query[i + 1]) ||
          !is_hex(path_query[i + 2])) {
        return std::nullopt;
      }
      continue;
    }
    if (std::string_view("-._~!$&'()*+,;=:@/?").find(c) ==
        std::string_view::npos) {
      return std::nullopt;
    }
  }
  const std::string_view path = path_query.substr(0, path_query.find('?'));
  for (size_t start = 1;;) {
    const size_t end = path.find('/', start);
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return std::nullopt;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }

  out.url = std::string(input);
  out.host = std::string(authority);
  out.path_query = std::string(path_query);
  if (tld == "onion") out.host_kind = HostKind::kOnion;
  if (registrable_domain) out.registrable_domain = RegistrableDomain(out.host);
  return out;
}

Result<NormalizedUrl, UrlError> RenormalizeUrl(std::string_view input,
                                               bool registrable_domain) {
  if (std::optional<NormalizedUrl> plain =
          SplitPlainNormalUrl(input, registrable_domain)) {
    return *std::move(plain);
  }
  return NormalizeUrl(input, registrable_domain);
}

std::string RegistrableDomainOfHost(std::string_view host) {
  if (host.empty() || IpAddress::Parse(host)) return {};
  return RegistrableDomain(std::string(host));
}

Result<NormalizedUrl, UrlError> ResolveReference(std::string_view base,
                                                 std::string_view reference) {
  const std::string_view trimmed = Trim(reference);
  if (trimmed.empty()) {
    return UrlError{UrlRejection::kEmpty, "the Location header is empty"};
  }
  if (trimmed.size() > kMaxUrlLength) {
    return UrlError{UrlRejection::kTooLong,
                    "the Location header is longer than " +
                        std::to_string(kMaxUrlLength) + " bytes"};
  }
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(),
                                                             &curl_url_cleanup);
  if (!handle) throw std::bad_alloc();
  const std::string base_text(base);
  const std::string reference_text(trimmed);
  // With a URL already set, curl_url_set(CURLUPART_URL) resolves a relative
  // reference against it.
  if (curl_url_set(handle.get(), CURLUPART_URL, base_text.c_str(), 0) !=
          CURLUE_OK ||
      curl_url_set(handle.get(), CURLUPART_URL, reference_text.c_str(),
                   CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return UrlError{UrlRejection::kInvalidSyntax,
                    "the Location header " + Quote(reference_text) +
                        " is not a URL reference"};
  }
  char* resolved = nullptr;
  if (curl_url_get(handle.get(), CURLUPART_URL, &resolved, 0) != CURLUE_OK) {
    return UrlError{
        UrlRejection::kInvalidSyntax,
        "the Location header " + Quote(reference_text) + " cannot be resolved"};
  }
  const std::string absolute(resolved);
  curl_free(resolved);
  return NormalizeUrl(absolute);
}

}  // namespace hl::net
