#include "worker/dns_resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bitset>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/ascii.h"
#include "common/net/ip.h"
#include "worker/receive_buffer.h"

namespace hl::worker {
namespace {

constexpr size_t kHeaderSize = 12;

void InitAresOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
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
  std::string result = ToLowerAscii(name);
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
  // ReadName lower-cases: the question compares without a lower-cased copy.
  if (!question || pos + 4 > msg.size() ||
      !EqualsIgnoreCaseAscii(*question, name) || Read16(base + pos) != type ||
      Read16(base + pos + 2) != ns_c_in) {
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

// Raises each UDP socket's receive buffer, so that bursts of answers to
// many questions in flight are not dropped by the kernel; says once per
// process when the kernel grants less. Never fails the socket.
int ConfigureSocket(ares_socket_t fd, int type, void* /*data*/) {
  if (type != SOCK_DGRAM) return 0;
  const Result<ReceiveBuffer> buffer =
      RaiseReceiveBuffer(fd, DnsResolver::kUdpReceiveBuffer);
  static std::atomic<bool> warned{false};
  if (buffer.ok() && buffer->granted < buffer->asked &&
      !warned.exchange(true)) {
    spdlog::warn(
        "DNS: {}; until then the kernel may drop answers to hundreds of "
        "questions in flight, each then asked again",
        ReceiveBufferShortfall(*buffer));
  }
  return 0;
}

// Unpredictable message ids (against spoofed answers), drawn from the
// kernel in batches.
class IdSource {
 public:
  uint16_t Next() {
    if (next_ == pool_.size()) Refill();
    return pool_[next_++];
  }

 private:
  void Refill() {
    auto* bytes = reinterpret_cast<char*>(pool_.data());
    size_t filled = 0;
    while (filled < sizeof(pool_)) {
      const ssize_t n = getrandom(bytes + filled, sizeof(pool_) - filled, 0);
      if (n > 0) {
        filled += static_cast<size_t>(n);
      } else if (errno != EINTR) {
        std::random_device device;
        for (uint16_t& id : pool_) id = static_cast<uint16_t>(device());
        break;
      }
    }
    next_ = 0;
  }

  std::array<uint16_t, 256> pool_{};
  size_t next_ = pool_.size();
};

constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

}  // namespace

struct DnsResolver::Impl {
  // Told when one of its queries is done (answered, failed, or out of
  // tries).
  class Listener {
   public:
    virtual void QueryDone() = 0;

   protected:
    ~Listener() = default;
  };

  // One c-ares channel with one server (tries=1: Impl retries).
  struct Channel {
    Impl* impl;
    ares_channel channel = nullptr;
    std::string address;                // "address:port"
    std::bitset<65536> ids;             // of its messages in flight
    int64_t deadline_ms = kNoDeadline;  // of its next timeout, loop clock
    bool dirty = false;  // a c-ares call ran since deadline_ms was read
  };

  struct Op;

  // One question, sent until it gets an answer or runs out of tries.
  struct Query {
    // kAbandoned: in flight when its question was cancelled; its slot is
    // free already and its answer or timeout is dropped.
    enum class State { kIdle, kWaiting, kInFlight, kAbandoned, kDone };

    Query(Impl* impl, Op* op, Listener* listener, std::string name, int type,
          std::optional<size_t> pinned)
        : impl(impl),
          op(op),
          listener(listener),
          name(std::move(name)),
          type(type),
          pinned(pinned) {}

    Impl* impl;
    Op* op;  // the API question it belongs to
    Listener* listener;
    State state = State::kIdle;
    std::string name;
    int type;
    std::optional<size_t> pinned;  // the channel of every attempt
    size_t channel = 0;            // of the latest attempt
    uint16_t id = 0;               // of the attempt in flight
    uint32_t attempts = 0;
    int64_t sent_unix_ms = 0;
    std::chrono::steady_clock::time_point sent;
    // One per attempt; the last one holds the final answer's raw bytes.
    std::vector<pb::DnsQuery> records;
    int status = ARES_SUCCESS;  // of the last attempt

    const std::string& rcode() const { return records.back().rcode(); }
    const std::string& raw() const { return records.back().raw_answer(); }
  };

