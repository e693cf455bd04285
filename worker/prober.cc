#include "worker/prober.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/ascii.h"
#include "common/net/ip.h"
#include "common/net/url.h"
#include "common/verdict.h"
#include "worker/dns_resolver.h"
#include "worker/http_prober.h"
#include "worker/politeness.h"

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

// Microseconds from `since_ms` to `now_ms`, saturated.
uint32_t WaitedUs(int64_t since_ms, int64_t now_ms) {
  return static_cast<uint32_t>(
      std::min<int64_t>((now_ms - since_ms) * 1000, UINT32_MAX));
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

struct IpHash {
  size_t operator()(const net::IpAddress& ip) const {
    return std::hash<std::string_view>{}(std::string_view(
               reinterpret_cast<const char*>(ip.bytes()), ip.size())) ^
           static_cast<size_t>(ip.is_v4());
  }
};

}  // namespace

struct Prober::Impl {
  // One URL in flight. Its requests (the first, then each redirect hop)
  // run one after the other; within a request the NS/PTR questions run
  // beside the HEAD, and the request ends when both have.
  struct Task {
    uint64_t id = 0;
    pb::Observation obs;
    pb::RequestContext context;
    Done done;
    // The request under way: obs itself (hop < 0) or obs.redirects(hop).
    int hop = -1;
    net::NormalizedUrl target;
    std::set<std::string> requested;  // URLs of the chain, for loops
    int parts_pending = 0;            // NS/PTR and HEAD not yet back
    net::IpAddress pinned;
    int64_t started_ms = 0;    // loop time of Start
    int64_t queued_at_ms = 0;  // when the HEAD asked for a politeness slot
    // What the request under way has outstanding (0/false: nothing), all
    // cancelled when the deadline passes.
    std::optional<EventLoop::TimerId> deadline;
    DnsResolver::OpId resolving = 0;  // A/AAAA and CNAME targets
    DnsResolver::OpId asking_ns_ptr = 0;
    bool waiting_for_slot = false;    // queued in the politeness gate
    HttpProber::ExchangeId head = 0;  // holds its politeness slot
  };

  // Calls `f` with the request under way (pb::Observation or pb::Hop: both
  // have dns, addresses, pinned_ip and http).
  template <typename F>
  static void WithRequest(Task& task, F&& f) {
    if (task.hop < 0) {
      f(task.obs);
    } else {
      f(*task.obs.mutable_redirects(task.hop));
    }
  }

  void Start(Task& task);
  void StartRequest(Task& task);
  void OnAddresses(Task& task, const std::vector<net::IpAddress>& addresses);
  void OnHead(uint64_t id, pb::HttpObservation&& http);
  // worker.probe_timeout_ms has passed: cancels what the request under way
  // has outstanding, records it as "probe_timeout", and finishes.
  void OnDeadline(Task& task);
  void PartDone(Task& task);
  void NextRequestOrFinish(Task& task);
  // Providers and verdict, then Complete.
  void Finish(Task& task);
  // Hands the observation to its callback and forgets the task.
  void Complete(Task& task);
  void AdmitWaiting();
  const geo::GeoFields& Locate(const net::IpAddress& ip);
  Task* Find(uint64_t id) {
    auto found = tasks.find(id);
    return found == tasks.end() ? nullptr : found->second.get();
  }

  EventLoop* loop = nullptr;
  std::shared_ptr<const geo::GeoLocator> geo;
  // geo->Locate's answers: the databases do not change while the prober
  // runs, and many URLs share a few addresses (a CDN's, a hoster's).
  // Forgotten all at once at kMaxLocated entries.
  static constexpr size_t kMaxLocated = 4096;
  std::unordered_map<net::IpAddress, geo::GeoFields, IpHash> located;
  std::shared_ptr<const ProviderTable> providers;
  ProberContext context;
  std::shared_ptr<const ReferralRouting> referrals;  // may be null
  Clock clock;
  uint32_t max_redirects = 0;
  bool dns_only = false;
  int64_t probe_timeout_ms = 0;
  int64_t request_worst_ms = 0;  // one request's slowest case
  std::string data_sources;      // Prober::data_sources()
  std::unordered_map<uint64_t, std::unique_ptr<Task>> tasks;
  uint64_t next_id = 1;
  std::optional<PolitenessGate> gate;
  std::optional<EventLoop::TimerId> gate_timer;
  // Deferred calls hold a weak reference: they do nothing once the prober
  // is gone.
  std::shared_ptr<Impl*> self = std::make_shared<Impl*>(this);
  // Destroyed first: their pending callbacks refer to the members above.
  std::unique_ptr<DnsResolver> dns;
  std::unique_ptr<HttpProber> http;

