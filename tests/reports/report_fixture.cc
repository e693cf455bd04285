// Test helper for report_html_test.py: a data folder with one batch whose
// results are fixtures (no probing), covering every kind of package line
// and hostile values from reported sites:
//   report_fixture DATA_DIR
// prints "fixture batch N: L lines".
#include <google/protobuf/text_format.h>

#include <cstdio>
#include <map>
#include <string>

#include "coordinator/ingest.h"
#include "coordinator/input.h"
#include "coordinator/store.h"

namespace {

namespace pb = ::hostlocator::v1;

constexpr int64_t kNov28 = 1795824000000;  // 2026-11-28T00:00:00Z
constexpr int64_t kNov20 = 1795132800000;  // 2026-11-20T00:00:00Z

constexpr char kInput[] =
    "http://shop.fixture-de.test/\n"
    "http://cdn.fixture.test/start\n"
    "http://hostile.fixture.test/%3Cscript%3E\n"
    "\"><script>alert('line')</script>\n"
    "http://gone.fixture.test/\n"
    "http://multi.fixture.test/\n"
    "http://shop.fixture-de.test/\n";

constexpr char kUnverified[] = R"pb(
  directory_unverified: true
  referral_warning: "the referral directory config/referral.toml is not verified by an operator")pb";

// Observations by normalised URL, in text format; "# UNVERIFIED" marks where
// the directory fields go.
const std::map<std::string, std::string>& Fixtures() {
  static const std::map<std::string, std::string> fixtures = {
      {"http://shop.fixture-de.test/", R"pb(
         url: "http://shop.fixture-de.test/"
         host: "shop.fixture-de.test"
         status: "located"
         pinned_ip: "198.51.100.10"
         dns {
           cname_chain: "shop.fixture-de.test"
           addresses { ip: "198.51.100.10" ttl: 300 }
           ptr { ip: "198.51.100.10" names: "web1.hoster.fixture-de.test" }
         }
         addresses {
           ip: "198.51.100.10"
           country: "DE"
           city: "Frankfurt am Main"
           asn: 64510
           as_org: "Fixture Hosting GmbH"
           network: "198.51.100.0/24"
         }
         http {
           method: "HEAD"
           status: 200
           http_version: "1.1"
           connected_ip: "198.51.100.10"
           connected_port: 443
           header_block_sha256: "\x9a\x11\x22\x33"
           headers { name: "Server" value: "nginx" }
           tls {
             protocol: "TLSv1.3"
             subject: "CN=shop.fixture-de.test"
             issuer: "CN=Fixture CA"
             san_dns: "shop.fixture-de.test"
             sha256: "\xab\xcd\xef\x01\x23\x45\x67\x89"
             not_before_unix: 1790000000
             not_after_unix: 1800000000
             verified: true
             name_matched: true
           }
         }
         providers {
           name: "Fixture Hosting"
           category: "hosting"
           country: "DE"
           abuse: "abuse@hoster.fixture-de.test"
           evidence { kind: "asn" rule: "AS64510" value: "AS64510" }
         }
         verdict {
           hosting_countries: "DE"
           reasons: "HTTP answered from 198.51.100.10 (DE, AS64510)"
           jurisdiction {
             attribution: "hosted"
             primary_countries: "DE"
             confidence: "low"
             registrable_domain: "fixture-de.test"
             disagreements: "geolocation only: RDAP and registry not looked up"
             referrals {
               country: "DE"
               kind: "hotline"
               route: "primary"
               name: "eco Beschwerdestelle"
               website: "https://www.eco.de/"
               source: "INHOPE member list"
               verified_on: ""
             }
             referrals {
               country: "DE"
               kind: "hotline"
               route: "primary"
               name: "FSM Beschwerdestelle"
               website: "https://www.fsm.de/"
               source: "INHOPE member list"
               verified_on: ""
             }
             # UNVERIFIED

           }
         }
         registration {
           domain: "fixture-de.test"
           registrar: "Fixture Registrar"
           abuse_email: "abuse@registrar.fixture.test"
         }
         tool_version: "fixture"
         worker: "fixture-1"
         # Built 49 days before the check: stale (limit 30 days).
         data_sources {
           role: "country"
           attribution: "Synthetic fixture data"
           build_epoch: 1791590400
           sha256: "5eed0000000000000000000000000000000000000000000000000000000000f1"
         })pb"},
      {"http://cdn.fixture.test/start", R"pb(
         url: "http://cdn.fixture.test/start"
         host: "cdn.fixture.test"
         status: "located"
         pinned_ip: "192.0.2.20"
         addresses {
           ip: "192.0.2.20"
           country: "NL"
           asn: 64520
           as_org: "Redirect BV"
           network: "192.0.2.0/24"
         }
         http {
           status: 301
           connected_ip: "192.0.2.20"
           headers { name: "Location" value: "https://edge.cdn.fixture.test/x" }
         }
         redirects {
           url: "https://edge.cdn.fixture.test/x"
           host: "edge.cdn.fixture.test"
           pinned_ip: "203.0.113.30"
           dns {
             cname_chain: "edge.cdn.fixture.test"
             cname_chain: "e1.cdnprovider.test"
           }
           addresses {
             ip: "203.0.113.30"
             country: "FR"
             asn: 64530
             as_org: "CDN Provider Inc"
             network: "203.0.113.0/24"
           }
           http {
             status: 200
             connected_ip: "203.0.113.30"
             headers { name: "CF-Ray" value: "8a1b-CDG" }
           }
         }
         providers {
           name: "CDN Provider"
           category: "cdn"
           country: "US"
           abuse: "https://abuse.cdnprovider.test/"
           evidence { kind: "header" rule: "cf-ray" value: "CF-Ray: 8a1b-CDG" }
         }
         verdict {
           hosting_countries: "FR"
           reasons: "redirected by 192.0.2.20 (NL)"
           reasons: "CDN Provider (cdn, legal country US) is in front: origin hidden"
           jurisdiction {
             attribution: "origin_hidden"
             primary_countries: "US"
             confidence: "high"
             secondary {
               country: "NL"
               role: "redirector"
               detail: "http://cdn.fixture.test/start"
             }
             secondary { country: "FR" role: "cdn_edge" detail: "203.0.113.30" }
             referrals {
               country: "US"
               kind: "hotline"
               route: "primary"
               name: "NCMEC CyberTipline"
               website: "https://report.cybertip.org/"
               source: "INHOPE member list"
             }
             referrals {
               country: "US"
               kind: "provider"
               route: "provider"
               name: "CDN Provider"
               website: "https://abuse.cdnprovider.test/"
               source: "providers.toml"
             }
             referrals {
               country: "NL"
               kind: "hotline"
               route: "redirector"
               name: "Offlimits"
               website: "https://www.offlimits.nl/"
               source: "INHOPE member list"
             }
             # UNVERIFIED

           }
         }
         tool_version: "fixture"
         worker: "fixture-1")pb"},
      {"http://hostile.fixture.test/%3Cscript%3E", R"pb(
         url: "http://hostile.fixture.test/<script>alert(1)</script>\"'\xe2\x80\xaegpj.exe"
         host: "hostile.fixture.test"
         status: "located"
         pinned_ip: "198.51.100.66"
         dns {
           ptr {
             ip: "198.51.100.66"
             names: "<img src=x onerror=alert(2)>.test"
           }
         }
         addresses {
           ip: "198.51.100.66"
           country: "DE"
           asn: 64566
           as_org: "<b>Bold</b> \"Hosting\" & <script>alert(3)</script>"
           network: "198.51.100.0/24"
         }
         http {
           status: 200
           connected_ip: "198.51.100.66"
           headers { name: "Server" value: "<script>alert(4)</script>" }
           headers {
             name: "X-Powered-By"
             value: "\xe2\x80\xae\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \"'><iframe src=//x>"
           }
           headers {
             name: "Location"
             value: "javascript:alert(5)//\"><a href=x>"
           }
           tls {
             subject: "CN=<svg onload=alert(6)>"
             issuer: "O=\"Evil\" CA"
             san_dns: "<style>*{display:none}</style>"
             sha256: "\x01\x02\x03"
             verify_error: "<b>bad</b>"
           }
         }
         verdict {
           hosting_countries: "DE"
           reasons: "answered with <marquee>hostile</marquee> headers"
           jurisdiction {
             attribution: "hosted"
             primary_countries: "DE"
             confidence: "low"
             referrals {
               country: "DE"
               kind: "hotline"
               route: "primary"
               name: "eco Beschwerdestelle"
               website: "https://www.eco.de/"
               source: "INHOPE member list"
             }
             # UNVERIFIED

           }
         }
         tool_version: "fixture"
         worker: "<script>w</script>")pb"},
      {"http://gone.fixture.test/", R"pb(
         url: "http://gone.fixture.test/"
         host: "gone.fixture.test"
         status: "unresolved"
         error { error_class: "nxdomain" }
         verdict {
           reasons: "DNS: NXDOMAIN"
           jurisdiction {
             attribution: "taken_down"
             confidence: "none"
             # UNVERIFIED
           }
         }
         tool_version: "fixture"
         worker: "fixture-1")pb"},
      {"http://multi.fixture.test/", R"pb(
         url: "http://multi.fixture.test/"
         host: "multi.fixture.test"
         status: "located"
         addresses {
           ip: "198.51.100.40"
           country: "DE"
           asn: 64540
           as_org: "Multi DE"
         }
         addresses {
           ip: "192.0.2.40"
           country: "NL"
           asn: 64541
           as_org: "Multi NL"
         }
         http { error { error_class: "http_timeout" } }
         verdict {
           hosting_countries: "DE"
           hosting_countries: "NL"
           reasons: "addresses in DE and NL; HTTP did not confirm them"
           jurisdiction {
             attribution: "several_countries"
             primary_countries: "DE"
             primary_countries: "NL"
             confidence: "low"
             referrals {
               country: "DE"
               kind: "hotline"
               route: "primary"
               name: "eco Beschwerdestelle"
               website: "https://www.eco.de/"
               source: "INHOPE member list"
             }
             referrals {
               country: "NL"
               kind: "hotline"
               route: "primary"
               name: "Offlimits"
               website: "https://www.offlimits.nl/"
               source: "INHOPE member list"
             }
             # UNVERIFIED

           }
         }
         tool_version: "fixture"
         worker: "fixture-1")pb"},
  };
  return fixtures;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "report_fixture: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return Fail("usage: report_fixture DATA_DIR");
  auto store = hl::coordinator::Store::Open(argv[1]);
  if (!store.ok()) return Fail(store.status().message());
  auto reader = hl::coordinator::InputReader::FromText(kInput);
  if (!reader.ok()) return Fail(reader.status().message());
  hl::coordinator::BatchSpec spec;
  spec.source = "fixture.txt";
  spec.submitter = "analyst <a@b>";
  spec.case_reference = "CASE-2026-<42>";
  auto ingested =
      hl::coordinator::IngestBatch(**store, **reader, spec, kNov28, nullptr);
  if (!ingested.ok()) return Fail(ingested.status().message());
  auto jobs = (*store)->LeasePending(100, kNov28);
  if (!jobs.ok()) return Fail(jobs.status().message());
  for (const pb::JobRecord& job : *jobs) {
    auto it = Fixtures().find(job.url());
    if (it == Fixtures().end()) return Fail("no fixture for " + job.url());
    std::string text = it->second;
    text.replace(text.find("# UNVERIFIED"), 12, kUnverified);
    pb::Observation obs;
    if (!google::protobuf::TextFormat::ParseFromString(text, &obs)) {
      return Fail("bad fixture for " + job.url());
    }
    // The gone URL was checked a week earlier than the rest.
    const int64_t at = obs.host() == "gone.fixture.test" ? kNov20 : kNov28;
    obs.set_checked_at_unix_ms(at + 3'600'000);
    auto stored = (*store)->StoreResult(job.job_id(), job.attempts(), obs, at);
    if (!stored.ok()) return Fail(stored.status().message());
  }
  std::printf("fixture batch %llu: %llu lines\n",
              static_cast<unsigned long long>(ingested->run.run_id()),
              static_cast<unsigned long long>(ingested->run.lines()));
  return 0;
}