  // A question of the API: its answer and callback once finished.
  struct Op {
    virtual ~Op() = default;
    // Every message of the question, those already answered included.
    virtual std::vector<Query*> Queries() = 0;
    // What the question learned so far, as Cancel hands it back.
    virtual pb::DnsObservation TakePartial() = 0;

    OpId id = 0;
    size_t slot = 0;        // index in Impl::ops
    bool finished = false;  // in Impl::finished: `result` is complete
    bool cancelled = false;
    // Messages in flight when it was cancelled whose answer or timeout
    // c-ares has not reported yet: they still point into this op.
    size_t abandoned = 0;
    Done done;  // empty once cancelled
    pb::DnsObservation result;
  };

  struct Resolution;
  struct ResolveOp;
  struct NsPtrOp;

  ~Impl();

  size_t PickChannel(const Query& query);
  // Whether one more message may be sent now.
  bool SlotFree() const;
  // Sends `query` now, or queues it when max_in_flight messages are out.
  void Send(Query* query);
  void Transmit(Query* query);
  // Starts queued queries while slots are free.
  void Pump();
  static void OnAnswer(void* arg, int status, int timeouts, unsigned char* abuf,
                       int alen);
  static void OnSocketState(void* data, ares_socket_t fd, int readable,
                            int writable);
  void MarkDirty(Channel* channel);
  void ScheduleFlush();
  // Re-arms the timer and runs the callbacks of finished ops.
  void Flush();
  void RearmTimer();
  void OnTimer();
  // Adds a channel whose one server is set by `set_server` (a c-ares
  // status); `server` names it in errors.
  Status AddChannel(uint32_t timeout_ms,
                    const std::function<int(ares_channel)>& set_server,
                    const std::string& server);
  template <typename T>
  T* Adopt(std::unique_ptr<T> op);
  // Moves `op` to the callbacks to run.
  void Finish(Op* op);
  std::optional<pb::DnsObservation> Cancel(OpId id);
  void FinishResolve(ResolveOp* op);