  ~Impl() {
    http.reset();
    dns.reset();
    if (gate_timer) loop->Cancel(*gate_timer);
    for (const auto& [id, task] : tasks) {
      if (task->deadline) loop->Cancel(*task->deadline);
    }
  }
};

Result<std::unique_ptr<Prober>> Prober::Create(
    const Config& config, std::shared_ptr<const geo::GeoLocator> geo,
    std::shared_ptr<const ProviderTable> providers, ProberContext context,
    Clock clock, EventLoop* loop,
    std::shared_ptr<const ReferralRouting> referrals) {
  if (geo == nullptr) return InvalidArgument("prober needs a geolocator");
  if (providers == nullptr) {
    return InvalidArgument("prober needs a provider table");
  }
  Result<std::unique_ptr<DnsResolver>> dns =
      DnsResolver::Create(config.resolver, loop, clock);
  if (!dns.ok()) return dns.status();
  Result<std::unique_ptr<HttpProber>> http = HttpProber::Create(
      config.http, net::TargetPolicy(config.safety.allow_cidrs), loop);
  if (!http.ok()) return http.status();

  std::unique_ptr<Prober> prober(new Prober());
  prober->impl_ = std::make_unique<Impl>();
  Impl& impl = *prober->impl_;
  impl.loop = loop;
  impl.context = std::move(context);
  impl.referrals = std::move(referrals);
  impl.clock = std::move(clock);
  impl.max_redirects = config.http.max_redirects;
  impl.dns_only = config.worker.dns_only;
  impl.probe_timeout_ms = config.worker.probe_timeout_ms;
  impl.request_worst_ms = static_cast<int64_t>(SlowestRequestMs(config));
  impl.gate.emplace(config.politeness);
  pb::Observation sources;
  for (const geo::SourceInfo& source : geo->sources()) {
    pb::DataSource& data_source = *sources.add_data_sources();
    data_source.set_role(source.role);
    data_source.set_database_type(source.database_type);
    data_source.set_build_epoch(source.build_epoch);
    data_source.set_path(source.path);
    data_source.set_attribution(source.attribution);
    data_source.set_sha256(source.sha256);
  }
  pb::DataSource& signatures = *sources.add_data_sources();
  signatures.set_role("providers");
  signatures.set_database_type("hostlocator-providers");
  signatures.set_build_epoch(DateEpoch(providers->newest_verified_on));
  signatures.set_path(providers->path);
  signatures.set_sha256(providers->sha256);
  if (impl.referrals != nullptr) {
    const ReferralDirectory& directory = impl.referrals->directory;
    std::string newest;
    for (const ReferralEntry& target : directory.targets) {
      newest = std::max(newest, target.verified_on);
    }
    pb::DataSource& source = *sources.add_data_sources();
    source.set_role("referrals");
    source.set_database_type(directory.verified
                                 ? "hostlocator-referrals"
                                 : "hostlocator-referrals (unverified)");
    source.set_build_epoch(DateEpoch(newest));
    source.set_path(directory.path);
    source.set_sha256(directory.sha256);
  }
  impl.data_sources = sources.SerializeAsString();
  impl.geo = std::move(geo);
  impl.providers = std::move(providers);
  impl.dns = std::move(dns).value();
  impl.http = std::move(http).value();
  return prober;
}

Prober::~Prober() = default;

size_t Prober::in_flight() const { return impl_->tasks.size(); }

const std::string& Prober::data_sources() const { return impl_->data_sources; }

