// The first jurisdiction verdict: a pure function of an observation.
//
// Rules, in order:
// - .onion host: status "unresolved", error class "not_attributable", no
//   hosting country (an onion service has no location to refer to).
// - DNS failed (dns.error set and no address resolved; classes nxdomain,
//   servfail, dns_timeout, dns_refused, no_address, cname_loop, dns_error):
//   status "unresolved", no hosting country, the reason names the class,
//   the name and the resolver. A DNS error with addresses (a partial
//   failure) only adds a reason.
// - HTTP answered (http.status > 0): hosting country = country of the
//   address that answered (http.connected_ip, else pinned_ip); status
//   "located". Resolved addresses in other countries are named in a reason
//   but not listed: the probe did not confirm them.
// - HTTP did not answer: hosting countries = the countries of all resolved
//   addresses (sorted, unique); a reason says HTTP did not confirm them.
//   Addresses in several countries: all are listed, none is chosen.
// - No hosting country found (no address, or no country for the addresses
//   the rule uses): status "error".
// - A 3xx answer that was not followed (no Location, or following stopped:
//   see redirect_error) adds the reason "redirect not followed".
// - Each provider of observation.providers (common/provider.h) of category
//   cdn or waf adds, after the other reasons of a resolved host, the reason
//   "<name> (<category>, legal country XX) is in front: origin hidden;
//   refer to the provider (abuse: <contact>)" (the last parenthesis only
//   when a contact is known). The hosting countries stay those of the
//   addresses; the referral to the provider is for the referral rules.
// Errors: for "unresolved" and "error", observation->error is set unless
// already set: from dns.error when DNS failed, from http.error when HTTP
// did not answer, else class "not_attributable". A "located" observation
// keeps its error as it is.
// Reasons are English sentences naming the observations used, in the order
// DNS, HTTP, countries. Conclude is idempotent.
#pragma once

#include <string>
#include <string_view>

#include "common/proto/hostlocator.pb.h"

namespace hl {

// Sets observation->status, ->error (when the verdict itself is the error)
// and ->verdict from the DNS, address and HTTP parts. Pure. When redirects
// were followed, the rules above apply to the last hop (FinalHopView); the
// reasons first list the chain, each hop with the address that answered it
// and its country (the redirectors are secondary facts), and why following
// stopped when it stopped early.
void Conclude(hostlocator::v1::Observation* observation);

// Decides the jurisdiction of a concluded observation again after facts
// that only the decision reads changed (AddressInfo.rdap_country and
// registry_country, registration): verdict.jurisdiction is replaced, its
// referral fields (referrals, directory_unverified, referral_warning,
// home_country) kept - the primary countries they were routed from do not
// depend on those facts - and the jurisdiction summary and "disagreement:"
// reasons that Conclude wrote are replaced in place. Pure; idempotent.
void ReviseJurisdiction(hostlocator::v1::Observation* observation);

// Writes a stored RDAP enrichment into `observation`: `enrichment` holds
// only rdap and, when the domain's registration was learned, registration
// (coordinator/enricher.h builds it). rdap replaces observation.rdap; each
// of its networks sets rdap_country and registry_country on every
// AddressInfo of that address (the final hop's and earlier hops'); a
// registration replaces observation.registration; then ReviseJurisdiction.
// Pure; idempotent.
void ApplyEnrichment(const hostlocator::v1::Observation& enrichment,
                     hostlocator::v1::Observation* observation);

// The request that decided an observation, by reference into it: the last
// redirect followed (its Hop), else the observation's own request. A
// request without DNS or HTTP reads as their default (empty) messages.
// Every reader of the final hop takes this view; FinalHopView is for code
// that needs a modified copy (Conclude).
struct FinalHop {
  const std::string& url;
  const std::string& host;
  const hostlocator::v1::DnsObservation& dns;
  const google::protobuf::RepeatedPtrField<hostlocator::v1::AddressInfo>&
      addresses;
  const std::string& pinned_ip;
  const hostlocator::v1::HttpObservation& http;
  bool has_http;  // an HTTP request was made
};
// Valid while `observation` is, unchanged.
FinalHop FinalHopOf(const hostlocator::v1::Observation& observation);

// The observation as seen from its last hop, copied: host, dns, addresses,
// pinned_ip and http of the last redirect followed (the observation itself
// when none was), without the redirects.
hostlocator::v1::Observation FinalHopView(
    const hostlocator::v1::Observation& observation);

// The entry of `addresses` for `ip` (same address whatever its textual
// form), or nullptr.
const hostlocator::v1::AddressInfo* FindAddress(
    const google::protobuf::RepeatedPtrField<hostlocator::v1::AddressInfo>&
        addresses,
    std::string_view ip);

// The address a request's HTTP answer came from: http.connected_ip, else
// the pinned address.
const std::string& AnsweringIp(const hostlocator::v1::HttpObservation& http,
                               const std::string& pinned_ip);
// The entry of the hop's addresses for AnsweringIp, else its first address,
// else nullptr (no address).
const hostlocator::v1::AddressInfo* AnsweringAddress(const FinalHop& hop);

}  // namespace hl
