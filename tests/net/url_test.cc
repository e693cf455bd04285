#include "common/net/url.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hl::net {
namespace {

using K = HostKind;
using R = UrlRejection;

// A v3 onion service name: 56 base32 characters.
const std::string kOnion =
    "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

struct Accepted {
  std::string input;
  std::string url;
  std::string host;
  uint16_t port;
  HostKind kind;
  std::string registrable_domain;
};

std::string KindName(HostKind k) {
  switch (k) {
    case HostKind::kDomain:
      return "domain";
    case HostKind::kIpv4:
      return "ipv4";
    case HostKind::kIpv6:
      return "ipv6";
    case HostKind::kOnion:
      return "onion";
  }
  return "?";
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out.size() > 120 ? out.substr(0, 120) + "..." : out;
}

void PrintTo(const Accepted& c, std::ostream* os) { *os << Printable(c.input); }

const std::vector<Accepted>& AcceptedCases() {
  static const auto* cases = new std::vector<Accepted>{
      // Scheme and host case; empty path.
      {"http://example.com", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      {"https://example.com/", "https://example.com/", "example.com", 443,
       K::kDomain, "example.com"},
      {"HTTP://EXAMPLE.COM/Path", "http://example.com/Path", "example.com", 80,
       K::kDomain, "example.com"},
      {"HtTpS://Www.Example.Com/A?B=C", "https://www.example.com/A?B=C",
       "www.example.com", 443, K::kDomain, "example.com"},
      // Ports.
      {"http://example.com:80/", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      {"https://example.com:443/x", "https://example.com/x", "example.com", 443,
       K::kDomain, "example.com"},
      {"http://example.com:8080/x", "http://example.com:8080/x", "example.com",
       8080, K::kDomain, "example.com"},
      {"https://example.com:80/", "https://example.com:80/", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com:443/", "http://example.com:443/", "example.com", 443,
       K::kDomain, "example.com"},
      {"http://example.com:0080/", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com:1/", "http://example.com:1/", "example.com", 1,
       K::kDomain, "example.com"},
      {"http://example.com:65535/", "http://example.com:65535/", "example.com",
       65535, K::kDomain, "example.com"},
      {"http://example.com:/x", "http://example.com/x", "example.com", 80,
       K::kDomain, "example.com"},
      // Fragment dropped.
      {"http://example.com/page#frag", "http://example.com/page", "example.com",
       80, K::kDomain, "example.com"},
      {"http://example.com/#", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com#a b", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      // Path and query byte-exact.
      {"http://example.com/a%2Fb%41?q=%41%2f&r=%2F",
       "http://example.com/a%2Fb%41?q=%41%2f&r=%2F", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com/%7euser/%e4%C3", "http://example.com/%7euser/%e4%C3",
       "example.com", 80, K::kDomain, "example.com"},
      {"http://example.com/a%zz%?%", "http://example.com/a%zz%?%",
       "example.com", 80, K::kDomain, "example.com"},
      {"http://example.com/A/B.JPG?X=Y", "http://example.com/A/B.JPG?X=Y",
       "example.com", 80, K::kDomain, "example.com"},
      {"http://example.com/\"<>`{}|^\\", "http://example.com/\"<>`{}|^\\",
       "example.com", 80, K::kDomain, "example.com"},
      // Spaces and non-ASCII bytes encoded as a browser sends them.
      {"http://example.com/a b/c?d e", "http://example.com/a%20b/c?d%20e",
       "example.com", 80, K::kDomain, "example.com"},
      {"http://example.com/fotos/\xC3\xA4.jpg?\xC3\xB6=1",
       "http://example.com/fotos/%C3%A4.jpg?%C3%B6=1", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com/\xFF", "http://example.com/%FF", "example.com", 80,
       K::kDomain, "example.com"},
      // Dot segments.
      {"http://example.com/a/./b/../c", "http://example.com/a/c", "example.com",
       80, K::kDomain, "example.com"},
      {"http://example.com/../../x", "http://example.com/x", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com/a/%2e%2e/b", "http://example.com/a/%2e%2e/b",
       "example.com", 80, K::kDomain, "example.com"},
      {"http://example.com/a?b=/../c", "http://example.com/a?b=/../c",
       "example.com", 80, K::kDomain, "example.com"},
      // Query without path; empty query kept.
      {"http://example.com?q=1", "http://example.com/?q=1", "example.com", 80,
       K::kDomain, "example.com"},
      {"http://example.com/x?", "http://example.com/x?", "example.com", 80,
       K::kDomain, "example.com"},
      // Userinfo dropped.
      {"http://user:secret@example.com/x", "http://example.com/x",
       "example.com", 80, K::kDomain, "example.com"},
      {"http://user@example.com:8080/", "http://example.com:8080/",
       "example.com", 8080, K::kDomain, "example.com"},
      {"http://@example.com/", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      // Surrounding whitespace trimmed.
      {"  http://example.com/x \r\n", "http://example.com/x", "example.com", 80,
       K::kDomain, "example.com"},
      {"\thttp://example.com/\f\v", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      // Trailing dot.
      {"http://example.com./", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      // IDN.
      {"http://b\xC3\xBC"
       "cher.de/",
       "http://xn--bcher-kva.de/", "xn--bcher-kva.de", 80, K::kDomain,
       "xn--bcher-kva.de"},
      {"http://B\xC3\x9C"
       "CHER.DE/",
       "http://xn--bcher-kva.de/", "xn--bcher-kva.de", 80, K::kDomain,
       "xn--bcher-kva.de"},
      {"http://xn--bcher-kva.de/", "http://xn--bcher-kva.de/",
       "xn--bcher-kva.de", 80, K::kDomain, "xn--bcher-kva.de"},
      {"http://XN--BCHER-KVA.DE/", "http://xn--bcher-kva.de/",
       "xn--bcher-kva.de", 80, K::kDomain, "xn--bcher-kva.de"},
      // An A-label after the first label, in mixed case, is checked too.
      {"http://WWW.Xn--Bcher-Kva.De/", "http://www.xn--bcher-kva.de/",
       "www.xn--bcher-kva.de", 80, K::kDomain, "xn--bcher-kva.de"},
      {"http://www.\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E.jp/",
       "http://www.xn--wgv71a119e.jp/", "www.xn--wgv71a119e.jp", 80, K::kDomain,
       "xn--wgv71a119e.jp"},
      {"http://\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80.\xD1\x80\xD1"
       "\x84/",
       "http://xn--e1afmkfd.xn--p1ai/", "xn--e1afmkfd.xn--p1ai", 80, K::kDomain,
       "xn--e1afmkfd.xn--p1ai"},
      // Non-transitional: sharp s stays (as browsers do), not "fass".
      {"http://fa\xC3\x9F.de/", "http://xn--fa-hia.de/", "xn--fa-hia.de", 80,
       K::kDomain, "xn--fa-hia.de"},
      // Disallowed by IDNA2008; the transitional fallback keeps it.
      {"http://\xE2\x98\x83.net/", "http://xn--n3h.net/", "xn--n3h.net", 80,
       K::kDomain, "xn--n3h.net"},
      // Full-width letters and the ideographic full stop.
      {"http://\xEF\xBC\xA5\xEF\xBC\xB8.com/", "http://ex.com/", "ex.com", 80,
       K::kDomain, "ex.com"},
      {"http://example\xE3\x80\x82"
       "com/",
       "http://example.com/", "example.com", 80, K::kDomain, "example.com"},
      // Percent-encoded host bytes, decoded as browsers do.
      {"http://b%C3%BCcher.de/", "http://xn--bcher-kva.de/", "xn--bcher-kva.de",
       80, K::kDomain, "xn--bcher-kva.de"},
      {"http://ex%41mple.com/", "http://example.com/", "example.com", 80,
       K::kDomain, "example.com"},
      // Hyphens and underscores that exist in the wild.
      {"http://r3---sn-4g5e6nzl.googlevideo.com/videoplayback",
       "http://r3---sn-4g5e6nzl.googlevideo.com/videoplayback",
       "r3---sn-4g5e6nzl.googlevideo.com", 80, K::kDomain, "googlevideo.com"},
      {"http://-abc-.tumblr.com/", "http://-abc-.tumblr.com/",
       "-abc-.tumblr.com", 80, K::kDomain, "tumblr.com"},
      {"http://_dmarc.example.com/", "http://_dmarc.example.com/",
       "_dmarc.example.com", 80, K::kDomain, "example.com"},
      // Registrable domains: ICANN section only.
      {"http://www.example.co.uk/", "http://www.example.co.uk/",
       "www.example.co.uk", 80, K::kDomain, "example.co.uk"},
      {"http://co.uk/", "http://co.uk/", "co.uk", 80, K::kDomain, ""},
      {"http://a.b.c.example.com.au/", "http://a.b.c.example.com.au/",
       "a.b.c.example.com.au", 80, K::kDomain, "example.com.au"},
      {"http://user.github.io/repo", "http://user.github.io/repo",
       "user.github.io", 80, K::kDomain, "github.io"},
      {"http://github.io/", "http://github.io/", "github.io", 80, K::kDomain,
       "github.io"},
      {"http://foo.blogspot.com/", "http://foo.blogspot.com/",
       "foo.blogspot.com", 80, K::kDomain, "blogspot.com"},
      {"http://x.city.kawasaki.jp/", "http://x.city.kawasaki.jp/",
       "x.city.kawasaki.jp", 80, K::kDomain, "city.kawasaki.jp"},
      {"http://localhost/", "http://localhost/", "localhost", 80, K::kDomain,
       ""},
      {"http://example.unknowntld/", "http://example.unknowntld/",
       "example.unknowntld", 80, K::kDomain, "example.unknowntld"},
      // Onion services.
      {"http://" + kOnion + "/x", "http://" + kOnion + "/x", kOnion, 80,
       K::kOnion, kOnion},
      {"https://WWW." + kOnion + ":8443/", "https://www." + kOnion + ":8443/",
       "www." + kOnion, 8443, K::kOnion, kOnion},
      // IPv4 literals in every form a browser accepts.
      {"http://127.0.0.1/", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4, ""},
      {"http://2130706433/", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4,
       ""},
      {"http://0x7f.1/", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4, ""},
      {"http://0177.0.0.1/", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4,
       ""},
      {"http://127.1/", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4, ""},
      {"http://0x7F000001/", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4,
       ""},
      {"http://10.0.258/", "http://10.0.1.2/", "10.0.1.2", 80, K::kIpv4, ""},
      {"http://0xC0.0250.1/", "http://192.168.0.1/", "192.168.0.1", 80,
       K::kIpv4, ""},
      // A leading zero means octal, however many zeros: 0127 is 87.
      {"http://00000000000000000000127.0.0.1/", "http://87.0.0.1/", "87.0.0.1",
       80, K::kIpv4, ""},
      {"http://127.0.0.1./", "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4,
       ""},
      {"http://0x/", "http://0.0.0.0/", "0.0.0.0", 80, K::kIpv4, ""},
      {"http://\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x97.0.0.1/",
       "http://127.0.0.1/", "127.0.0.1", 80, K::kIpv4, ""},
      {"http://%31%32%37.0.0.1/", "http://127.0.0.1/", "127.0.0.1", 80,
       K::kIpv4, ""},
      {"http://8.8.8.8:8080/", "http://8.8.8.8:8080/", "8.8.8.8", 8080,
       K::kIpv4, ""},
      // IPv6 literals.
      {"http://[::1]/", "http://[::1]/", "::1", 80, K::kIpv6, ""},
      {"http://[2001:DB8:0:0:0:0:0:1]:8443/x", "http://[2001:db8::1]:8443/x",
       "2001:db8::1", 8443, K::kIpv6, ""},
      {"https://[2606:4700:0000::1111]/", "https://[2606:4700::1111]/",
       "2606:4700::1111", 443, K::kIpv6, ""},
      {"https://[2606:4700::1111]:443/", "https://[2606:4700::1111]/",
       "2606:4700::1111", 443, K::kIpv6, ""},
      {"http://[::ffff:7f00:1]/", "http://[::ffff:127.0.0.1]/",
       "::ffff:127.0.0.1", 80, K::kIpv6, ""},
      {"http://[::FFFF:127.0.0.1]:80/", "http://[::ffff:127.0.0.1]/",
       "::ffff:127.0.0.1", 80, K::kIpv6, ""},
      {"http://[2001:db8:0:1:0:0:0:1]/", "http://[2001:db8:0:1::1]/",
       "2001:db8:0:1::1", 80, K::kIpv6, ""},
      {"http://[1:0:0:2:0:0:3:4]/", "http://[1::2:0:0:3:4]/", "1::2:0:0:3:4",
       80, K::kIpv6, ""},
      // Exactly at the length limit.
      {"http://example.com/" + std::string(kMaxUrlLength - 19, 'a'),
       "http://example.com/" + std::string(kMaxUrlLength - 19, 'a'),
       "example.com", 80, K::kDomain, "example.com"},
  };
  return *cases;
}

class AcceptedTest : public testing::TestWithParam<Accepted> {};

TEST_P(AcceptedTest, Normalises) {
  const Accepted& c = GetParam();
  const auto r = NormalizeUrl(c.input);
  ASSERT_TRUE(r.ok()) << UrlRejectionReason(r.error().reason) << ": "
                      << r.error().detail;
  EXPECT_EQ(r->url, c.url);
  EXPECT_EQ(r->host, c.host);
  EXPECT_EQ(r->port, c.port);
  EXPECT_EQ(KindName(r->host_kind), KindName(c.kind));
  EXPECT_EQ(r->registrable_domain, c.registrable_domain);
  EXPECT_EQ(r->scheme, c.url.substr(0, c.url.find(':')));
  // The URL is the parts put together.
  const std::string host = c.kind == K::kIpv6 ? "[" + r->host + "]" : r->host;
  const bool default_port = r->port == (r->scheme == "https" ? 443 : 80);
  EXPECT_EQ(r->url, r->scheme + "://" + host +
                        (default_port ? "" : ":" + std::to_string(r->port)) +
                        r->path_query);
  // Normalising the result changes nothing.
  const auto again = NormalizeUrl(r->url);
  ASSERT_TRUE(again.ok()) << again.error().detail;
  EXPECT_EQ(again->url, r->url);
  EXPECT_EQ(again->host, r->host);
  EXPECT_EQ(again->path_query, r->path_query);
  EXPECT_EQ(again->registrable_domain, r->registrable_domain);
  // The host alone gives the same registrable domain.
  EXPECT_EQ(RegistrableDomainOfHost(r->host), r->registrable_domain);
  // Without the registrable domain (the ingest): the same URL, no domain.
  const auto bare = NormalizeUrl(c.input, /*registrable_domain=*/false);
  ASSERT_TRUE(bare.ok()) << bare.error().detail;
  EXPECT_EQ(bare->url, r->url);
  EXPECT_EQ(bare->host, r->host);
  EXPECT_EQ(bare->registrable_domain, "");
}

std::string CaseName(size_t index, std::string_view input) {
  std::string name = "C" + std::to_string(index) + "_";
  for (char c : input.substr(0, 48)) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9');
    name += alnum ? c : '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, AcceptedTest,
                         testing::ValuesIn(AcceptedCases()),
                         [](const testing::TestParamInfo<Accepted>& info) {
                           return CaseName(info.index, info.param.input);
                         });

struct Rejected {
  std::string input;
  UrlRejection reason;
  std::string detail_part;  // a phrase the analyst must see
};

const std::vector<Rejected>& RejectedCases() {
  static const auto* cases = new std::vector<Rejected>{
      {"", R::kEmpty, "empty"},
      {"   \t \r\n", R::kEmpty, "only whitespace"},
      {"http://example.com/" + std::string(kMaxUrlLength, 'a'), R::kTooLong,
       "the limit is 8192"},
      // Short enough as given, too long once non-ASCII is encoded.
      {"http://example.com/" +
           [] {
             std::string s;
             for (int i = 0; i < 2000; ++i) s += "\xC3\xA4";
             return s;
           }(),
       R::kTooLong, "percent-encoded"},
      // Schemes.
      {"ftp://example.com/file", R::kUnsupportedScheme, "\"ftp\""},
      {"javascript:alert(1)", R::kUnsupportedScheme, "\"javascript\""},
      {"data:text/html,hello", R::kUnsupportedScheme, "\"data\""},
      {"file:///etc/passwd", R::kUnsupportedScheme, "\"file\""},
      {"mailto:abuse@example.com", R::kUnsupportedScheme, "\"mailto\""},
      {"ws://example.com/", R::kUnsupportedScheme, "only http and https"},
      {"example.com/x", R::kMissingScheme, "http://"},
      {"www.example.com", R::kMissingScheme, "does not start with a scheme"},
      {"example.com:8080/x", R::kMissingScheme, "does not start with a scheme"},
      {"//example.com/x", R::kMissingScheme, "does not start with a scheme"},
      {"http//example.com/", R::kMissingScheme, "does not start with a scheme"},
      {"\xC3\xBC:x", R::kMissingScheme, "does not start with a scheme"},
      // Syntax.
      {"http:example.com", R::kInvalidSyntax, "must be followed by \"//\""},
      {"http:/example.com", R::kInvalidSyntax, "must be followed by \"//\""},
      {"http:\\\\example.com\\", R::kInvalidSyntax,
       "must be followed by \"//\""},
      {"http://example.com/a\tb", R::kInvalidSyntax, "a tab at byte 21"},
      {"http://exa\nmple.com/", R::kInvalidSyntax, "a line feed"},
      {std::string("http://example.com/\0", 20), R::kInvalidSyntax,
       "a NUL byte"},
      {"http://example.com/\x7f", R::kInvalidSyntax, "\\x7F"},
      {"http://us er@example.com/", R::kInvalidSyntax, "user name or password"},
      {"http://user:se cret@example.com/", R::kInvalidSyntax,
       "credentials are not needed"},
      // Hosts.
      {"http://exa mple.com/", R::kInvalidHost, "contains a space"},
      {"http://-/", R::kInvalidHost, "not a valid top-level domain"},
      {"http://example.-/", R::kInvalidHost, "not a valid top-level domain"},
      {"http://example.com-/", R::kInvalidHost, "not a valid top-level domain"},
      {"http://a..b/", R::kInvalidHost, "empty label"},
      {"http://.example.com/", R::kInvalidHost, "empty label"},
      {"http://example.com../", R::kInvalidHost, "empty label"},
      {"http:///x", R::kInvalidHost, "the host name is empty"},
      {"http://", R::kInvalidHost, "the host name is empty"},
      {"http://:8080/", R::kInvalidHost, "the host name is empty"},
      {"http://?q=1", R::kInvalidHost, "the host name is empty"},
      {"http://#top", R::kInvalidHost, "the host name is empty"},
      {"http://user@/", R::kInvalidHost, "the host name is empty"},
      {"http://exa!mple.com/", R::kInvalidHost, "\"!\""},
      // Browsers read the backslash as '/' and go to example.com; libcurl
      // would take it as part of a user name and go to evil.com.
      {"http://example.com\\@evil.com/", R::kInvalidHost, "backslash"},
      {"http://example.com\\x", R::kInvalidHost, "backslash"},
      {"http://a@b@example.com/", R::kInvalidHost, "\"@\""},
      {"http://%2531.com/", R::kInvalidHost, "contains '%'"},
      {"http://a%00b.com/", R::kInvalidHost, "not a valid host name"},
      {"http://a%20b.com/", R::kInvalidHost, "not a valid host name"},
      {"http://" + std::string(64, 'a') + ".com/", R::kInvalidHost,
       "longer than 63"},
      {"http://" + std::string(63, 'a') + "." + std::string(63, 'b') + "." +
           std::string(63, 'c') + "." + std::string(63, 'd') + ".com/",
       R::kInvalidHost, "at most 253"},
      {"http://xn--zz.de/", R::kInvalidHost, "internationalised"},
      {"http://xn--a.de/", R::kInvalidHost, "internationalised"},
      {"http://www.XN--ZZ.de/", R::kInvalidHost, "internationalised"},
      {"http://b\xFC"
       "cher.de/",
       R::kInvalidHost, "\"b\\xFCcher\""},
      {"http://\xE2\x80\x8Ex.com/", R::kInvalidHost, "internationalised"},
      {"http://[fe80::1%25eth0]/", R::kInvalidHost, "zone identifier"},
      {"http://[::1/", R::kInvalidHost, "not a valid IPv6 address"},
      {"http://[1.2.3.4]/", R::kInvalidHost, "not a valid IPv6 address"},
      {"http://[::1::2]/", R::kInvalidHost, "not a valid IPv6 address"},
      {"http://256.0.0.1/", R::kInvalidHost, "not a valid one"},
      {"http://1.2.3.4.5/", R::kInvalidHost, "not a valid one"},
      {"http://1.2.3.09/", R::kInvalidHost, "not a valid one"},
      {"http://4294967296/", R::kInvalidHost, "not a valid one"},
      {"http://0x100000000/", R::kInvalidHost, "not a valid one"},
      {"http://1.256.65536/", R::kInvalidHost, "not a valid one"},
      {"http://example.1/", R::kInvalidHost, "not a valid one"},
      {"http://1..2/", R::kInvalidHost, "not a valid one"},
      // Ports.
      {"http://example.com:0/", R::kInvalidPort, "port 0"},
      {"http://example.com:65536/", R::kInvalidPort, "out of range"},
      {"http://example.com:99999999999999999999/", R::kInvalidPort,
       "out of range"},
      {"http://example.com:8o/", R::kInvalidPort, "\"8o\" is not a number"},
      {"http://example.com:-1/", R::kInvalidPort, "is not a number"},
      {"http://example.com:+80/", R::kInvalidPort, "is not a number"},
      {"http://example.com:80:80/", R::kInvalidPort, "is not a number"},
      {"http://[::1]x/", R::kInvalidPort, "after the IPv6 address"},
  };
  return *cases;
}

void PrintTo(const Rejected& c, std::ostream* os) { *os << Printable(c.input); }

class RejectedTest : public testing::TestWithParam<Rejected> {};

TEST_P(RejectedTest, IsRejectedWithReason) {
  const Rejected& c = GetParam();
  const auto r = NormalizeUrl(c.input);
  ASSERT_FALSE(r.ok()) << "accepted as " << r->url;
  EXPECT_EQ(UrlRejectionReason(r.error().reason), UrlRejectionReason(c.reason));
  EXPECT_NE(r.error().detail.find(c.detail_part), std::string::npos)
      << r.error().detail;
  // Details are bounded and printable (they go into JSON and protobuf).
  EXPECT_LT(r.error().detail.size(), 400u);
  for (unsigned char ch : r.error().detail) EXPECT_GE(ch, 0x20) << ch;
}

INSTANTIATE_TEST_SUITE_P(Table, RejectedTest,
                         testing::ValuesIn(RejectedCases()),
                         [](const testing::TestParamInfo<Rejected>& info) {
                           return CaseName(info.index, info.param.input);
                         });

TEST(UrlRejectionReasonTest, StableStrings) {
  EXPECT_EQ(UrlRejectionReason(R::kEmpty), "empty");
  EXPECT_EQ(UrlRejectionReason(R::kTooLong), "too long");
  EXPECT_EQ(UrlRejectionReason(R::kUnsupportedScheme), "unsupported scheme");
  EXPECT_EQ(UrlRejectionReason(R::kMissingScheme), "missing scheme");
  EXPECT_EQ(UrlRejectionReason(R::kInvalidSyntax), "invalid syntax");
  EXPECT_EQ(UrlRejectionReason(R::kInvalidHost), "invalid host");
  EXPECT_EQ(UrlRejectionReason(R::kInvalidPort), "invalid port");
}

TEST(NormalizeUrlTest, CredentialsAreNeverEchoed) {
  const auto r = NormalizeUrl("http://user:top secret@example.com/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().detail.find("secret"), std::string::npos)
      << r.error().detail;
}

TEST(NormalizeUrlTest, ConcurrentCallsAgree) {
  std::vector<std::string> expected;
  for (const Accepted& c : AcceptedCases()) expected.push_back(c.url);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < AcceptedCases().size(); ++i) {
          const auto r = NormalizeUrl(AcceptedCases()[i].input);
          if (!r.ok() || r->url != expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

void ExpectSameUrl(const NormalizedUrl& got, const NormalizedUrl& want) {
  EXPECT_EQ(got.url, want.url);
  EXPECT_EQ(got.scheme, want.scheme);
  EXPECT_EQ(got.host, want.host);
  EXPECT_EQ(got.port, want.port);
  EXPECT_EQ(got.path_query, want.path_query);
  EXPECT_EQ(KindName(got.host_kind), KindName(want.host_kind));
  EXPECT_EQ(got.registrable_domain, want.registrable_domain);
}

// RenormalizeUrl gives NormalizeUrl's answer, value or error, for every
// input of both tables and for every normalised URL, with the registrable
// domain and without it (the ingest's).
TEST(RenormalizeUrlTest, AgreesWithNormalizeUrl) {
  for (const bool registrable_domain : {true, false}) {
    SCOPED_TRACE(registrable_domain ? "with registrable domain"
                                    : "without registrable domain");
    for (const Accepted& c : AcceptedCases()) {
      SCOPED_TRACE(Printable(c.input));
      const auto want = NormalizeUrl(c.input, registrable_domain);
      ASSERT_TRUE(want.ok());
      for (const std::string& input : {c.input, want->url}) {
        const auto got = RenormalizeUrl(input, registrable_domain);
        ASSERT_TRUE(got.ok()) << got.error().detail;
        ExpectSameUrl(*got, *want);
      }
    }
    for (const Rejected& c : RejectedCases()) {
      SCOPED_TRACE(Printable(c.input));
      const auto want = NormalizeUrl(c.input, registrable_domain);
      const auto got = RenormalizeUrl(c.input, registrable_domain);
      ASSERT_FALSE(got.ok()) << "accepted as " << got->url;
      EXPECT_EQ(UrlRejectionReason(got.error().reason),
                UrlRejectionReason(want.error().reason));
      EXPECT_EQ(got.error().detail, want.error().detail);
    }
  }
}

// A job's URL in the usual shapes is split without parsing it again, into
// NormalizeUrl's parts.
TEST(SplitPlainNormalUrlTest, SplitsThePlainForm) {
  for (const std::string& url : std::vector<std::string>{
           "http://example.com/",
           "https://www.example.com/",
           "http://h1.scale.test:38181/p/1?q=2",
           "https://a-b_c.example.co.uk:8443/x/y/z.html",
           "http://9.a--b.example/",
           "http://example.com/a?",
           "http://example.com/%7Euser/%2e%2E/?a=b&c=%20;d@e:f",
           "http://example.com//double//slashes/",
           "http://example.com/.well-known/x/..a/a..",
           "http://example.com/?q=/./../",
           "http://a.b.c.d.example.com/" + std::string(1000, 'x'),
           "http://" + kOnion + "/",
           "http://localhost:1/",
           "https://example.com:65535/",
           "https://example.com:80/",
           "http://example.com:443/",
           "http://" + std::string(63, 'a') + ".com/",
           // The longest domain: 253 bytes of 63-byte labels.
           "http://" + std::string(63, 'a') + "." + std::string(63, 'b') + "." +
               std::string(63, 'c') + "." + std::string(57, 'd') + ".com/",
       }) {
    SCOPED_TRACE(url);
    const auto want = NormalizeUrl(url);
    ASSERT_TRUE(want.ok()) << want.error().detail;
    ASSERT_EQ(want->url, url);
    const std::optional<NormalizedUrl> got = SplitPlainNormalUrl(url);
    ASSERT_TRUE(got.has_value());
    ExpectSameUrl(*got, *want);
    // Without the registrable domain, as NormalizeUrl leaves it.
    const auto want_bare = NormalizeUrl(url, /*registrable_domain=*/false);
    ASSERT_TRUE(want_bare.ok());
    const std::optional<NormalizedUrl> bare =
        SplitPlainNormalUrl(url, /*registrable_domain=*/false);
    ASSERT_TRUE(bare.has_value());
    ExpectSameUrl(*bare, *want_bare);
    EXPECT_EQ(bare->registrable_domain, "");
  }
}

// Every other form, normal or not, is left to NormalizeUrl.
TEST(SplitPlainNormalUrlTest, LeavesEveryOtherFormToNormalizeUrl) {
  for (const std::string& url : std::vector<std::string>{
           "",
           " http://example.com/",
           "http://example.com/ ",
           "HTTP://example.com/",
           "ftp://example.com/",
           "http:/example.com/",
           "http://example.com",
           "http://example.com?q",
           "http://Example.com/",
           "http://example.com./",
           "http://.example.com/",
           "http://example..com/",
           "http://xn--bcher-kva.test/",
           "http://a.xn--p1ai/",
           "http://1.2.3.4/",
           "http://example.0x7f/",
           "http://example.9com/",
           "http://example.com-/",
           "http://-a.example.com/",
           "http://a-.example.com/",
           "http://_a.example.com/",
           "http://[::1]/",
           "http://u@example.com/",
           "http://example.com:/",
           "http://example.com:0/",
           "http://example.com:080/",
           "http://example.com:65536/",
           "http://example.com:80/",
           "https://example.com:443/",
           "http://example.com:8x/",
           "http://example.com/./",
           "http://example.com/a/..",
           "http://example.com/a/../b",
           "http://example.com/..?q",
           "http://example.com/#f",
           "http://example.com/a b",
           "http://example.com/a\\b",
           "http://example.com/a\"b",
           "http://example.com/%zz",
           "http://example.com/%4",
           "http://example.com/\xc3\xa9",
           "http://" + std::string(64, 'a') + ".com/",
           "http://" + std::string(250, 'a') + ".com/",
           // One byte past the longest domain, every label valid.
           "http://" + std::string(63, 'a') + "." + std::string(63, 'b') + "." +
               std::string(63, 'c') + "." + std::string(58, 'd') + ".com/",
           "http://example.com/" + std::string(kMaxUrlLength, 'a'),
       }) {
    SCOPED_TRACE(Printable(url));
    EXPECT_FALSE(SplitPlainNormalUrl(url).has_value());
  }
}

}  // namespace
}  // namespace hl::net

namespace hl::net {
namespace {

struct ReferenceCase {
  std::string name;
  std::string base;
  std::string reference;
  std::string want;  // "" when rejected
};

class ResolveReferenceTest : public ::testing::TestWithParam<ReferenceCase> {};

TEST_P(ResolveReferenceTest, ResolvesLikeABrowser) {
  const ReferenceCase& c = GetParam();
  auto url = ResolveReference(c.base, c.reference);
  if (c.want.empty()) {
    EXPECT_FALSE(url.ok()) << url->url;
    return;
  }
  ASSERT_TRUE(url.ok()) << url.error().detail;
  EXPECT_EQ(url->url, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ResolveReferenceTest,
    ::testing::Values(
        ReferenceCase{"absolute", "http://a.test/x", "https://B.test/y",
                      "https://b.test/y"},
        ReferenceCase{"path_absolute", "http://a.test/x/y?q", "/z",
                      "http://a.test/z"},
        ReferenceCase{"relative", "http://a.test/x/y", "z?k=1",
                      "http://a.test/x/z?k=1"},
        ReferenceCase{"dot_segments", "http://a.test/x/y/", "../w",
                      "http://a.test/x/w"},
        ReferenceCase{"scheme_relative", "https://a.test/x", "//c.test:8443/",
                      "https://c.test:8443/"},
        ReferenceCase{"query_only", "http://a.test/x?old", "?new",
                      "http://a.test/x?new"},
        ReferenceCase{"fragment_dropped", "http://a.test/x", "/y#frag",
                      "http://a.test/y"},
        ReferenceCase{"idn_host", "http://a.test/", "http://bücher.test/",
                      "http://xn--bcher-kva.test/"},
        ReferenceCase{"surrounding_spaces", "http://a.test/", "  /y  ",
                      "http://a.test/y"},
        ReferenceCase{"other_scheme", "http://a.test/", "ftp://a.test/f", ""},
        ReferenceCase{"javascript", "http://a.test/", "javascript:alert(1)",
                      ""},
        ReferenceCase{"empty", "http://a.test/", "   ", ""}),
    [](const auto& info) { return info.param.name; });

// The answers are remembered per thread and forgotten at a bound: past it,
// and asked again, they stay the same.
TEST(RegistrableDomainTest, SameAnswersPastTheRememberedBound) {
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5000; ++i) {
      const std::string label = "h" + std::to_string(i);
      ASSERT_EQ(RegistrableDomainOfHost(label + ".shop.example.co.uk"),
                "example.co.uk");
      ASSERT_EQ(RegistrableDomainOfHost(label + ".co.uk"), label + ".co.uk");
      ASSERT_EQ(RegistrableDomainOfHost("co.uk"), "");
    }
  }
}

}  // namespace
}  // namespace hl::net