Prober::Load Prober::load() const {
  return {.probes = impl_->tasks.size(),
          .dns = impl_->dns->in_flight(),
          .http = impl_->http->in_flight()};
}

void Prober::Probe(const std::string& url, const pb::RequestContext& context,
                   Done done) {
  auto task = std::make_unique<Impl::Task>();
  task->id = impl_->next_id++;
  task->context = context;
  task->done = std::move(done);
  pb::Observation& obs = task->obs;
  obs.set_checked_at_unix_ms(impl_->clock());
  obs.set_tool_version(impl_->context.tool_version);
  obs.set_config_digest(impl_->context.config_digest);
  obs.set_worker(impl_->context.worker_name);
  obs.set_url(url);
  Impl::Task& started = *task;
  impl_->tasks.emplace(task->id, std::move(task));
  // Started from the loop, so `done` never runs inside Probe.
  impl_->loop->Defer(
      [weak = std::weak_ptr<Impl*>(impl_->self), id = started.id] {
        std::shared_ptr<Impl*> self = weak.lock();
        if (self == nullptr) return;
        if (Impl::Task* task = (*self)->Find(id)) (*self)->Start(*task);
      });
}

void Prober::Impl::Start(Task& task) {
  task.started_ms = loop->Now();
  task.deadline = loop->After(probe_timeout_ms, [this, id = task.id] {
    Task* task = Find(id);
    if (task == nullptr) return;
    task->deadline.reset();
    OnDeadline(*task);
  });
  pb::Observation& obs = task.obs;
  Result<net::NormalizedUrl, net::UrlError> normalized =
      net::RenormalizeUrl(obs.url());
  if (!normalized.ok()) {
    const net::UrlError& error = normalized.error();
    const std::string reason(net::UrlRejectionReason(error.reason));
    obs.set_status("error");
    obs.mutable_error()->set_error_class("invalid_url");
    obs.mutable_error()->set_message(reason + ": " + error.detail);
    obs.mutable_verdict()->add_reasons("The URL was rejected (" + reason +
                                       "), so nothing was probed.");
    return Complete(task);
  }
  task.target = std::move(normalized).value();
  obs.set_url(task.target.url);
  if (!task.context.referer().empty() || !task.context.user_agent().empty()) {
    *obs.mutable_context() = task.context;
  }
  obs.set_host(task.target.host);
  task.requested.insert(task.target.url);
  if (task.target.host_kind == net::HostKind::kOnion) return Finish(task);
  StartRequest(task);
}

void Prober::Impl::StartRequest(Task& task) {
  if (task.target.host_kind != net::HostKind::kDomain) {
    std::vector<net::IpAddress> addresses;
    if (std::optional<net::IpAddress> ip =
            net::IpAddress::Parse(task.target.host)) {
      addresses.push_back(*ip);
    }
    task.parts_pending = 1;
    OnAddresses(task, addresses);
    return;
  }
  task.resolving = dns->Resolve(
      task.target.host, [this, id = task.id](pb::DnsObservation&& dns_obs) {
        Task* task = Find(id);
        if (task == nullptr) return;
        task->resolving = 0;
        std::vector<net::IpAddress> addresses;
        for (const pb::DnsAddress& address : dns_obs.addresses()) {
          if (std::optional<net::IpAddress> ip =
                  net::IpAddress::Parse(address.ip())) {
            addresses.push_back(*ip);
          }
        }
        // NS and PTR answers are recorded whenever they come; the HEAD does
        // not wait for them.
        task->parts_pending = 2;
        task->asking_ns_ptr = dns->AddNsAndPtr(
            task->target.registrable_domain, std::move(dns_obs),
            [this, id](pb::DnsObservation&& completed) {
              Task* task = Find(id);
              if (task == nullptr) return;
              task->asking_ns_ptr = 0;
              WithRequest(*task, [&](auto& request) {
                *request.mutable_dns() = std::move(completed);
              });
              PartDone(*task);
            });
        OnAddresses(*task, addresses);
      });
}