  EventLoop* loop = nullptr;
  Clock clock;
  ResolverMode mode = ResolverMode::kRoundRobin;
  uint32_t tries = 1;
  size_t max_in_flight = 1;
  std::vector<std::unique_ptr<Channel>> channels;
  size_t next_channel = 0;
  IdSource id_source;
  size_t in_flight = 0;
  size_t abandoned = 0;  // messages of cancelled questions c-ares still has
  std::deque<Query*> waiting;
  bool pumping = false;  // Pump is running (see there)
  // An op is freed only by Flush (or with the resolver), never while a
  // c-ares callback into one of its queries is on the stack.
  std::vector<std::unique_ptr<Op>> ops;       // in progress
  std::vector<std::unique_ptr<Op>> finished;  // callbacks to run
  // The ops whose `done` has not run and that are not cancelled.
  std::unordered_map<OpId, Op*> by_id;
  OpId next_op_id = 1;
  EventLoop::TimerId timer = 0;
  bool flush_scheduled = false;
  // Expires with the resolver; deferred calls check it.
  std::shared_ptr<char> alive = std::make_shared<char>();
};

DnsResolver::Impl::~Impl() {
  if (timer != 0) loop->Cancel(timer);
  // ares_destroy reports every query with ARES_EDESTRUCTION, which OnAnswer
  // ignores, and closes the sockets (OnSocketState unwatches them).
  for (const auto& channel : channels) {
    if (channel->channel != nullptr) ares_destroy(channel->channel);
  }
}

size_t DnsResolver::Impl::PickChannel(const Query& query) {
  if (query.pinned) return *query.pinned;
  if (query.attempts > 1) return (query.channel + 1) % channels.size();
  const size_t picked = next_channel;
  next_channel = (next_channel + 1) % channels.size();
  return picked;
}

bool DnsResolver::Impl::SlotFree() const {
  // Abandoned messages hold no slot but still hold their ids: together
  // they stay under half of a channel's ids (see Transmit).
  return in_flight < max_in_flight && in_flight + abandoned < kMaxInFlight;
}

void DnsResolver::Impl::Send(Query* query) {
  if (waiting.empty() && SlotFree()) {
    Transmit(query);
  } else {
    query->state = Query::State::kWaiting;
    waiting.push_back(query);
  }
}

void DnsResolver::Impl::Pump() {
  // c-ares may answer a send at once (a failed write calls back inside
  // ares_send, which pumps again): the outer call keeps going instead, so
  // the stack does not grow with the number of questions waiting.
  if (pumping) return;
  pumping = true;
  while (!waiting.empty() && SlotFree()) {
    Query* query = waiting.front();
    waiting.pop_front();
    Transmit(query);
  }
  pumping = false;
}

void DnsResolver::Impl::Transmit(Query* query) {
  ++in_flight;
  query->state = Query::State::kInFlight;
  ++query->attempts;
  query->channel = PickChannel(*query);
  Channel& channel = *channels[query->channel];
  query->sent_unix_ms = clock();
  query->sent = std::chrono::steady_clock::now();
  // ares_send keeps the message's id: it must be unpredictable and unique
  // among the channel's messages in flight, abandoned ones included (fewer
  // than half of the ids: SlotFree).
  do {
    query->id = id_source.Next();
  } while (channel.ids.test(query->id));
  channel.ids.set(query->id);
  unsigned char* request = nullptr;
  int request_len = 0;
  const int status =
      ares_create_query(query->name.c_str(), ns_c_in, query->type, query->id,
                        /*rd=*/1, &request, &request_len, 0);
  if (status != ARES_SUCCESS) {
    OnAnswer(query, status, 0, nullptr, 0);
    return;
  }
  ares_send(channel.channel, request, request_len, &Impl::OnAnswer, query);
  ares_free_string(request);
  MarkDirty(&channel);
}

void DnsResolver::Impl::OnAnswer(void* arg, int status, int /*timeouts*/,
                                 unsigned char* abuf, int alen) {
  if (status == ARES_EDESTRUCTION) return;  // ~Impl: nothing is reported
  auto* query = static_cast<Query*>(arg);
  Impl* impl = query->impl;
  Channel& channel = *impl->channels[query->channel];
  channel.ids.reset(query->id);
  if (query->state == Query::State::kAbandoned) {
    // Its slot was given up when its question was cancelled.
    query->state = Query::State::kDone;
    --impl->abandoned;
    Op* op = query->op;
    if (--op->abandoned == 0) impl->Finish(op);
    impl->Pump();
    return;
  }
  --impl->in_flight;
  query->state = Query::State::kDone;
  pb::DnsQuery& record = query->records.emplace_back();
  if (abuf != nullptr && alen > 0) {
    record.set_raw_answer(reinterpret_cast<const char*>(abuf),
                          static_cast<size_t>(alen));
  }
  record.set_name(query->name);
  record.set_type(TypeName(query->type));
  record.set_resolver(channel.address);
  record.set_rcode(RecordedRcode(status, record.raw_answer()));
  record.set_sent_unix_ms(query->sent_unix_ms);
  record.set_elapsed_us(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - query->sent)
          .count()));
  query->status = status;
  if (status == ARES_ETIMEOUT && query->attempts < impl->tries) {
    impl->Send(query);
  } else {
    query->listener->QueryDone();
  }
  impl->Pump();
}

void DnsResolver::Impl::OnSocketState(void* data, ares_socket_t fd,
                                      int readable, int writable) {
  auto* channel = static_cast<Channel*>(data);
  EventLoop* loop = channel->impl->loop;
  if (!readable && !writable) {
    loop->Unwatch(fd);
    return;
  }
  const uint32_t interest =
      (readable ? EventLoop::kRead : 0u) | (writable ? EventLoop::kWrite : 0u);
  // Should the loop refuse the socket, its queries end at their timeout.
  (void)loop->Watch(fd, interest, [channel, fd](uint32_t ready) {
    ares_process_fd(channel->channel,
                    (ready & EventLoop::kRead) ? fd : ARES_SOCKET_BAD,
                    (ready & EventLoop::kWrite) ? fd : ARES_SOCKET_BAD);
    channel->impl->MarkDirty(channel);
  });
}

void DnsResolver::Impl::MarkDirty(Channel* channel) {
  channel->dirty = true;
  ScheduleFlush();
}

void DnsResolver::Impl::ScheduleFlush() {
  if (flush_scheduled) return;
  flush_scheduled = true;
  loop->Defer([this, alive = std::weak_ptr<char>(alive)] {
    if (!alive.expired()) Flush();
  });
}

