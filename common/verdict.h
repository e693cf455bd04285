// The first jurisdiction verdict: a pure function of an observation.
//
// Rules, in order:
// - .onion host: status "unresolved", error class "not_attributable", no
//   hosting country (an onion service has no location to refer to).
// - DNS failed (nxdomain, servfail, dns_timeout, dns_refused, no_address):
//   status "unresolved", no hosting country, the reason names the class.
// - HTTP answered (http.status > 0): hosting country = country of the
//   address that answered (http.connected_ip); status "located".
// - HTTP failed: hosting countries = the countries of all resolved
//   addresses (sorted, unique); status "located" when at least one address
//   has a country, else "error"; a reason says HTTP did not confirm it.
// - Addresses in several countries: all are listed, none is chosen.
// - A 3xx answer adds the reason "redirect not followed".
// Reasons are human-readable sentences naming the observations used.
#pragma once

#include "common/proto/hostlocator.pb.h"

namespace hl {

// Sets observation->status, ->error (when the verdict itself is the error)
// and ->verdict from the DNS, address and HTTP parts. Pure.
void Conclude(hostlocator::v1::Observation* observation);

}  // namespace hl
