#include "worker/prober.h"

#include <cstdio>
#include <ctime>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/ascii.h"
#include "common/verdict.h"

namespace hl::worker {
namespace {

// Seconds since the epoch of a "YYYY-MM-DD" date (UTC midnight); 0 when the
// text is not such a date.
int64_t DateEpoch(const std::string& date) {
  std::tm tm{};
  if (date.size() != 10 || std::sscanf(date.c_str(), "%4d-%2d-%2d", &tm.tm_year,
                                       &tm.tm_mon, &tm.tm_mday) != 3) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

// The pinning rule: the first IPv4 address, else the first IPv6 address.
std::optional<net::IpAddress> PinnedAddress(
    const std::vector<net::IpAddress>& addresses) {
  for (const net::IpAddress& ip : addresses) {
    if (ip.is_v4()) return ip;
  }
  if (!addresses.empty()) return addresses.front();
  return std::nullopt;
}

// DNS (for a domain), geolocation of every address, and one HEAD to the
// pinned address: the part of the pipeline every request of a redirect
// chain repeats. `Request` is pb::Observation (the first request) or
// pb::Hop (a redirect): both have dns, addresses, pinned_ip and http.
template <typename Request>
void ProbeRequest(DnsResolver& resolver, const geo::GeoLocator& geo,
                  HttpProber& http, const net::NormalizedUrl& target,
                  const pb::RequestContext& context, Request* out) {
  std::vector<net::IpAddress> addresses;
  if (target.host_kind == net::HostKind::kDomain) {
    *out->mutable_dns() = resolver.Resolve(target.host);
    resolver.AddNsAndPtr(target.registrable_domain, out->mutable_dns());
    for (const pb::DnsAddress& address : out->dns().addresses()) {
      if (std::optional<net::IpAddress> ip =
              net::IpAddress::Parse(address.ip())) {
        addresses.push_back(*ip);
      }
    }
  } else if (std::optional<net::IpAddress> ip =
                 net::IpAddress::Parse(target.host)) {
    addresses.push_back(*ip);
  }
  for (const net::IpAddress& ip : addresses) {
    const geo::GeoFields fields = geo.Locate(ip);
    pb::AddressInfo* info = out->add_addresses();
    info->set_ip(ip.ToString());
    info->set_country(fields.country);
    info->set_city(fields.city);
    info->set_asn(fields.asn);
    info->set_as_org(fields.as_org);
    info->set_network(fields.network);
  }
  if (std::optional<net::IpAddress> pinned = PinnedAddress(addresses)) {
    out->set_pinned_ip(pinned->ToString());
    *out->mutable_http() = http.Head(target, *pinned, context);
  }
}

// The statuses whose Location the worker follows.
bool IsFollowedRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

std::optional<std::string> LocationOf(const pb::HttpObservation& http) {
  for (const pb::HttpHeader& header : http.headers()) {
    if (EqualsIgnoreCaseAscii(header.name(), "location")) {
      return header.value();
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<Prober>> Prober::Create(
    const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
    std::shared_ptr<const ProviderTable> providers, ProberContext context,
    Clock clock) {
  if (geo == nullptr) return InvalidArgument("prober needs a geolocator");
  if (providers == nullptr) {
    return InvalidArgument("prober needs a provider table");
  }
  Result<std::unique_ptr<DnsResolver>> resolver =
      DnsResolver::Create(config.resolver, clock);
  if (!resolver.ok()) return resolver.status();
  std::unique_ptr<Prober> prober(new Prober());
  prober->geo_ = std::move(geo);
  prober->providers_ = std::move(providers);
  prober->context_ = std::move(context);
  prober->clock_ = std::move(clock);
  prober->resolver_ = std::move(resolver).value();
  prober->policy_ = net::TargetPolicy(config.safety.allow_cidrs);
  prober->max_redirects_ = config.http.max_redirects;
  prober->http_ = std::make_unique<HttpProber>(config.http, prober->policy_);
  return prober;
}

Prober::~Prober() = default;

pb::Observation Prober::Probe(const std::string& url,
                              const pb::RequestContext& context) {
  pb::Observation obs;
  obs.set_checked_at_unix_ms(clock_());
  obs.set_tool_version(context_.tool_version);
  obs.set_config_digest(context_.config_digest);
  obs.set_worker(context_.worker_name);
  for (const geo::SourceInfo& source : geo_->sources()) {
    pb::DataSource* data_source = obs.add_data_sources();
    data_source->set_role(source.role);
    data_source->set_database_type(source.database_type);
    data_source->set_build_epoch(source.build_epoch);
    data_source->set_path(source.path);
    data_source->set_attribution(source.attribution);
    data_source->set_sha256(source.sha256);
  }
  pb::DataSource* signatures = obs.add_data_sources();
  signatures->set_role("providers");
  signatures->set_database_type("hostlocator-providers");
  signatures->set_build_epoch(DateEpoch(providers_->newest_verified_on));
  signatures->set_path(providers_->path);
  signatures->set_sha256(providers_->sha256);

  Result<net::NormalizedUrl, net::UrlError> normalized = net::NormalizeUrl(url);
  if (!normalized.ok()) {
    const net::UrlError& error = normalized.error();
    const std::string reason(net::UrlRejectionReason(error.reason));
    obs.set_url(url);
    obs.set_status("error");
    obs.mutable_error()->set_error_class("invalid_url");
    obs.mutable_error()->set_message(reason + ": " + error.detail);
    obs.mutable_verdict()->add_reasons("The URL was rejected (" + reason +
                                       "), so nothing was probed.");
    return obs;
  }
  const net::NormalizedUrl& target = normalized.value();
  obs.set_url(target.url);
  if (!context.referer().empty() || !context.user_agent().empty()) {
    *obs.mutable_context() = context;
  }
  obs.set_host(target.host);
  if (target.host_kind == net::HostKind::kOnion) {
    Conclude(&obs);
    return obs;
  }

  ProbeRequest(*resolver_, *geo_, *http_, target, context, &obs);
  FollowRedirects(target, context, &obs);
  for (pb::ProviderMatch& match :
       DetectProviders(FinalHopView(obs), *providers_)) {
    *obs.add_providers() = std::move(match);
  }
  Conclude(&obs);
  return obs;
}

void Prober::FollowRedirects(const net::NormalizedUrl& first,
                             const pb::RequestContext& context,
                             pb::Observation* obs) {
  auto stop = [obs](std::string error_class, std::string message) {
    obs->mutable_redirect_error()->set_error_class(std::move(error_class));
    obs->mutable_redirect_error()->set_message(std::move(message));
  };
  std::set<std::string> requested = {first.url};
  std::string current = first.url;
  const pb::HttpObservation* last = &obs->http();
  while (IsFollowedRedirect(last->status())) {
    const std::optional<std::string> location = LocationOf(*last);
    if (!location) return;  // the verdict says "no Location header"
    Result<net::NormalizedUrl, net::UrlError> next =
        net::ResolveReference(current, *location);
    if (!next.ok()) {
      stop("invalid_redirect",
           std::string(net::UrlRejectionReason(next.error().reason)) + ": " +
               next.error().detail);
      return;
    }
    if (!requested.insert(next->url).second) {
      stop("redirect_loop", next->url + " was already requested in this chain");
      return;
    }
    if (static_cast<uint32_t>(obs->redirects_size()) >= max_redirects_) {
      stop("too_many_redirects",
           "more than " + std::to_string(max_redirects_) +
               " redirects (http.max_redirects); next was " + next->url);
      return;
    }
    pb::Hop* hop = obs->add_redirects();
    hop->set_url(next->url);
    hop->set_host(next->host);
    if (next->host_kind != net::HostKind::kOnion) {
      ProbeRequest(*resolver_, *geo_, *http_, *next, context, hop);
    }
    current = next->url;
    last = &hop->http();
  }
}

}  // namespace hl::worker
