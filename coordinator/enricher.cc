#include "coordinator/enricher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "common/verdict.h"

namespace hl::coordinator {
namespace {

// "rdap: WHAT unavailable: WHY".
std::string Note(const std::string& what, const Status& status) {
  return "rdap: " + what + " unavailable: " + status.message();
}

}  // namespace

EnrichmentPlan PlanEnrichment(const pb::EnrichmentSource& source) {
  EnrichmentPlan plan;
  const auto& final_hop = source.redirects().empty()
                              ? source.addresses()
                              : source.redirects().rbegin()->addresses();
  for (const pb::EnrichmentAddress& a : final_hop) {
    if (plan.addresses.size() == kMaxEnrichedAddresses) break;
    bool seen = false;
    for (const auto& p : plan.addresses) seen = seen || p.ip == a.ip();
    if (seen || !net::IpAddress::Parse(a.ip())) continue;
    plan.addresses.push_back({a.ip(), a.asn()});
  }
  plan.domain = source.verdict().jurisdiction().registrable_domain();
  return plan;
}

pb::Observation Enrichment(const EnrichmentFacts& facts,
                           const std::string& domain, int64_t now_ms) {
  pb::Observation enrichment;
  pb::RdapFacts* rdap = enrichment.mutable_rdap();
  int asked = 0;
  int failed = 0;
  // A NotFound answer is a fact; other errors are notes.
  auto failure = [&](const Status& s) {
    ++asked;
    if (s.ok() || s.code() == StatusCode::kNotFound) return false;
    ++failed;
    return true;
  };
  for (const EnrichmentFacts::Address& a : facts.addresses) {
    pb::RdapNetwork* n = rdap->add_networks();
    n->set_ip(a.ip);
    n->set_asn(a.asn);
    if (a.network.ok()) {
      n->set_handle(a.network->handle);
      n->set_name(a.network->name);
      n->set_organisation(a.network->organisation);
      n->set_country(a.network->country);
      n->set_abuse_email(a.network->abuse_email);
      n->set_abuse_phone(a.network->abuse_phone);
      n->set_start_address(a.network->start_address);
      n->set_end_address(a.network->end_address);
      n->set_source(a.network->server);
    }
    if (failure(a.network.status())) {
      rdap->add_notes(Note("network of " + a.ip, a.network.status()));
    }
    if (a.asn != 0) {
      if (a.autnum.ok()) {
        n->set_as_name(a.autnum->name);
        n->set_registry_country(a.autnum->country);
        n->set_as_source(a.autnum->server);
      }
      if (failure(a.autnum.status())) {
        rdap->add_notes(Note("AS" + std::to_string(a.asn) + " registry entry",
                             a.autnum.status()));
      }
    }
  }
  if (facts.domain) {
    const Result<rdap::Domain>& d = *facts.domain;
    if (d.ok()) {
      pb::DomainRegistration* reg = enrichment.mutable_registration();
      reg->set_domain(d->name.empty() ? domain : d->name);
      reg->set_registrar(d->registrar);
      reg->set_registrar_country(d->registrar_country);
      reg->set_abuse_email(d->abuse_email);
      reg->set_abuse_phone(d->abuse_phone);
      reg->set_source(d->server);
    }
    if (failure(d.status())) {
      rdap->add_notes(Note("registration of " + domain, d.status()));
    }
  }
  rdap->set_state(failed == 0       ? "complete"
                  : failed == asked ? "unavailable"
                                    : "partial");
  rdap->set_enriched_unix_ms(now_ms);
  rdap->set_bootstrap(facts.bootstrap);
  return enrichment;
}

std::string DescribeBootstrap(const rdap::Bootstrap& bootstrap) {
  std::string out;
  for (rdap::Registry r : rdap::kRegistries) {
    if (!out.empty()) out += ", ";
    out += std::string(rdap::RegistryName(r)) + " " + bootstrap.publication(r);
  }
  return out;
}

Enricher::Enricher(Store* store, rdap::Lookup* lookup, Clock clock,
                   std::string bootstrap)
    : store_(store),
      lookup_(lookup),
      clock_(std::move(clock)),
      bootstrap_(std::move(bootstrap)) {}

Result<Enricher::StepOutcome> Enricher::Step(size_t max) {
  StepOutcome outcome;
  if (auto floor = store_->TakeEnrichmentFloor(); floor && *floor < next_) {
    next_ = *floor;
  }
  const uint64_t purges = store_->PurgeCount();
  auto items = store_->PendingEnrichment(max, next_.first, next_.second);
  if (!items.ok()) return items.status();
  const bool reached_end = items->size() < max;
  std::vector<Store::Enriched> done;
  done.reserve(items->size());
  // The answers of this step by question: results of one network, AS or
  // domain ask once (a cached answer still costs a store read and a JSON
  // parse). Within one step, so no answer outlives the cache's expiry by
  // more than a step.
  std::map<std::string, Result<rdap::Network>> networks;
  std::map<uint32_t, Result<rdap::Autnum>> autnums;
  std::map<std::string, Result<rdap::Domain>> domains;
  const auto ask = [](auto& answers, const auto& question, const auto& lookup) {
    auto it = answers.find(question);
    if (it == answers.end()) it = answers.emplace(question, lookup()).first;
    return it->second;
  };
  for (Store::EnrichmentItem& item : *items) {
    const EnrichmentPlan plan = PlanEnrichment(item.source);
    EnrichmentFacts facts;
    facts.bootstrap = bootstrap_;
    bool deferred = false;
    auto defer = [&](const Status& s) {
      deferred = deferred || s.code() == StatusCode::kResourceExhausted;
    };
    // After a deferral the item's other lookups wait for its next pass too.
    for (const EnrichmentPlan::Address& a : plan.addresses) {
      if (deferred) break;
      EnrichmentFacts::Address facts_a{.ip = a.ip, .asn = a.asn};
      facts_a.network = ask(networks, a.ip, [&] {
        return lookup_->LookupIp(*net::IpAddress::Parse(a.ip));
      });
      defer(facts_a.network.status());
      if (a.asn != 0 && !deferred) {
        facts_a.autnum =
            ask(autnums, a.asn, [&] { return lookup_->LookupAsn(a.asn); });
        defer(facts_a.autnum.status());
      }
      facts.addresses.push_back(std::move(facts_a));
    }
    if (!plan.domain.empty() && !deferred) {
      facts.domain = ask(domains, plan.domain,
                         [&] { return lookup_->LookupDomain(plan.domain); });
      defer(facts.domain->status());
    }
    if (deferred) {
      retry_ = std::min(retry_, std::pair{item.job_id, item.check});
      ++outcome.deferred;
      continue;
    }
    done.push_back({.job_id = item.job_id,
                    .check = item.check,
                    .enrichment = Enrichment(facts, plan.domain, clock_())});
  }
  // Not written: the next step reads the same items again.
  HL_RETURN_IF_ERROR(store_->CompleteEnrichment(done, purges));
  outcome.completed = done.size();
  if (!items->empty()) {
    next_ = {items->back().job_id, items->back().check + 1};
  }
  if (reached_end && retry_ != kNoRetry) {
    next_ = retry_;
    retry_ = kNoRetry;
  }
  return outcome;
}

Result<std::unique_ptr<EnrichmentService>> EnrichmentService::Start(
    Store* store, const Config& config) {
  if (!config.rdap.enabled) return std::unique_ptr<EnrichmentService>();
  auto bootstrap = rdap::Bootstrap::Load(config.rdap.bootstrap_dir);
  if (!bootstrap.ok()) {
    return InvalidArgument(bootstrap.status().message() +
                           " (rdap.bootstrap_dir; `hostlocator rdap refresh` "
                           "writes the files, or set rdap.enabled = false)");
  }
  std::unique_ptr<EnrichmentService> service(new EnrichmentService());
  service->store_ = store;
  service->cache_ = std::make_unique<StoreRdapCache>(store);
  rdap::ClientOptions options;
  options.timeout_ms = config.rdap.timeout_ms;
  options.ttl_ms = int64_t{config.rdap.cache_ttl_s} * 1000;
  options.negative_ttl_ms = int64_t{config.rdap.negative_cache_ttl_s} * 1000;
  options.min_interval_ms = config.rdap.min_interval_ms;
  const std::string description = DescribeBootstrap(*bootstrap);
  service->client_ = std::make_unique<rdap::Client>(
      std::move(bootstrap).value(), service->cache_.get(), SystemClockMs,
      options);
  service->enricher_ = std::make_unique<Enricher>(store, service->client_.get(),
                                                  SystemClockMs, description);
  service->thread_ = std::thread([s = service.get()] { s->Loop(); });
  return service;
}

EnrichmentService::~EnrichmentService() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EnrichmentService::Loop() {
  std::string last_error;
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    auto outcome = enricher_->Step();
    lock.lock();
    std::chrono::milliseconds wait(100);
    if (!outcome.ok()) {
      if (outcome.status().message() != last_error) {
        last_error = outcome.status().message();
        spdlog::warn("RDAP enrichment: {}", last_error);
      }
      wait = std::chrono::milliseconds(1000);
    } else {
      completed_ += outcome->completed;
      if (outcome->completed > 0) continue;
      if (outcome->deferred > 0) wait = std::chrono::milliseconds(20);
    }
    wake_.wait_for(lock, wait, [this] { return stop_; });
  }
}

}  // namespace hl::coordinator