void DnsResolver::Impl::Flush() {
  flush_scheduled = false;
  RearmTimer();
  std::vector<std::unique_ptr<Op>> batch;
  batch.swap(finished);
  const std::weak_ptr<char> still_alive = alive;
  for (const auto& op : batch) {
    // A cancelled op, or one cancelled by an earlier callback of the batch.
    if (!op->done) continue;
    by_id.erase(op->id);
    Done done = std::move(op->done);
    done(std::move(op->result));
    // A callback may destroy the resolver: the others are abandoned.
    if (still_alive.expired()) return;
  }
}

void DnsResolver::Impl::RearmTimer() {
  // Every message waits timeout_ms from its sending, so no deadline c-ares
  // has now comes before an armed timer's: the timer stays (answers move
  // the earliest deadline on with nearly every message, and ares_timeout
  // walks every message in flight). Firing early, it finds nothing due and
  // arms again for the earliest deadline then.
  if (timer != 0) return;
  int64_t deadline = kNoDeadline;
  const int64_t now = loop->Now();
  for (const auto& channel : channels) {
    if (channel->dirty) {
      channel->dirty = false;
      timeval tv{};
      // At least 1 ms: c-ares 1.18 truncates what is left to whole
      // milliseconds, so "0" may mean a deadline still a fraction of a
      // millisecond away, and a timer at once would spin until it passes.
      channel->deadline_ms =
          ares_timeout(channel->channel, nullptr, &tv) == nullptr
              ? kNoDeadline
              : now + std::max<int64_t>(
                          1, tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    }
    deadline = std::min(deadline, channel->deadline_ms);
  }
  if (deadline == kNoDeadline) return;
  timer = loop->After(deadline - now, [this] { OnTimer(); });
}

void DnsResolver::Impl::OnTimer() {
  timer = 0;
  // Every channel, also those whose deadline_ms is stale (messages sent
  // while the timer was armed): each is read again before the next timer.
  for (const auto& channel : channels) {
    ares_process_fd(channel->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    MarkDirty(channel.get());
  }
}

Status DnsResolver::Impl::AddChannel(
    uint32_t timeout_ms, const std::function<int(ares_channel)>& set_server,
    const std::string& server) {
  auto owned = std::make_unique<Channel>();
  owned->impl = this;
  // c-ares gets one try per channel: its own retries double the timeout on
  // every round, so OnAnswer retries instead. NOCHECKRESP hands over
  // SERVFAIL, REFUSED and NOTIMP answers, which c-ares 1.18 otherwise turns
  // into ARES_ECONNREFUSED without the message. c-ares still drops answers
  // to another question than the one sent (ParseAnswer checks it again).
  // No server, search domain, sort list, ndots or lookup order is left
  // for the system to fill in, so c-ares reads neither /etc/resolv.conf
  // nor nsswitch.conf nor /etc/hosts: the only server is `set_server`'s.
  char dns_only[] = "b";
  ares_options options{};
  options.flags = ARES_FLAG_NOCHECKRESP;
  options.timeout = static_cast<int>(timeout_ms);
  options.tries = 1;
  options.ndots = 1;
  options.lookups = dns_only;
  options.sock_state_cb = &Impl::OnSocketState;
  options.sock_state_cb_data = owned.get();
  int status = ares_init_options(
      &owned->channel, &options,
      ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
          ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_SORTLIST |
          ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB);
  if (status != ARES_SUCCESS) {
    return Internal(std::string("c-ares initialisation failed: ") +
                    ares_strerror(status));
  }
  Channel& channel = *channels.emplace_back(std::move(owned));
  ares_set_socket_configure_callback(channel.channel, &ConfigureSocket,
                                     nullptr);
  status = set_server(channel.channel);
  ares_addr_port_node* servers = nullptr;
  if (status == ARES_SUCCESS) {
    status = ares_get_servers_ports(channel.channel, &servers);
  }
  if (status == ARES_SUCCESS && (servers == nullptr || servers->next)) {
    status = ARES_EBADSTR;  // not exactly one server
  }
  if (status == ARES_SUCCESS) channel.address = FormatServer(*servers);
  ares_free_data(servers);
  if (status != ARES_SUCCESS) {
    return InvalidArgument("resolver server \"" + server +
                           "\" not accepted: " + ares_strerror(status));
  }
  return Status::Ok();
}

template <typename T>
T* DnsResolver::Impl::Adopt(std::unique_ptr<T> op) {
  op->slot = ops.size();
  op->id = next_op_id++;
  T* raw = op.get();
  by_id.emplace(raw->id, raw);
  ops.push_back(std::move(op));
  return raw;
}

void DnsResolver::Impl::Finish(Op* op) {
  const size_t slot = op->slot;
  op->finished = true;
  finished.push_back(std::move(ops[slot]));
  if (slot + 1 != ops.size()) {
    ops[slot] = std::move(ops.back());
    ops[slot]->slot = slot;
  }
  ops.pop_back();
  ScheduleFlush();
}

std::optional<pb::DnsObservation> DnsResolver::Impl::Cancel(OpId id) {
  auto found = by_id.find(id);
  if (found == by_id.end()) return std::nullopt;
  Op* op = found->second;
  by_id.erase(found);
  op->done = nullptr;
  if (op->finished) return std::move(op->result);
  op->cancelled = true;
  std::erase_if(waiting, [op](const Query* query) { return query->op == op; });
  for (Query* query : op->Queries()) {
    if (query->state != Query::State::kWaiting &&
        query->state != Query::State::kInFlight) {
      continue;
    }
    pb::DnsQuery& record = query->records.emplace_back();
    record.set_name(query->name);
    record.set_type(TypeName(query->type));
    record.set_rcode("CANCELLED");
    if (query->state == Query::State::kInFlight) {
      // c-ares 1.18 cannot withdraw the message: it stays with c-ares
      // until its answer or timeout, but its slot goes to the next one.
      ++op->abandoned;
      ++abandoned;
      --in_flight;
      query->state = Query::State::kAbandoned;
      record.set_resolver(channels[query->channel]->address);
      record.set_sent_unix_ms(query->sent_unix_ms);
      record.set_elapsed_us(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::steady_clock::now() - query->sent)
              .count()));
    } else {
      query->state = Query::State::kDone;
    }
    query->status = ARES_ECANCELLED;
  }
  pb::DnsObservation partial = op->TakePartial();
  if (op->abandoned == 0) Finish(op);
  Pump();
  return partial;
}

