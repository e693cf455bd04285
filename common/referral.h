// Referral routing: who receives a report, from the jurisdiction decision
// and a directory of targets kept as data (config/referral.toml documents
// the format).
//
// Routing rules (RouteReferrals), for each primary country C of
// verdict.jurisdiction (route "primary"):
// - C is the hotline's own country (home_country): C's "police" targets
//   (else one "police" target named "national police of C (not in the
//   referral directory)"), and the provider: for origin_hidden the CDN/WAF
//   in front, else each cloud or hosting provider recognised, else the AS
//   organisation of the answering address (kind "provider", route
//   "provider", its abuse contact as the provider table gives it);
// - C is another country: C's "hotline" targets (several when C has
//   several member hotlines), else C's "police" targets, else the
//   directory's fallback (INTERPOL) for C;
// - origin_hidden adds the provider in front (route "provider") in either
//   case: the origin is only known to it.
// Each distinct country of a "redirector" secondary jurisdiction that is
// not primary is routed the same way (route "redirector", no provider).
// Targets are listed once each, in that order. No primary country (not
// attributable, unresolvable, unknown) gives no target.
// An empty home_country means "not set": every country counts as foreign,
// and the warning says so. A directory not verified by an operator sets
// directory_unverified and the warning.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/hostlocator.pb.h"
#include "common/status.h"

namespace hl {

struct ReferralEntry {
  std::string country;  // ISO 3166-1 alpha-2
  std::string kind;     // "hotline" | "police" | "interpol"
  std::string name;
  std::string website;      // "" when unknown
  std::string email;        // "" unless an operator entered one
  std::string phone;        // likewise
  std::string source;       // where the entry comes from
  std::string verified_on;  // "YYYY-MM-DD"; "" when never verified
};

struct ReferralDirectory {
  // An operator has checked the directory (top-level `verified`).
  bool verified = false;
  std::vector<ReferralEntry> targets;  // file order
  ReferralEntry fallback;  // country "" ; used for countries without entry
  std::string path;        // set by LoadReferralFile
  std::string sha256;      // of the file's text, hex; likewise
};

// The directory and the hotline's own country, as the routing needs them.
struct ReferralRouting {
  ReferralDirectory directory;
  std::string home_country;  // ISO 3166-1 alpha-2; "" when not set
};

// Parses the TOML text of a referral directory (format in
// config/referral.toml). Every key must be known; each target needs
// country, kind, name, source and verified_on (a date, or the string
// "unverified"); `fallback` needs name and source. Messages start with
// "origin:line:col: " and name the dotted key, e.g. "target[3].kind".
Result<ReferralDirectory> ParseReferralDirectory(std::string_view toml_text,
                                                 const std::string& origin);
// Reads and parses the file at `path` (`origin` is `path`).
Result<ReferralDirectory> LoadReferralFile(const std::string& path);

// Fills observation->verdict.jurisdiction's referrals, home_country,
// directory_unverified and referral_warning by the rules above, and adds
// the warning to verdict.reasons. Pure; idempotent.
void RouteReferrals(const ReferralRouting& routing,
                    hostlocator::v1::Observation* observation);

// Storage form of a serialized observation (coordinator/store.h), cut at
// the wire level without decoding it. Every observation of a worker's
// configuration carries the same data sources, and every one routed with
// one directory and country set the same referral targets (about a
// kilobyte): the store keeps each distinct set once.
struct StorageSplit {
  // The observation without its top-level data_sources entries and without
  // verdict.jurisdiction's referrals and referral_warning (the lengths of
  // verdict and jurisdiction adjusted), in order. Views of the input, but
  // for a rewritten verdict, which `verdict` holds.
  std::vector<std::string_view> rest;
  // The data_sources entries as they were (tags and lengths included, in
  // order): parsing the rest and merging them gives them back. A worker
  // appends its data sources last, so this is normally one view of the
  // input's tail.
  std::vector<std::string_view> data_sources;
  // The cut referral fields as they were, in order: a serialized
  // Jurisdiction holding only them, to merge into the rest's
  // verdict.jurisdiction. Empty when there is nothing to cut: no referrals
  // and no warning, or a verdict or jurisdiction written in more than one
  // piece.
  std::string referrals;
  // The rewritten verdict field a view of `rest` shows (on the heap, so
  // that moving the split keeps that view valid); null when none.
  std::unique_ptr<std::string> verdict;
};
// One pass over the top level, and over the verdict and its jurisdiction
// when they are cut. Fails with kInvalidArgument when the observation
// exceeds kMaxMessageBytes or its top level, or the verdict or
// jurisdiction it cuts, is not well-formed.
Result<StorageSplit> SplitForStorage(std::string_view observation);

}  // namespace hl
