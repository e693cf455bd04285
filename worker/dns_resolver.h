// Asynchronous DNS over c-ares, driven by an EventLoop (c-ares' socket-state
// callback registers its sockets; a loop timer serves its timeouts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/proto/hostlocator.pb.h"
#include "common/status.h"
#include "worker/event_loop.h"

namespace hl::worker {

namespace pb = ::hostlocator::v1;

// Resolves host names: CNAME chain, A and AAAA with TTLs, every query
// recorded (resolver, rcode, time, raw answer). NXDOMAIN, SERVFAIL and
// timeouts end in DnsObservation.error with classes "nxdomain", "servfail",
// "dns_timeout", "dns_refused", "no_address", "cname_loop" (a loop, or a
// chain of more than kMaxCnameChain CNAMEs), "dns_error" (any other
// failure); never an exception. The error is set only when no address was
// found. One instance per EventLoop (per thread); not thread-safe.
//
// A and AAAA are asked in parallel (recursion desired). When an answer
// ends at a CNAME whose target has no address in it, the target is asked
// again. Each attempt is one DnsQuery, whose resolver is the server that
// attempt went to; a query that times out is sent again until `tries`
// attempts, each with the full `timeout_ms` (no backoff). A truncated UDP
// answer is asked again over TCP (within the same attempt). Every answer
// received is recorded with its raw bytes; a SERVFAIL, REFUSED or NOTIMP
// answer is final; an answer to another question is dropped. At most
// kMaxAddresses addresses are kept (A first); the raw answers keep all.
//
// Each server has its own c-ares channel; an empty server list means the
// servers c-ares reads from the system. resolver.mode "round_robin": each
// new question goes to the next server in turn, a retry to the server
// after the one that timed out. "all": the whole CNAME walk of a host runs
// against every server independently (retries stay on that server); the
// observation is the first server's, with every server's queries appended,
// per_resolver holding each server's sorted addresses or error class, and
// resolvers_disagree set when their address sets (or outcomes) differ. NS
// and PTR questions go round robin in either mode.
//
// At most resolver.max_in_flight (capped at kMaxInFlight) DNS messages are
// in flight; further sends wait in FIFO order and their wait is not part
// of elapsed_us.
class DnsResolver {
 public:
  // Longest CNAME chain followed (targets after the host).
  static constexpr size_t kMaxCnameChain = 16;
  static constexpr size_t kMaxPtrLookups = 16;
  // Addresses kept in an observation, against hostile answers.
  static constexpr size_t kMaxAddresses = 64;
  // Half of a server's message ids, so that a fresh random id is found in
  // two draws on average.
  static constexpr size_t kMaxInFlight = 32768;
  // Receive buffer raised on each UDP socket (RaiseReceiveBuffer), room for
  // bursts of answers to many questions in flight; a warning is logged once
  // per process when the kernel grants less.
  static constexpr int kUdpReceiveBuffer = 1 << 20;

  // Handed over as an rvalue, as Prober::Done.
  using Done = std::function<void(pb::DnsObservation&&)>;
  // Names a question of Resolve or AddNsAndPtr until its `done` runs or it
  // is cancelled; never 0, never reused by this resolver.
  using OpId = uint64_t;

  // Fails (kInvalidArgument) on a server c-ares does not accept or an
  // entry that names more than one.
  // `clock` stamps DnsQuery.sent_unix_ms. `loop` must outlive the resolver.
  static Result<std::unique_ptr<DnsResolver>> Create(
      const ResolverConfig& config, EventLoop* loop, Clock clock);
  // Abandons every question in flight: their callbacks never run, also
  // when called from one of them.
  ~DnsResolver();

  // `done` runs exactly once, on the loop, never inside Resolve (unless
  // the question is cancelled).
  OpId Resolve(const std::string& host, Done done);
  // Asks, all at once, for the NS records of `domain` (skipped when empty)
  // and the PTR record of each of obs.addresses() (at most kMaxPtrLookups),
  // and hands `obs` back with the answers recorded (ns_domain, ns, ptr,
  // queries). Their failures are recorded in `queries`, never as the
  // observation's error. `done` runs as for Resolve.
  OpId AddNsAndPtr(const std::string& domain, pb::DnsObservation obs,
                   Done done);
  // Ends the question `id` now: its `done` never runs; its messages still
  // waiting for a slot are dropped. Its messages in flight give up their
  // slots at once (the next messages waiting are sent); c-ares cannot
  // withdraw one message, so their answers or timeouts, when they come, are
  // dropped unrecorded, never sent again. Returns what the
  // question had learned, as its `done` would have had it, with each
  // message not yet answered recorded in `queries` with rcode "CANCELLED"
  // (resolver "" when it was still waiting). A Resolve cancelled before it
  // ended carries the chain followed so far and no addresses or error
  // (in mode "all", those of the first server's walk when that one had
  // ended), with every server's queries. nullopt for an unknown id or one
  // whose `done` has run.
  std::optional<pb::DnsObservation> Cancel(OpId id);

  // DNS messages in flight and questions waiting for a slot.
  size_t in_flight() const;
  size_t waiting() const;

 private:
  DnsResolver() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hl::worker