// The CNAME walk of one host against one server (mode all) or against the
// servers in turn: A and AAAA of each name until the answers decide.
struct DnsResolver::Impl::Resolution final : Listener {
  Resolution(Impl* impl, Op* op, const std::string& host,
             std::optional<size_t> pinned, std::function<void()> on_done)
      : impl(impl),
        chain{ToLowerAscii(host)},
        a(impl, op, this, "", ns_t_a, pinned),
        aaaa(impl, op, this, "", ns_t_aaaa, pinned),
        on_done(std::move(on_done)) {}

  void QueryDone() override {
    if (--pending == 0) Evaluate();
  }
  // Asks for A and AAAA of the chain's last name.
  void Start();
  void Evaluate();
  void Fail(std::string error_class, std::string message);
  void End();
  // Moves the attempts of `a` and `aaaa` to the observation.
  void TakeRecords();

  Impl* impl;
  std::vector<std::string> chain;
  Query a;
  Query aaaa;
  int pending = 0;
  bool ended = false;  // obs is complete
  std::function<void()> on_done;
  pb::DnsObservation obs;
};

void DnsResolver::Impl::Resolution::TakeRecords() {
  for (Query* query : {&a, &aaaa}) {
    for (pb::DnsQuery& record : query->records) {
      *obs.add_queries() = std::move(record);
    }
    query->records.clear();
  }
}

void DnsResolver::Impl::Resolution::Start() {
  TakeRecords();
  for (Query* query : {&a, &aaaa}) {
    query->name = chain.back();
    query->attempts = 0;
  }
  pending = 2;
  impl->Send(&a);
  impl->Send(&aaaa);
}

void DnsResolver::Impl::Resolution::End() {
  TakeRecords();
  for (const std::string& name : chain) obs.add_cname_chain(name);
  ended = true;
  on_done();
}