// Locates every address and sends the HEAD to the pinned one (after its
// politeness slot), or ends this part of the request at once.
void Prober::Impl::OnAddresses(Task& task,
                               const std::vector<net::IpAddress>& addresses) {
  std::optional<net::IpAddress> pinned = PinnedAddress(addresses);
  WithRequest(task, [&](auto& request) {
    for (const net::IpAddress& ip : addresses) {
      const geo::GeoFields& fields = Locate(ip);
      pb::AddressInfo* info = request.add_addresses();
      info->set_ip(ip.ToString());
      info->set_country(fields.country);
      info->set_city(fields.city);
      info->set_asn(fields.asn);
      info->set_as_org(fields.as_org);
      info->set_network(fields.network);
    }
    if (pinned) request.set_pinned_ip(pinned->ToString());
  });
  if (!pinned || dns_only) {
    PartDone(task);
    return;
  }
  task.pinned = *pinned;
  task.queued_at_ms = loop->Now();
  task.waiting_for_slot = true;
  gate->Request(task.id, task.target.host, pinned->ToString(),
                task.queued_at_ms);
  AdmitWaiting();
}

const geo::GeoFields& Prober::Impl::Locate(const net::IpAddress& ip) {
  if (auto found = located.find(ip); found != located.end()) {
    return found->second;
  }
  if (located.size() >= kMaxLocated) located.clear();
  return located.emplace(ip, geo->Locate(ip)).first->second;
}

void Prober::Impl::AdmitWaiting() {
  const int64_t now = loop->Now();
  for (PolitenessGate::Ticket id : gate->Admit(now)) {
    Task* task = Find(id);
    if (task == nullptr) {
      continue;  // cannot happen: a task leaves only after its HEAD
    }
    const uint32_t waited_us = WaitedUs(task->queued_at_ms, now);
    task->waiting_for_slot = false;
    task->head =
        http->Head(task->target, task->pinned, task->context,
                   [this, id, waited_us](pb::HttpObservation&& http_obs) {
                     http_obs.set_politeness_wait_us(waited_us);
                     OnHead(id, std::move(http_obs));
                   });
  }
  if (gate_timer) {
    loop->Cancel(*gate_timer);
    gate_timer.reset();
  }
  if (std::optional<int64_t> next = gate->NextIntervalDeadline()) {
    gate_timer = loop->After(*next - now, [this] {
      gate_timer.reset();
      AdmitWaiting();
    });
  }
}

void Prober::Impl::OnHead(uint64_t id, pb::HttpObservation&& http_obs) {
  Task* task = Find(id);
  if (task == nullptr) return;
  task->head = 0;
  gate->Release(task->target.host, task->pinned.ToString(), loop->Now());
  WithRequest(*task, [&](auto& request) {
    *request.mutable_http() = std::move(http_obs);
  });
  // The freed slot goes to the HEADs already waiting; then this task moves
  // on (its next hop queues behind them). PartDone comes last: it may end
  // the task, and its `done` may destroy this prober.
  AdmitWaiting();
  PartDone(*task);
}

void Prober::Impl::OnDeadline(Task& task) {
  const int64_t now = loop->Now();
  const std::string passed = "worker.probe_timeout_ms (" +
                             std::to_string(probe_timeout_ms) + " ms) passed ";
  WithRequest(task, [&](auto& request) {
    if (task.resolving != 0) {
      pb::DnsObservation* dns_obs = request.mutable_dns();
      if (std::optional<pb::DnsObservation> partial =
              dns->Cancel(task.resolving)) {
        *dns_obs = std::move(*partial);
      }
      dns_obs->mutable_error()->set_error_class("probe_timeout");
      dns_obs->mutable_error()->set_message(
          passed + "before DNS answered for " + task.target.host);
    }
    if (task.asking_ns_ptr != 0) {
      if (std::optional<pb::DnsObservation> partial =
              dns->Cancel(task.asking_ns_ptr)) {
        *request.mutable_dns() = std::move(*partial);
      }
    }
    if (!task.waiting_for_slot && task.head == 0) return;
    pb::HttpObservation* http_obs = request.mutable_http();
    http_obs->set_method("HEAD");
    http_obs->set_request_url(task.target.url);
    http_obs->mutable_error()->set_error_class("probe_timeout");
    if (task.waiting_for_slot) {
      gate->Withdraw(task.id, task.target.host, now);
      http_obs->set_politeness_wait_us(WaitedUs(task.queued_at_ms, now));
      http_obs->mutable_error()->set_message(
          passed + "while the HEAD waited for a politeness slot");
    } else {
      http->Cancel(task.head);
      gate->Release(task.target.host, task.pinned.ToString(), now);
      http_obs->mutable_error()->set_message(passed +
                                             "before the HEAD was answered");
    }
  });
  task.resolving = 0;
  task.asking_ns_ptr = 0;
  task.waiting_for_slot = false;
  task.head = 0;
  // Slots this task held or waited for may admit others; Finish comes
  // last, as its `done` may destroy this prober.
  AdmitWaiting();
  Finish(task);
}

