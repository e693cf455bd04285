// The jurisdiction rules: from an observation (as Conclude leaves it) to
// the structured decision of verdict.jurisdiction. Pure.
//
// Attribution, the first rule that applies, for the final hop (FinalHopOf):
// - "not_attributable": the host ends in a name of an overlay network that
//   hides where a service runs (.onion, .i2p, .loki, .bit, .exit). No
//   primary country; confidence "none".
// - "taken_down": DNS answered NXDOMAIN and no address was resolved (no
//   primary country, confidence "none"), or the last answer was HTTP 404 or
//   410 (primary countries, confidence and secondary jurisdictions as the
//   rules below give them: the host that answered, or the provider in
//   front, served the URL until now).
// - "unresolvable": any other DNS failure without an address (servfail,
//   timeout, refused, no_address, cname_loop). No primary; "none".
// - "unknown_country": the verdict has no hosting country (addresses
//   without geolocation data). No primary; "none".
// - "origin_hidden": a provider of category cdn or waf is in front
//   (observation.providers, strongest first). Primary: the first such
//   provider's legal country (the referral route: ask the provider for the
//   origin); each country of the verdict's hosting countries becomes a
//   secondary "cdn_edge"; each further cdn/waf provider a secondary
//   "provider". Confidence rates the provider's detection: "high" when its
//   strongest evidence is a response header or a published IP range,
//   "medium" for a CNAME suffix, "low" for an ASN only.
// - "several_countries": the verdict lists several hosting countries
//   (round-robin or anycast addresses that HTTP did not narrow down): all
//   are primary, none is chosen.
// - "ip_literal": the URL's host is an IP address; its country is primary.
// - "hosted": the one hosting country of the verdict (the address that
//   served the final hop) is primary.
//
// Confidence of a located attribution (all but origin_hidden), from the
// deciding addresses (the address that answered HTTP, else every resolved
// address with a country), each rated by its three country sources -
// geolocation (AddressInfo.country), the RDAP network record
// (rdap_country) and the AS holder's registry entry (registry_country):
// "high" when all three are known and agree, "medium" when exactly two
// agree, "low" otherwise - so geolocation alone (RDAP and registry not
// looked up) is "low". The decision takes the lowest rating of its
// addresses. Every pair of known sources that differ is a disagreement,
// with the reason such a difference arises; resolvers that disagree on the
// addresses (dns.resolvers_disagree) are one too.
//
// Secondary jurisdictions, in this order: each request before the final
// hop ("redirector": the country of the address that answered it, "" when
// unknown; detail its URL); cdn_edge / provider as above; the legal country
// of each cloud or hosting provider ("hosting_provider"); resolved
// addresses of the final host in other countries that did not answer HTTP
// ("unconfirmed_address"); the ccTLD country of the reported host and of
// the final host when they differ ("cctld", detail ".tld"); the
// registrar's country from observation.registration ("registrar").
// Domain facts: registrable_domain of the final host (Public Suffix List),
// cctld_country of its TLD, registrar.
#pragma once

#include <string>
#include <string_view>

#include "common/proto/hostlocator.pb.h"

namespace hl {

// The decision for `observation`, whose status and verdict.hosting_countries
// Conclude has set. Referral fields stay empty (common/referral.h fills
// them). `registrable_domain`, when not empty, is that of the final hop's
// URL as an earlier decision on the same observation found it: taken as it
// is instead of parsing the URL again (ReviseJurisdiction).
hostlocator::v1::Jurisdiction DecideJurisdiction(
    const hostlocator::v1::Observation& observation,
    std::string_view registrable_domain = {});

// The ISO 3166-1 alpha-2 country of the top-level domain of `host` (any
// case, optional trailing dot), or "" when it is not a country's: generic
// TLDs, IP addresses, ".eu", and ccTLDs marketed for generic use (.io, .tv,
// .co, .me, ... : Google Search Central's list of "generic" ccTLDs).
// ".uk" is GB, ".ac" SH.
std::string CcTldCountry(std::string_view host);

// The last label of `host`, lower case, without a trailing dot; "" when
// `host` has a single label.
std::string TopLevelDomain(std::string_view host);

// Two upper-case ASCII letters (the form of ISO 3166-1 alpha-2 codes).
bool IsCountryCode(std::string_view code);

// True when `host` ends in .onion, .i2p, .loki, .bit or .exit.
bool IsNonAttributableName(std::string_view host);

// "attribution XX, YY (confidence c)", one sentence for verdict.reasons.
std::string DescribeJurisdiction(const hostlocator::v1::Jurisdiction& j);

}  // namespace hl
