#include <ares.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/prober.h"

namespace hl::worker {
namespace {

constexpr size_t kHeaderSize = 12;

void InitAresOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return s;
}

std::string RcodeName(int rcode) {
  static constexpr std::array<const char*, 11> kNames = {
      "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
      "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rcode >= 0 && rcode < static_cast<int>(kNames.size())) {
    return kNames[rcode];
  }
  return "RCODE" + std::to_string(rcode);
}

// The rcode recorded for an attempt: the answer's header when c-ares handed
// the answer over, else what its status stands for.
std::string RecordedRcode(int status, const std::string& raw) {
  if (status == ARES_SUCCESS && raw.size() >= kHeaderSize) {
    return RcodeName(static_cast<unsigned char>(raw[3]) & 0x0f);
  }
  switch (status) {
    case ARES_ETIMEOUT:
      return "TIMEOUT";
    case ARES_ESERVFAIL:
      return "SERVFAIL";
    case ARES_EREFUSED:
      return "REFUSED";
    case ARES_ENOTFOUND:
      return "NXDOMAIN";
    case ARES_ENODATA:
      return "NOERROR";
    case ARES_ENOTIMP:
      return "NOTIMP";
    case ARES_EFORMERR:
      return "FORMERR";
    case ARES_ECONNREFUSED:
      return "CONNREFUSED";
    default:
      return "ERROR";
  }
}

// "" for an rcode that is not a failure.
std::string ErrorClassForRcode(const std::string& rcode) {
  if (rcode == "NOERROR") return "";
  if (rcode == "NXDOMAIN") return "nxdomain";
  if (rcode == "SERVFAIL") return "servfail";
  if (rcode == "REFUSED") return "dns_refused";
  if (rcode == "TIMEOUT") return "dns_timeout";
  return "dns_error";
}

std::string TypeName(int type) {
  switch (type) {
    case ns_t_a:
      return "A";
    case ns_t_aaaa:
      return "AAAA";
    case ns_t_ns:
      return "NS";
    case ns_t_ptr:
      return "PTR";
  }
  return std::to_string(type);
}

// The name under which the PTR record of `ip` lives (RFC 1035 3.5,
// RFC 3596 2.5).
std::string ReverseName(const net::IpAddress& ip) {
  std::string name;
  const uint8_t* b = ip.bytes();
  if (ip.is_v4()) {
    for (int i = 3; i >= 0; --i) name += std::to_string(b[i]) + ".";
    return name + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    name += kHex[b[i] & 0xf];
    name += '.';
    name += kHex[b[i] >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

struct AddressRecord {
  std::string owner;  // lower case
  net::IpAddress ip;
  uint32_t ttl = 0;
};

struct ParsedAnswer {
  // (owner, target), lower case, in answer order.
  std::vector<std::pair<std::string, std::string>> cnames;
  std::vector<AddressRecord> addresses;  // of the queried type, any owner
  // (owner, name) of the queried type when it carries a name (NS, PTR).
  std::vector<std::pair<std::string, std::string>> names;
};

uint16_t Read16(const unsigned char* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t Read32(const unsigned char* p) {
  return (static_cast<uint32_t>(p[0]) << 24) |
         (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

// Reads the (possibly compressed) name at `*pos`, advancing past it.
std::optional<std::string> ReadName(const std::string& msg, size_t* pos) {
  const auto* base = reinterpret_cast<const unsigned char*>(msg.data());
  if (*pos >= msg.size()) return std::nullopt;
  char* name = nullptr;
  long encoded_len = 0;
  if (ares_expand_name(base + *pos, base, static_cast<int>(msg.size()), &name,
                       &encoded_len) != ARES_SUCCESS) {
    return std::nullopt;
  }
  std::string result = Lower(name);
  ares_free_string(name);
  *pos += static_cast<size_t>(encoded_len);
  return result;
}

// The CNAME and `type` records of the answer section; nullopt when the
// message is malformed or does not answer the one question (`name`, `type`,
// IN).
std::optional<ParsedAnswer> ParseAnswer(const std::string& msg,
                                        const std::string& name, int type) {
  if (msg.size() < kHeaderSize) return std::nullopt;
  const auto* base = reinterpret_cast<const unsigned char*>(msg.data());
  const uint16_t qdcount = Read16(base + 4);
  const uint16_t ancount = Read16(base + 6);
  size_t pos = kHeaderSize;
  if (qdcount != 1) return std::nullopt;
  std::optional<std::string> question = ReadName(msg, &pos);
  if (!question || pos + 4 > msg.size() || *question != Lower(name) ||
      Read16(base + pos) != type || Read16(base + pos + 2) != ns_c_in) {
    return std::nullopt;
  }
  pos += 4;
  ParsedAnswer parsed;
  for (uint16_t i = 0; i < ancount; ++i) {
    std::optional<std::string> owner = ReadName(msg, &pos);
    if (!owner || pos + 10 > msg.size()) return std::nullopt;
    const uint16_t rr_type = Read16(base + pos);
    const uint16_t rr_class = Read16(base + pos + 2);
    // RFC 2181 section 8: a TTL with the most significant bit set means 0.
    const uint32_t raw_ttl = Read32(base + pos + 4);
    const uint32_t ttl = raw_ttl > 0x7fffffffu ? 0 : raw_ttl;
    const uint16_t rdlength = Read16(base + pos + 8);
    pos += 10;
    if (pos + rdlength > msg.size()) return std::nullopt;
    const size_t rdata = pos;
    pos += rdlength;
    if (rr_class != ns_c_in) continue;
    if (rr_type == ns_t_cname) {
      size_t target_pos = rdata;
      std::optional<std::string> target = ReadName(msg, &target_pos);
      if (!target || target_pos != pos) return std::nullopt;
      parsed.cnames.emplace_back(*owner, *target);
    } else if (rr_type == type && (type == ns_t_ns || type == ns_t_ptr)) {
      size_t target_pos = rdata;
      std::optional<std::string> target = ReadName(msg, &target_pos);
      if (!target || target_pos != pos) return std::nullopt;
      parsed.names.emplace_back(*owner, *target);
    } else if (rr_type == type && type == ns_t_a) {
      if (rdlength != 4) return std::nullopt;
      std::array<uint8_t, 4> bytes;
      std::memcpy(bytes.data(), base + rdata, 4);
      parsed.addresses.push_back({*owner, net::IpAddress::V4(bytes), ttl});
    } else if (rr_type == type && type == ns_t_aaaa) {
      if (rdlength != 16) return std::nullopt;
      std::array<uint8_t, 16> bytes;
      std::memcpy(bytes.data(), base + rdata, 16);
      parsed.addresses.push_back({*owner, net::IpAddress::V6(bytes), ttl});
    }
  }
  return parsed;
}

// A CNAME chain followed through one answer from the chain's last name.
struct Walk {
  std::vector<std::string> chain;
  std::string loop_error;  // set when the chain loops or grows too long
};

Walk FollowCnames(std::vector<std::string> chain, const ParsedAnswer& answer) {
  Walk walk{std::move(chain), ""};
  for (;;) {
    const std::string& current = walk.chain.back();
    auto next =
        std::find_if(answer.cnames.begin(), answer.cnames.end(),
                     [&](const auto& cname) { return cname.first == current; });
    if (next == answer.cnames.end()) return walk;
    const std::string& target = next->second;
    if (std::find(walk.chain.begin(), walk.chain.end(), target) !=
        walk.chain.end()) {
      walk.loop_error = "CNAME loop: " + current + " points back to " + target;
      return walk;
    }
    if (walk.chain.size() > DnsResolver::kMaxCnameChain) {
      walk.loop_error = "CNAME chain longer than " +
                        std::to_string(DnsResolver::kMaxCnameChain) +
                        " names after " + walk.chain.front();
      return walk;
    }
    walk.chain.push_back(target);
  }
}

std::vector<AddressRecord> OwnedBy(const ParsedAnswer& answer,
                                   const std::string& owner) {
  std::vector<AddressRecord> owned;
  for (const AddressRecord& record : answer.addresses) {
    if (record.owner == owner) owned.push_back(record);
  }
  return owned;
}

std::string FormatServer(const ares_addr_port_node& node) {
  const int port = node.udp_port != 0 ? node.udp_port : NAMESERVER_PORT;
  if (node.family == AF_INET6) {
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &node.addr.addr6, 16);
    return "[" + net::IpAddress::V6(bytes).ToString() +
           "]:" + std::to_string(port);
  }
  std::array<uint8_t, 4> bytes;
  std::memcpy(bytes.data(), &node.addr.addr4, 4);
  return net::IpAddress::V4(bytes).ToString() + ":" + std::to_string(port);
}

}  // namespace

struct DnsResolver::Impl {
  // One question, sent until it gets an answer or runs out of tries.
  struct Query {
    Query(Impl* impl, std::string name, int type)
        : impl(impl), name(std::move(name)), type(type) {}

    Impl* impl;
    std::string name;
    int type;
    uint16_t id = 0;  // of the attempt in flight
    uint32_t attempts = 0;
    int64_t sent_unix_ms = 0;
    std::chrono::steady_clock::time_point sent;
    std::vector<pb::DnsQuery> records;  // one per attempt
    bool done = false;
    int status = ARES_SUCCESS;
    std::string raw;  // the final answer, when c-ares handed it over
    std::string rcode;
  };

  ~Impl() {
    if (channel != nullptr) ares_destroy(channel);
  }

  void Send(Query* query);
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf,
                       int alen);
  // Drives the channel until every query in `queries` is done.
  void Run(const std::vector<Query*>& queries);

  ares_channel channel = nullptr;
  std::string resolver;
  uint32_t tries = 1;
  Clock clock;
  std::random_device id_source;
  std::set<uint16_t> in_flight;  // message ids
};

void DnsResolver::Impl::Send(Query* query) {
  unsigned char* request = nullptr;
  int request_len = 0;
  ++query->attempts;
  query->sent_unix_ms = clock();
  query->sent = std::chrono::steady_clock::now();
  // ares_send keeps the message's id: it must be unpredictable (against
  // spoofed answers) and unique among the queries in flight.
  do {
    query->id = static_cast<uint16_t>(id_source());
  } while (in_flight.contains(query->id));
  in_flight.insert(query->id);
  const int status =
      ares_create_query(query->name.c_str(), ns_c_in, query->type, query->id,
                        /*rd=*/1, &request, &request_len, 0);
  if (status != ARES_SUCCESS) {
    OnAnswer(query, status, 0, nullptr, 0);
    return;
  }
  ares_send(channel, request, request_len, &Impl::OnAnswer, query);
  ares_free_string(request);
}

void DnsResolver::Impl::OnAnswer(void* arg, int status, int /*timeouts*/,
                                 unsigned char* abuf, int alen) {
  auto* query = static_cast<Query*>(arg);
  Impl* impl = query->impl;
  impl->in_flight.erase(query->id);
  std::string raw;
  if (abuf != nullptr && alen > 0) {
    raw.assign(reinterpret_cast<const char*>(abuf), static_cast<size_t>(alen));
  }
  pb::DnsQuery& record = query->records.emplace_back();
  record.set_name(query->name);
  record.set_type(TypeName(query->type));
  record.set_resolver(impl->resolver);
  record.set_rcode(RecordedRcode(status, raw));
  record.set_sent_unix_ms(query->sent_unix_ms);
  record.set_elapsed_us(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - query->sent)
          .count()));
  record.set_raw_answer(raw);
  if (status == ARES_ETIMEOUT && query->attempts < impl->tries) {
    impl->Send(query);
    return;
  }
  query->done = true;
  query->status = status;
  query->rcode = record.rcode();
  query->raw = std::move(raw);
}

void DnsResolver::Impl::Run(const std::vector<Query*>& queries) {
  auto all_done = [&] {
    return std::all_of(queries.begin(), queries.end(),
                       [](const Query* q) { return q->done; });
  };
  while (!all_done()) {
    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks;
    const int mask = ares_getsock(channel, socks.data(), ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(mask, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(mask, i)) events |= POLLOUT;
      if (events != 0) fds.push_back({socks[i], events, 0});
    }
    timeval tv{};
    ares_timeout(channel, nullptr, &tv);
    const int timeout_ms =
        static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    const int ready = poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      continue;
    }
    for (const pollfd& fd : fds) {
      if (fd.revents == 0) continue;
      const bool readable = (fd.revents & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (fd.revents & POLLOUT) != 0;
      ares_process_fd(channel, readable ? fd.fd : ARES_SOCKET_BAD,
                      writable ? fd.fd : ARES_SOCKET_BAD);
    }
  }
}

Result<std::unique_ptr<DnsResolver>> DnsResolver::Create(
    const ResolverConfig& config, Clock clock) {
  InitAresOnce();
  auto impl = std::make_unique<Impl>();
  impl->tries = std::max<uint32_t>(config.tries, 1);
  impl->clock = std::move(clock);
  // c-ares gets one try per server: its own retries double the timeout on
  // every round, so Impl::OnAnswer retries instead. NOCHECKRESP hands over
  // SERVFAIL, REFUSED and NOTIMP answers, which c-ares 1.18 otherwise turns
  // into ARES_ECONNREFUSED without the message. c-ares still drops answers
  // to another question than the one sent (ParseAnswer checks it again).
  ares_options options{};
  options.flags = ARES_FLAG_NOCHECKRESP;
  options.timeout = static_cast<int>(config.timeout_ms);
  options.tries = 1;
  int status =
      ares_init_options(&impl->channel, &options,
                        ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (status != ARES_SUCCESS) {
    return Internal(std::string("c-ares initialisation failed: ") +
                    ares_strerror(status));
  }
  if (!config.servers.empty()) {
    std::string csv;
    for (const std::string& server : config.servers) {
      if (!csv.empty()) csv += ',';
      csv += server;
    }
    status = ares_set_servers_ports_csv(impl->channel, csv.c_str());
    if (status != ARES_SUCCESS) {
      return InvalidArgument("resolver servers \"" + csv +
                             "\" not accepted: " + ares_strerror(status));
    }
  }
  ares_addr_port_node* servers = nullptr;
  status = ares_get_servers_ports(impl->channel, &servers);
  if (status != ARES_SUCCESS) {
    return Internal(std::string("c-ares server list unavailable: ") +
                    ares_strerror(status));
  }
  for (const ares_addr_port_node* node = servers; node != nullptr;
       node = node->next) {
    if (!impl->resolver.empty()) impl->resolver += ',';
    impl->resolver += FormatServer(*node);
  }
  ares_free_data(servers);
  std::unique_ptr<DnsResolver> resolver(new DnsResolver());
  resolver->impl_ = std::move(impl);
  return resolver;
}

DnsResolver::~DnsResolver() = default;

void DnsResolver::AddNsAndPtr(const std::string& domain,
                              pb::DnsObservation* obs) {
  std::vector<std::unique_ptr<Impl::Query>> queries;
  if (!domain.empty()) {
    obs->set_ns_domain(domain);
    queries.push_back(
        std::make_unique<Impl::Query>(impl_.get(), Lower(domain), ns_t_ns));
  }
  std::vector<std::string> ips;
  for (const pb::DnsAddress& address : obs->addresses()) {
    if (ips.size() == kMaxPtrLookups) break;
    std::optional<net::IpAddress> ip = net::IpAddress::Parse(address.ip());
    if (!ip) continue;
    ips.push_back(ip->ToString());
    queries.push_back(
        std::make_unique<Impl::Query>(impl_.get(), ReverseName(*ip), ns_t_ptr));
  }
  std::vector<Impl::Query*> pending;
  for (auto& query : queries) {
    impl_->Send(query.get());
    pending.push_back(query.get());
  }
  impl_->Run(pending);

  size_t next_ip = 0;
  for (const auto& query : queries) {
    for (const pb::DnsQuery& record : query->records) {
      *obs->add_queries() = record;
    }
    std::vector<std::string> names;
    if (query->status == ARES_SUCCESS) {
      if (std::optional<ParsedAnswer> parsed =
              ParseAnswer(query->raw, query->name, query->type)) {
        // Names owned by the question itself (a CNAME in front of a PTR
        // is followed within the answer only).
        const Walk walk = FollowCnames({query->name}, *parsed);
        for (const auto& [owner, name] : parsed->names) {
          if (owner == walk.chain.back()) names.push_back(name);
        }
      }
    }
    if (query->type == ns_t_ns) {
      for (const std::string& name : names) obs->add_ns(name);
    } else {
      pb::PtrRecord* ptr = obs->add_ptr();
      ptr->set_ip(ips[next_ip++]);
      for (const std::string& name : names) ptr->add_names(name);
    }
  }
}

pb::DnsObservation DnsResolver::Resolve(const std::string& host) {
  pb::DnsObservation obs;
  std::vector<std::string> chain = {Lower(host)};
  auto fail = [&](std::string error_class, std::string message) {
    for (const std::string& name : chain) obs.add_cname_chain(name);
    obs.mutable_error()->set_error_class(std::move(error_class));
    obs.mutable_error()->set_message(std::move(message));
    return obs;
  };
  for (;;) {
    const std::string name = chain.back();
    Impl::Query a_query(impl_.get(), name, ns_t_a);
    Impl::Query aaaa_query(impl_.get(), name, ns_t_aaaa);
    impl_->Send(&a_query);
    impl_->Send(&aaaa_query);
    impl_->Run({&a_query, &aaaa_query});
    for (const Impl::Query* query : {&a_query, &aaaa_query}) {
      for (const pb::DnsQuery& record : query->records) {
        *obs.add_queries() = record;
      }
    }

    struct Outcome {
      const Impl::Query* query = nullptr;
      bool malformed = false;
      std::optional<Walk> walk;              // when the answer parsed
      std::vector<AddressRecord> addresses;  // owned by the walk's last name
    };
    auto evaluate = [&chain](const Impl::Query& query) {
      Outcome outcome;
      outcome.query = &query;
      if (query.status != ARES_SUCCESS) return outcome;
      std::optional<ParsedAnswer> parsed =
          ParseAnswer(query.raw, query.name, query.type);
      if (!parsed) {
        outcome.malformed = true;
        return outcome;
      }
      outcome.walk = FollowCnames(chain, *parsed);
      outcome.addresses = OwnedBy(*parsed, outcome.walk->chain.back());
      return outcome;
    };
    Outcome a = evaluate(a_query);
    Outcome aaaa = evaluate(aaaa_query);
    // The chain is that of the answer with addresses, A first, else the
    // longer one; AAAA records under another final name than the A
    // answer's are not used.
    const Outcome* source = nullptr;
    if (!a.addresses.empty()) {
      source = &a;
    } else if (!aaaa.addresses.empty()) {
      source = &aaaa;
    } else if (a.walk && (!aaaa.walk ||
                          a.walk->chain.size() >= aaaa.walk->chain.size())) {
      source = &a;
    } else if (aaaa.walk) {
      source = &aaaa;
    }
    if (source == &a && aaaa.walk &&
        aaaa.walk->chain.back() != a.walk->chain.back()) {
      aaaa.addresses.clear();
    }
    if (source != nullptr) chain = source->walk->chain;

    // Addresses win over a loop in the other answer: the error is set only
    // when no address was found, so a looping AAAA answer cannot hide the A
    // records (nor the other way round).
    if (!a.addresses.empty() || !aaaa.addresses.empty()) {
      for (const std::string& owner : chain) obs.add_cname_chain(owner);
      for (const Outcome* outcome : {&a, &aaaa}) {
        for (const AddressRecord& record : outcome->addresses) {
          pb::DnsAddress* address = obs.add_addresses();
          address->set_ip(record.ip.ToString());
          address->set_ttl(record.ttl);
        }
      }
      return obs;
    }
    for (const Outcome* outcome : {&a, &aaaa}) {
      if (outcome->walk && !outcome->walk->loop_error.empty()) {
        return fail("cname_loop", outcome->walk->loop_error);
      }
    }
    if (a_query.rcode == "NXDOMAIN" || aaaa_query.rcode == "NXDOMAIN") {
      return fail("nxdomain", chain.back() + " does not exist (NXDOMAIN)");
    }
    if (chain.back() != name && source->query->rcode == "NOERROR") continue;
    for (const Outcome* outcome : {&a, &aaaa}) {
      const Impl::Query& query = *outcome->query;
      const std::string question =
          query.name + (query.type == ns_t_a ? " A" : " AAAA");
      if (outcome->malformed) {
        return fail("dns_error", "malformed answer to " + question + " from " +
                                     impl_->resolver);
      }
      const std::string error_class = ErrorClassForRcode(query.rcode);
      if (!error_class.empty()) {
        std::string message =
            query.rcode + " for " + question + " from " + impl_->resolver;
        if (query.status != ARES_SUCCESS) {
          message += std::string(" (") + ares_strerror(query.status) + ")";
        }
        return fail(error_class, message);
      }
    }
    return fail("no_address", chain.back() + " has no A or AAAA record");
  }
}

}  // namespace hl::worker
