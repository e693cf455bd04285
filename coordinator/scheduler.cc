#include "coordinator/scheduler.h"

#include <algorithm>
#include <optional>

#include "common/net/url.h"

namespace hl::coordinator {

KnownJobAction DecideKnownJob(pb::JobState state, int64_t last_check_ms,
                              int64_t max_age_ms, int64_t now_ms) {
  switch (state) {
    case pb::JOB_STATE_PENDING:
    case pb::JOB_STATE_LEASED:
      return KnownJobAction::kJoin;
    case pb::JOB_STATE_DONE:
      if (max_age_ms <= 0 || last_check_ms <= 0) {
        return KnownJobAction::kRecheck;
      }
      return now_ms - last_check_ms > max_age_ms ? KnownJobAction::kRecheck
                                                 : KnownJobAction::kJoin;
    default:
      return KnownJobAction::kRecheck;
  }
}

PolitenessCaps PolitenessCapsOf(const Config& config) {
  return {.per_host = config.politeness.fleet_max_per_host,
          .per_domain = config.politeness.fleet_max_per_domain,
          .per_address = config.politeness.fleet_max_per_address};
}

namespace {

// The host of `url` when it has the shape NormalizeUrl gives a URL with a
// domain or IPv4 host ("http" or "https", "://", labels of [a-z0-9_-]
// separated by single dots, then ':', '/' or the end); nullopt otherwise.
std::optional<std::string_view> PlainHostOf(std::string_view url) {
  constexpr std::string_view kSeparator = "://";
  const size_t scheme_end = url.find(kSeparator);
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return std::nullopt;
  const std::string_view rest = url.substr(scheme_end + kSeparator.size());
  const std::string_view host = rest.substr(0, rest.find_first_of(":/"));
  if (host.empty() || host.front() == '.' || host.back() == '.') {
    return std::nullopt;
  }
  char previous = 0;
  for (char c : host) {
    const bool label_byte = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_';
    if (!label_byte && !(c == '.' && previous != '.')) return std::nullopt;
    previous = c;
  }
  return host;
}

}  // namespace

DispatchTarget TargetOfUrl(std::string_view normalized_url, bool with_domain) {
  DispatchTarget target;
  // A normalised URL is a fixed point of NormalizeUrl: the host of one with
  // a domain is read as it stands, without a second parse. A host whose
  // last label is a number (an IPv4 address) is parsed.
  if (const auto host = PlainHostOf(normalized_url)) {
    const std::string_view last = host->substr(host->rfind('.') + 1);
    if (!std::all_of(last.begin(), last.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      target.host = std::string(*host);
      if (with_domain) {
        target.domain = net::RegistrableDomainOfHost(target.host);
      }
      return target;
    }
  }
  auto url = net::NormalizeUrl(normalized_url);
  if (!url.ok()) return target;
  target.host = std::move(url->host);
  if (with_domain) target.domain = std::move(url->registrable_domain);
  return target;
}

DispatchTarget FleetPoliteness::Resolve(DispatchTarget target) const {
  if (auto it = known_.find(target.host); it != known_.end()) {
    target.addresses = it->second;
  }
  return target;
}

bool FleetPoliteness::Below(const Counts& counts, const std::string& key,
                            uint32_t cap) {
  if (cap == 0) return true;
  auto it = counts.find(key);
  return it == counts.end() || it->second < cap;
}

void FleetPoliteness::Add(Counts& counts, const std::string& key, int delta) {
  auto [it, inserted] = counts.try_emplace(key, 0);
  if (delta < 0 && it->second <= static_cast<uint32_t>(-delta)) {
    counts.erase(it);
    return;
  }
  it->second += delta;
}

namespace {
constexpr std::string_view kHostKey = "host:";
constexpr std::string_view kDomainKey = "domain:";
constexpr std::string_view kAddressKey = "address:";

std::string KeyOf(std::string_view kind, const std::string& name) {
  std::string key(kind);
  key += name;
  return key;
}
}  // namespace

std::optional<std::string> FleetPoliteness::Refusal(
    const DispatchTarget& target) const {
  if (!Below(hosts_, target.host, caps_.per_host)) {
    return KeyOf(kHostKey, target.host);
  }
  if (!target.domain.empty() &&
      !Below(domains_, target.domain, caps_.per_domain)) {
    return KeyOf(kDomainKey, target.domain);
  }
  for (const auto& address : target.addresses) {
    if (!Below(addresses_, address, caps_.per_address)) {
      return KeyOf(kAddressKey, address);
    }
  }
  return std::nullopt;
}

std::vector<std::string> FleetPoliteness::KeysOf(
    const DispatchTarget& target) const {
  std::vector<std::string> keys;
  if (caps_.per_host > 0) keys.push_back(KeyOf(kHostKey, target.host));
  if (caps_.per_domain > 0 && !target.domain.empty()) {
    keys.push_back(KeyOf(kDomainKey, target.domain));
  }
  if (caps_.per_address > 0) {
    for (const auto& address : target.addresses) {
      keys.push_back(KeyOf(kAddressKey, address));
    }
  }
  return keys;
}

void FleetPoliteness::Start(const DispatchTarget& target) {
  Add(hosts_, target.host, 1);
  if (!target.domain.empty()) Add(domains_, target.domain, 1);
  for (const auto& address : target.addresses) Add(addresses_, address, 1);
}

void FleetPoliteness::Finish(const DispatchTarget& target) {
  Add(hosts_, target.host, -1);
  if (!target.domain.empty()) Add(domains_, target.domain, -1);
  for (const auto& address : target.addresses) Add(addresses_, address, -1);
}

void FleetPoliteness::LearnAddresses(const std::string& host,
                                     std::vector<std::string> addresses) {
  auto [it, inserted] = known_.try_emplace(host);
  it->second = std::move(addresses);
  if (!inserted) return;
  known_order_.push_back(host);
  if (known_order_.size() > kMaxKnownHosts) {
    known_.erase(known_order_.front());
    known_order_.pop_front();
  }
}

uint32_t FleetPoliteness::in_flight_on_host(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second;
}

}  // namespace hl::coordinator