void Prober::Impl::PartDone(Task& task) {
  if (--task.parts_pending > 0) return;
  NextRequestOrFinish(task);
}

// Follows the redirect the request under way answered, or finishes.
void Prober::Impl::NextRequestOrFinish(Task& task) {
  pb::Observation& obs = task.obs;
  auto stop = [&](std::string error_class, std::string message) {
    obs.mutable_redirect_error()->set_error_class(std::move(error_class));
    obs.mutable_redirect_error()->set_message(std::move(message));
    Finish(task);
  };
  const pb::HttpObservation& last =
      task.hop < 0 ? obs.http() : obs.redirects(task.hop).http();
  if (!IsFollowedRedirect(last.status())) return Finish(task);
  const std::optional<std::string> location = LocationOf(last);
  if (!location) return Finish(task);  // the verdict says "no Location"
  Result<net::NormalizedUrl, net::UrlError> next =
      net::ResolveReference(task.target.url, *location);
  if (!next.ok()) {
    return stop("invalid_redirect",
                std::string(net::UrlRejectionReason(next.error().reason)) +
                    ": " + next.error().detail);
  }
  if (!task.requested.insert(next->url).second) {
    return stop("redirect_loop",
                next->url + " was already requested in this chain");
  }
  if (static_cast<uint32_t>(obs.redirects_size()) >= max_redirects) {
    return stop("too_many_redirects",
                "more than " + std::to_string(max_redirects) +
                    " redirects (http.max_redirects); next was " + next->url);
  }
  const int64_t elapsed_ms = loop->Now() - task.started_ms;
  if (elapsed_ms + request_worst_ms > probe_timeout_ms) {
    return stop("probe_timeout", "after " + std::to_string(elapsed_ms) +
                                     " ms another request might not end within "
                                     "worker.probe_timeout_ms (" +
                                     std::to_string(probe_timeout_ms) +
                                     " ms); next was " + next->url);
  }
  pb::Hop* hop = obs.add_redirects();
  hop->set_url(next->url);
  hop->set_host(next->host);
  task.hop = obs.redirects_size() - 1;
  task.target = std::move(next).value();
  if (task.target.host_kind == net::HostKind::kOnion) return Finish(task);
  StartRequest(task);
}

void Prober::Impl::Finish(Task& task) {
  pb::Observation& obs = task.obs;
  for (pb::ProviderMatch& match :
       DetectProviders(FinalHopOf(obs), *providers)) {
    *obs.add_providers() = std::move(match);
  }
  Conclude(&obs);
  if (referrals != nullptr) RouteReferrals(*referrals, &obs);
  Complete(task);
}

void Prober::Impl::Complete(Task& task) {
  if (task.deadline) loop->Cancel(*task.deadline);
  task.obs.set_finished_at_unix_ms(clock());
  // The task leaves the table before `done`, which may destroy this
  // prober; its observation is handed over where it was built.
  const auto found = tasks.find(task.id);
  const std::unique_ptr<Task> owned = std::move(found->second);
  tasks.erase(found);
  owned->done(std::move(owned->obs));
}

}  // namespace hl::worker