void DnsResolver::Impl::Resolution::Fail(std::string error_class,
                                         std::string message) {
  obs.mutable_error()->set_error_class(std::move(error_class));
  obs.mutable_error()->set_message(std::move(message));
  End();
}

void DnsResolver::Impl::Resolution::Evaluate() {
  const std::string name = chain.back();
  struct Outcome {
    const Query* query = nullptr;
    bool malformed = false;
    std::optional<Walk> walk;              // when the answer parsed
    std::vector<AddressRecord> addresses;  // owned by the walk's last name
  };
  auto evaluate = [this](const Query& query) {
    Outcome outcome;
    outcome.query = &query;
    if (query.status != ARES_SUCCESS) return outcome;
    std::optional<ParsedAnswer> parsed =
        ParseAnswer(query.raw(), query.name, query.type);
    if (!parsed) {
      outcome.malformed = true;
      return outcome;
    }
    outcome.walk = FollowCnames(chain, *parsed);
    outcome.addresses = OwnedBy(*parsed, outcome.walk->chain.back());
    return outcome;
  };
  Outcome a_outcome = evaluate(a);
  Outcome aaaa_outcome = evaluate(aaaa);
  // The chain is that of the answer with addresses, A first, else the
  // longer one; AAAA records under another final name than the A
  // answer's are not used.
  const Outcome* source = nullptr;
  if (!a_outcome.addresses.empty()) {
    source = &a_outcome;
  } else if (!aaaa_outcome.addresses.empty()) {
    source = &aaaa_outcome;
  } else if (a_outcome.walk &&
             (!aaaa_outcome.walk || a_outcome.walk->chain.size() >=
                                        aaaa_outcome.walk->chain.size())) {
    source = &a_outcome;
  } else if (aaaa_outcome.walk) {
    source = &aaaa_outcome;
  }
  if (source == &a_outcome && aaaa_outcome.walk &&
      aaaa_outcome.walk->chain.back() != a_outcome.walk->chain.back()) {
    aaaa_outcome.addresses.clear();
  }
  if (source != nullptr) chain = source->walk->chain;

  // Addresses win over a loop in the other answer: the error is set only
  // when no address was found, so a looping AAAA answer cannot hide the A
  // records (nor the other way round).
  if (!a_outcome.addresses.empty() || !aaaa_outcome.addresses.empty()) {
    for (const Outcome* outcome : {&a_outcome, &aaaa_outcome}) {
      for (const AddressRecord& record : outcome->addresses) {
        if (obs.addresses_size() == static_cast<int>(kMaxAddresses)) break;
        pb::DnsAddress* address = obs.add_addresses();
        address->set_ip(record.ip.ToString());
        address->set_ttl(record.ttl);
      }
    }
    End();
    return;
  }
  for (const Outcome* outcome : {&a_outcome, &aaaa_outcome}) {
    if (outcome->walk && !outcome->walk->loop_error.empty()) {
      Fail("cname_loop", outcome->walk->loop_error);
      return;
    }
  }
  if (a.rcode() == "NXDOMAIN" || aaaa.rcode() == "NXDOMAIN") {
    Fail("nxdomain", chain.back() + " does not exist (NXDOMAIN)");
    return;
  }
  if (chain.back() != name && source->query->rcode() == "NOERROR") {
    Start();
    return;
  }
  for (const Outcome* outcome : {&a_outcome, &aaaa_outcome}) {
    const Query& query = *outcome->query;
    const std::string question =
        query.name + (query.type == ns_t_a ? " A" : " AAAA");
    const std::string& server = impl->channels[query.channel]->address;
    if (outcome->malformed) {
      Fail("dns_error", "malformed answer to " + question + " from " + server);
      return;
    }
    const std::string error_class = ErrorClassForRcode(query.rcode());
    if (!error_class.empty()) {
      std::string message =
          query.rcode() + " for " + question + " from " + server;
      if (query.status != ARES_SUCCESS) {
        message += std::string(" (") + ares_strerror(query.status) + ")";
      }
      Fail(error_class, message);
      return;
    }
  }
  Fail("no_address", chain.back() + " has no A or AAAA record");
}

