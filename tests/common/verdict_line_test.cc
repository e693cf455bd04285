#include "common/verdict_line.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>

#include "common/proto/hostlocator.pb.h"

namespace hl {
namespace {

namespace pb = ::hostlocator::v1;

// The wire form of a full Observation written in text format: the line is
// read from the same bytes the store keeps, with every part it skips.
std::string Stored(const std::string& text) {
  pb::Observation obs;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &obs))
      << text;
  return obs.SerializeAsString();
}

// Parts the line does not show; each case carries them so that skipping
// them is exercised too.
const std::string kUnshown = R"(
  dns { cname_chain: "a.example" addresses { ip: "203.0.113.7" ttl: 300 } }
  checked_at_unix_ms: 1764460800000
  data_sources { role: "country" database_type: "DBIP-Country-Lite" }
  tool_version: "1.0.0")";

struct Case {
  const char* name;
  std::string observation;  // text format
  std::string line;
};

class VerdictLineTest : public ::testing::TestWithParam<Case> {};

TEST_P(VerdictLineTest, ShowsTheDecidingRequest) {
  EXPECT_EQ(VerdictLine(Stored(GetParam().observation + kUnshown)),
            GetParam().line);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, VerdictLineTest,
    ::testing::Values(
        Case{"LocatedWithProvider",
             R"(url: "http://a.example/" host: "a.example" status: "located"
                addresses { ip: "198.51.100.9" country: "FR" asn: 64501 }
                addresses { ip: "203.0.113.7" country: "DE" asn: 64500
                            as_org: "Example GmbH" }
                pinned_ip: "198.51.100.9"
                http { status: 200 connected_ip: "203.0.113.7"
                       headers { name: "Server" value: "cloudflare" }
                       tls { protocol: "TLSv1.3" subject: "CN=a.example" } }
                verdict { hosting_countries: "DE"
                          reasons: "HTTP HEAD answered from 203.0.113.7" }
                providers { name: "Cloudflare" category: "cdn" country: "US"
                            evidence { kind: "header"
                                       rule: "server: cloudflare" } }
                providers { name: "Other" category: "hosting" })",
             "located    DE     http://a.example/  203.0.113.7 AS64500 "
             "Example GmbH HTTP 200 [Cloudflare, cdn]"},
        Case{"PinnedAddressWhenNoneConnected",
             R"(url: "http://b.example/" status: "error"
                error { error_class: "http_timeout" message: "timed out" }
                addresses { ip: "203.0.113.7" asn: 64500 }
                pinned_ip: "203.0.113.7"
                http { error { error_class: "http_timeout" } }
                verdict { hosting_countries: "DE" hosting_countries: "NL" })",
             "error      DE,NL  http://b.example/  http_timeout 203.0.113.7 "
             "AS64500"},
        Case{"HttpErrorOfItsOwnClass",
             R"(url: "http://c.example/" status: "located"
                addresses { ip: "203.0.113.7" }
                pinned_ip: "203.0.113.7"
                http { error { error_class: "connection_refused" } }
                verdict { hosting_countries: "DE" })",
             "located    DE     http://c.example/  203.0.113.7 HTTP failed: "
             "connection_refused"},
        Case{"Unresolved",
             R"(url: "http://d.invalid/" host: "d.invalid"
                status: "unresolved" error { error_class: "nxdomain" })",
             "unresolved -      http://d.invalid/  nxdomain"},
        Case{"LastRedirectDecides",
             R"(url: "http://e.example/" host: "e.example" status: "located"
                addresses { ip: "198.51.100.9" asn: 64501 }
                pinned_ip: "198.51.100.9"
                http { status: 301 connected_ip: "198.51.100.9" }
                redirects { url: "http://f.example/" host: "f.example"
                            addresses { ip: "203.0.113.1" asn: 1 }
                            pinned_ip: "203.0.113.1"
                            http { status: 302 } }
                redirects { url: "http://g.example/" host: "g.example"
                            addresses { ip: "203.0.113.7" asn: 64500
                                        as_org: "Example GmbH" }
                            pinned_ip: "203.0.113.7"
                            http { status: 200 } }
                redirect_error { error_class: "redirect_limit" }
                verdict { hosting_countries: "DE" })",
             "located    DE     http://e.example/  203.0.113.7 AS64500 "
             "Example GmbH HTTP 200 after 2 redirect(s) from e.example "
             "(redirect_limit)"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(VerdictLine, SaysSoWhenTheBytesDoNotParse) {
  EXPECT_EQ(VerdictLine(std::string("\xff\xff\xff", 3)),
            "(a result that cannot be read: the store may be damaged)");
}

}  // namespace
}  // namespace hl