struct DnsResolver::Impl::ResolveOp final : Op {
  std::vector<Query*> Queries() override {
    std::vector<Query*> queries;
    for (const auto& resolution : resolutions) {
      queries.push_back(&resolution->a);
      queries.push_back(&resolution->aaaa);
    }
    return queries;
  }
  // The first server's walk, with the other servers' queries appended.
  pb::DnsObservation TakePartial() override {
    pb::DnsObservation partial;
    for (size_t i = 0; i < resolutions.size(); ++i) {
      Resolution& resolution = *resolutions[i];
      if (!resolution.ended) {
        resolution.TakeRecords();
        for (const std::string& name : resolution.chain) {
          resolution.obs.add_cname_chain(name);
        }
      }
      if (i == 0) {
        partial = std::move(resolution.obs);
        continue;
      }
      for (pb::DnsQuery& query : *resolution.obs.mutable_queries()) {
        *partial.add_queries() = std::move(query);
      }
    }
    return partial;
  }

  // One per server in mode all, else one.
  std::vector<std::unique_ptr<Resolution>> resolutions;
  size_t pending = 0;
};

void DnsResolver::Impl::FinishResolve(ResolveOp* op) {
  if (mode != ResolverMode::kAll) {
    op->result = std::move(op->resolutions.front()->obs);
    Finish(op);
    return;
  }
  pb::DnsObservation& result = op->result;
  std::vector<std::string> first_ips;
  std::string first_error;
  bool disagree = false;
  for (size_t i = 0; i < op->resolutions.size(); ++i) {
    pb::DnsObservation& obs = op->resolutions[i]->obs;
    std::vector<std::string> ips;
    for (const pb::DnsAddress& address : obs.addresses()) {
      ips.push_back(address.ip());
    }
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
    pb::ResolverAnswer answer;
    answer.set_resolver(channels[i]->address);
    for (const std::string& ip : ips) answer.add_addresses(ip);
    answer.set_error_class(obs.error().error_class());
    if (i == 0) {
      first_ips = std::move(ips);
      first_error = answer.error_class();
      result = std::move(obs);
    } else {
      disagree =
          disagree || ips != first_ips || answer.error_class() != first_error;
      for (pb::DnsQuery& query : *obs.mutable_queries()) {
        *result.add_queries() = std::move(query);
      }
    }
    *result.add_per_resolver() = std::move(answer);
  }
  result.set_resolvers_disagree(disagree);
  Finish(op);
}

struct DnsResolver::Impl::NsPtrOp final : Op, Listener {
  explicit NsPtrOp(Impl* impl) : impl(impl) {}
  void QueryDone() override {
    if (--pending == 0) {
      Assemble();
      impl->Finish(this);
    }
  }
  std::vector<Query*> Queries() override {
    std::vector<Query*> all;
    for (Query& query : queries) all.push_back(&query);
    return all;
  }
  pb::DnsObservation TakePartial() override {
    Assemble();
    return std::move(result);
  }
  // Records the answers in `result`.
  void Assemble();

  Impl* impl;
  std::deque<Query> queries;     // NS first when asked, then PTR
  std::vector<std::string> ips;  // of the PTR queries, in order
  size_t pending = 0;
};

void DnsResolver::Impl::NsPtrOp::Assemble() {
  size_t next_ip = 0;
  for (Query& query : queries) {
    std::vector<std::string> names;
    if (query.status == ARES_SUCCESS) {
      if (std::optional<ParsedAnswer> parsed =
              ParseAnswer(query.raw(), query.name, query.type)) {
        // Names owned by the question itself (a CNAME in front of a PTR
        // is followed within the answer only).
        const Walk walk = FollowCnames({query.name}, *parsed);
        for (const auto& [owner, name] : parsed->names) {
          if (owner == walk.chain.back()) names.push_back(name);
        }
      }
    }
    for (pb::DnsQuery& record : query.records) {
      *result.add_queries() = std::move(record);
    }
    if (query.type == ns_t_ns) {
      for (const std::string& name : names) result.add_ns(name);
    } else {
      pb::PtrRecord* ptr = result.add_ptr();
      ptr->set_ip(ips[next_ip++]);
      for (const std::string& name : names) ptr->add_names(name);
    }
  }
}

Result<std::unique_ptr<DnsResolver>> DnsResolver::Create(
    const ResolverConfig& config, EventLoop* loop, Clock clock) {
  InitAresOnce();
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->clock = std::move(clock);
  impl->mode = config.mode;
  impl->tries = std::max<uint32_t>(config.tries, 1);
  impl->max_in_flight =
      std::clamp<size_t>(config.max_in_flight, 1, kMaxInFlight);
  for (const std::string& server : config.servers) {
    Status status = impl->AddChannel(
        config.timeout_ms,
        [&server](ares_channel channel) {
          return ares_set_servers_ports_csv(channel, server.c_str());
        },
        server);
    if (!status.ok()) return status;
  }
  if (config.servers.empty()) {
    // The servers c-ares reads from the system, one channel each.
    ares_channel system = nullptr;
    int status = ares_init(&system);
    ares_addr_port_node* servers = nullptr;
    if (status == ARES_SUCCESS)
      status = ares_get_servers_ports(system, &servers);
    if (system != nullptr) ares_destroy(system);
    if (status != ARES_SUCCESS) {
      return Internal(std::string("c-ares server list unavailable: ") +
                      ares_strerror(status));
    }
    Status added = Status::Ok();
    for (const ares_addr_port_node* node = servers;
         node != nullptr && added.ok(); node = node->next) {
      ares_addr_port_node single = *node;
      single.next = nullptr;
      added = impl->AddChannel(
          config.timeout_ms,
          [&single](ares_channel channel) {
            return ares_set_servers_ports(channel, &single);
          },
          FormatServer(single));
    }
    ares_free_data(servers);
    if (!added.ok()) return added;
    if (impl->channels.empty()) {
      return Internal("c-ares found no system resolver");
    }
  }
  std::unique_ptr<DnsResolver> resolver(new DnsResolver());
  resolver->impl_ = std::move(impl);
  return resolver;
}

DnsResolver::~DnsResolver() = default;

DnsResolver::OpId DnsResolver::Resolve(const std::string& host, Done done) {
  Impl* impl = impl_.get();
  auto owned = std::make_unique<Impl::ResolveOp>();
  owned->done = std::move(done);
  Impl::ResolveOp* op = impl->Adopt(std::move(owned));
  const bool all = impl->mode == ResolverMode::kAll;
  const size_t count = all ? impl->channels.size() : 1;
  op->pending = count;
  for (size_t i = 0; i < count; ++i) {
    op->resolutions.push_back(std::make_unique<Impl::Resolution>(
        impl, op, host, all ? std::optional<size_t>(i) : std::nullopt,
        [impl, op] {
          if (--op->pending == 0) impl->FinishResolve(op);
        }));
  }
  const OpId id = op->id;
  for (const auto& resolution : op->resolutions) resolution->Start();
  return id;
}

DnsResolver::OpId DnsResolver::AddNsAndPtr(const std::string& domain,
                                           pb::DnsObservation obs, Done done) {
  Impl* impl = impl_.get();
  auto owned = std::make_unique<Impl::NsPtrOp>(impl);
  owned->done = std::move(done);
  owned->result = std::move(obs);
  Impl::NsPtrOp* op = impl->Adopt(std::move(owned));
  if (!domain.empty()) {
    op->result.set_ns_domain(domain);
    op->queries.emplace_back(impl, op, op, ToLowerAscii(domain), ns_t_ns,
                             std::nullopt);
  }
  for (const pb::DnsAddress& address : op->result.addresses()) {
    if (op->ips.size() == kMaxPtrLookups) break;
    std::optional<net::IpAddress> ip = net::IpAddress::Parse(address.ip());
    if (!ip) continue;
    op->ips.push_back(ip->ToString());
    op->queries.emplace_back(impl, op, op, ReverseName(*ip), ns_t_ptr,
                             std::nullopt);
  }
  op->pending = op->queries.size();
  const OpId id = op->id;
  if (op->pending == 0) {
    impl->Finish(op);
    return id;
  }
  for (Impl::Query& query : op->queries) impl->Send(&query);
  return id;
}

std::optional<pb::DnsObservation> DnsResolver::Cancel(OpId id) {
  return impl_->Cancel(id);
}

size_t DnsResolver::in_flight() const { return impl_->in_flight; }
size_t DnsResolver::waiting() const { return impl_->waiting.size(); }

}  // namespace hl::worker
