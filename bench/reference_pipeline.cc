// hl_reference_pipeline: the minimal reference that hostlocator's worker is
// measured against (issue 3, "Speed"; see bench/README.md).
//
// For each URL of a list, in one thread and one event loop, the DNS
// questions the worker asks and the work it must do at the least:
//   1. DNS: an A and an AAAA question for the host (c-ares, one channel),
//   2. geo: one libmaxminddb lookup of the first address (country iso_code),
//   3. then at the same time
//      - HTTP: one HEAD on a fresh connection pinned to that address
//        (libcurl multi, CURLOPT_CONNECT_TO, no connection or TLS session
//        reuse; a body byte aborts the transfer), none with --dns-only;
//      - NS/PTR: an NS question for the host's registrable domain (as the
//        worker computes it; none when the host is a public suffix) and a
//        PTR question for each address (at most 16),
//   4. store: once the HEAD and every NS/PTR answer are in, one RocksDB put
//      of a small record (WAL on, not synced).
// No CNAME following beyond what an answer carries, no protocol, no verdict,
// no provider detection. At most --inflight URLs are between steps 1 and 4
// at any time (the worker's URLs in flight), and at most --dns-inflight DNS
// questions are outstanding (the worker's resolver.max_in_flight); further
// questions wait in one FIFO queue, so a single-socket DNS server's buffer
// does not overflow.
//
// Prints URLs/s, DNS questions/s and p50/p99 per stage (text, or one JSON
// object with --json). Exit status: 0 when every URL was processed (failures
// are counted, not fatal), 2 on a usage error, 1 when a library could not be
// set up.

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <curl/curl.h>
#include <libpsl.h>
#include <maxminddb.h>
#include <netdb.h>
#include <netinet/in.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// PTR questions per URL at most, as the worker (DnsResolver::kMaxPtrLookups).
constexpr size_t kMaxPtrLookups = 16;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The name under which the PTR record of an IPv4 address lives
// (RFC 1035 3.5).
std::string ReverseName(const in_addr& address) {
  const auto* b = reinterpret_cast<const unsigned char*>(&address);
  return std::to_string(b[3]) + '.' + std::to_string(b[2]) + '.' +
         std::to_string(b[1]) + '.' + std::to_string(b[0]) + ".in-addr.arpa";
}

// The same for an IPv6 address (RFC 3596 2.5): one label per nibble, the
// last one first.
std::string ReverseName(const in6_addr& address) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;
  name.reserve(72);
  for (int i = 15; i >= 0; --i) {
    name += kHex[address.s6_addr[i] & 0xf];
    name += '.';
    name += kHex[address.s6_addr[i] >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

// Appends the names of a hostent's alias list (NS or PTR targets) to
// `out`, comma-separated.
void AppendAliases(const hostent* host, std::string* out) {
  for (char** alias = host->h_aliases; *alias != nullptr; ++alias) {
    if (!out->empty()) *out += ',';
    *out += *alias;
  }
}

// Latency histogram with constant memory: logarithmic buckets 1% wide from
// 1 microsecond to about 20 minutes. Percentiles are accurate to 1%.
class Histogram {
 public:
  void Add(double ms) {
    const double us = std::max(ms * 1000.0, 1.0);
    size_t i = static_cast<size_t>(std::log(us) / kLogStep);
    if (i >= buckets_.size()) i = buckets_.size() - 1;
    ++buckets_[i];
    ++count_;
  }
  uint64_t count() const { return count_; }
  // The value (ms) below which a fraction q of the samples lie; 0 if empty.
  double Percentile(double q) const {
    if (count_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(std::ceil(q * count_));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank && seen > 0) {
        return std::exp((i + 0.5) * kLogStep) / 1000.0;
      }
    }
    return 0;
  }

 private:
  static constexpr double kLogStep = 0.00995033;  // log(1.01)
  std::array<uint64_t, 2100> buckets_{};
  uint64_t count_ = 0;
};

struct Options {
  std::string urls;
  std::string dns;  // "address:port"
  std::string mmdb;
  std::string db;
  std::string ca_file;
  int inflight = 64;
  int dns_inflight = 256;
  bool dns_only = false;
  bool json = false;
  int dns_timeout_ms = 1000;
  int dns_tries = 2;
  int connect_timeout_ms = 2000;
  int timeout_ms = 3000;
  int rcvbuf = 4 << 20;
};

enum Stage {
  kDns,
  kGeo,
  kConnect,
  kTls,
  kHttp,
  kNsPtr,
  kStore,
  kTotal,
  kStages
};
constexpr const char* kStageNames[kStages] = {
    "dns", "geo", "connect", "tls", "http", "ns_ptr", "store", "total"};

enum Outcome { kOk, kDnsError, kHttpError };

class Pipeline;
struct Job;

// One DNS question of a job; the argument of its c-ares callback.
struct Query {
  Job* job = nullptr;
  int type = 0;  // ns_t_a, ns_t_aaaa, ns_t_ns or ns_t_ptr
  std::string name;
  // PTR only: the address asked about (an in_addr in the first 4 bytes).
  int family = AF_UNSPEC;
  in6_addr address{};
  Clock::time_point sent;
};

// One URL in flight. Lives in a slot of Pipeline::slots_ until its record
// is stored; the slot is then reused. No callback of a job is outstanding
// once it is stored.
struct Job {
  Pipeline* pipeline = nullptr;
  uint64_t index = 0;
  std::string url;
  std::string host;  // lower case
  std::string scheme;
  long port = 0;
  std::vector<in_addr> v4;
  std::vector<in6_addr> v6;
  std::string address;  // the pinned address, text form
  std::string country;
  std::string ns;   // NS names, comma-separated
  std::string ptr;  // PTR names of every address, comma-separated
  std::string error;
  long http_status = 0;
  Outcome outcome = kOk;
  // queries[0] and [1]: A and AAAA of the host; then the NS and PTR
  // questions, in the order they were queued.
  std::array<Query, 3 + kMaxPtrLookups> queries;
  size_t query_count = 0;
  int pending_addresses = 0;  // A/AAAA answers still due
  int pending_ns_ptr = 0;     // NS/PTR answers still due
  bool head_pending = false;  // HEAD started and not done
  Clock::time_point start, dns_done, geo_done;
  CURL* easy = nullptr;
  curl_slist* connect_to = nullptr;
};

class Pipeline {
 public:
  explicit Pipeline(const Options& o) : o_(o) {}
  ~Pipeline() {
    for (auto& j : slots_) {
      if (j->easy != nullptr) curl_easy_cleanup(j->easy);
      curl_slist_free_all(j->connect_to);
    }
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    if (channel_ != nullptr) ares_destroy(channel_);
    if (mmdb_open_) MMDB_close(&mmdb_);
    psl_free(psl_latest_);
  }

  // Sets up c-ares, libpsl, the MMDB, libcurl and RocksDB; "" on success.
  std::string Init() {
    // NOCHECKRESP: a SERVFAIL, REFUSED or NOTIMP answer is final, as in the
    // worker, rather than asked again by c-ares.
    ares_options ao{};
    ao.timeout = o_.dns_timeout_ms;
    ao.tries = o_.dns_tries;
    ao.socket_receive_buffer_size = o_.rcvbuf;
    ao.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
    int st = ares_init_options(&channel_, &ao,
                               ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                                   ARES_OPT_SOCK_RCVBUF | ARES_OPT_FLAGS);
    if (st != ARES_SUCCESS) return std::string("ares: ") + ares_strerror(st);
    st = ares_set_servers_ports_csv(channel_, o_.dns.c_str());
    if (st != ARES_SUCCESS) {
      return "--dns " + o_.dns + ": " + ares_strerror(st);
    }
    // The list the worker uses (common/net/url.cc): the newer of the
    // compiled-in one and the system's.
    psl_latest_ = psl_latest(nullptr);
    psl_ = psl_latest_ != nullptr ? psl_latest_ : psl_builtin();
    if (psl_ == nullptr) return "libpsl: no public suffix list";
    if (MMDB_open(o_.mmdb.c_str(), MMDB_MODE_MMAP, &mmdb_) != MMDB_SUCCESS) {
      return "cannot open MMDB " + o_.mmdb;
    }
    mmdb_open_ = true;
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return "curl_multi_init failed";
    rocksdb::Options ro;
    ro.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    rocksdb::Status rs = rocksdb::DB::Open(ro, o_.db, &db);
    if (!rs.ok()) return "rocksdb " + o_.db + ": " + rs.ToString();
    db_.reset(db);
    slots_.reserve(o_.inflight);
    for (int i = 0; i < o_.inflight; ++i) {
      auto job = std::make_unique<Job>();
      job->pipeline = this;
      for (Query& q : job->queries) q.job = job.get();
      free_.push_back(job.get());
      slots_.push_back(std::move(job));
    }
    return "";
  }

  // Processes every URL of `urls`; returns after the last record is stored.
  void Run(const std::vector<std::string>& urls) {
    size_t next = 0;
    std::vector<curl_waitfd> waitfds;
    start_ = Clock::now();
    while (next < urls.size() || active_ > 0) {
      while (next < urls.size() && !free_.empty()) {
        Start(next, urls[next]);
        ++next;
      }
      SendWaitingQueries();
      // c-ares sockets join libcurl's poll as extra descriptors.
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      const int mask = ares_getsock(channel_, socks, ARES_GETSOCK_MAXNUM);
      waitfds.clear();
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short ev = 0;
        if (ARES_GETSOCK_READABLE(mask, i)) ev |= CURL_WAIT_POLLIN;
        if (ARES_GETSOCK_WRITABLE(mask, i)) ev |= CURL_WAIT_POLLOUT;
        if (ev != 0) waitfds.push_back({socks[i], ev, 0});
      }
      timeval tv{1, 0};
      timeval max_tv{1, 0};
      ares_timeout(channel_, &max_tv, &tv);
      const int wait_ms =
          static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
      curl_multi_poll(multi_, waitfds.data(),
                      static_cast<unsigned>(waitfds.size()), wait_ms, nullptr);
      bool any = false;
      for (const curl_waitfd& w : waitfds) {
        if (w.revents == 0) continue;
        any = true;
        ares_process_fd(
            channel_, (w.revents & CURL_WAIT_POLLIN) ? w.fd : ARES_SOCKET_BAD,
            (w.revents & CURL_WAIT_POLLOUT) ? w.fd : ARES_SOCKET_BAD);
      }
      if (!any) ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        Job* job = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &job);
        OnHttpDone(job, m->data.result);
      }
    }
    end_ = Clock::now();
  }

  void Report(size_t urls) const {
    const double secs = std::chrono::duration<double>(end_ - start_).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double rate = secs > 0 ? urls / secs : 0;
    const double qps = secs > 0 ? queries_ / secs : 0;
    if (o_.json) {
      std::printf(
          "{\"urls\": %zu, \"seconds\": %.3f, \"urls_per_s\": %.1f, "
          "\"inflight\": %d, \"dns_inflight\": %d, \"mode\": \"%s\", "
          "\"ok\": %llu, \"dns_errors\": %llu, \"http_errors\": %llu, "
          "\"ns_ptr_errors\": %llu, \"dns_queries\": %llu, "
          "\"dns_queries_per_s\": %.1f, \"peak_rss_kb\": %ld, \"stages\": {",
          urls, secs, rate, o_.inflight, o_.dns_inflight,
          o_.dns_only ? "dns" : "http", static_cast<unsigned long long>(ok_),
          static_cast<unsigned long long>(dns_errors_),
          static_cast<unsigned long long>(http_errors_),
          static_cast<unsigned long long>(ns_ptr_errors_),
          static_cast<unsigned long long>(queries_), qps, ru.ru_maxrss);
      bool first = true;
      for (int s = 0; s < kStages; ++s) {
        if (hist_[s].count() == 0) continue;
        std::printf(
            "%s\"%s\": {\"n\": %llu, \"p50_ms\": %.3f, \"p99_ms\": %.3f}",
            first ? "" : ", ", kStageNames[s],
            static_cast<unsigned long long>(hist_[s].count()),
            hist_[s].Percentile(0.5), hist_[s].Percentile(0.99));
        first = false;
      }
      std::printf("}, \"first_error\": \"%s\"}\n", first_error_.c_str());
      return;
    }
    std::printf(
        "reference pipeline (%s): %zu URLs in %.3f s = %.1f URLs/s, "
        "%d in flight (%d DNS queries)\n",
        o_.dns_only ? "dns+geo+ns/ptr+put" : "dns+geo+head+ns/ptr+put", urls,
        secs, rate, o_.inflight, o_.dns_inflight);
    std::printf(
        "  results   ok %llu, dns errors %llu, http errors %llu, "
        "failed NS/PTR questions %llu%s%s\n",
        static_cast<unsigned long long>(ok_),
        static_cast<unsigned long long>(dns_errors_),
        static_cast<unsigned long long>(http_errors_),
        static_cast<unsigned long long>(ns_ptr_errors_),
        first_error_.empty() ? "" : "; first: ", first_error_.c_str());
    std::printf("  dns       %llu queries, %.1f queries/s\n",
                static_cast<unsigned long long>(queries_), qps);
    std::printf("  peak RSS  %.1f MB\n", ru.ru_maxrss / 1024.0);
    std::printf("  stage       p50 ms    p99 ms\n");
    for (int s = 0; s < kStages; ++s) {
      if (hist_[s].count() == 0) continue;
      std::printf("  %-8s %9.3f %9.3f\n", kStageNames[s],
                  hist_[s].Percentile(0.5), hist_[s].Percentile(0.99));
    }
  }

 private:
  void Start(uint64_t index, const std::string& url) {
    Job* job = free_.back();
    free_.pop_back();
    ++active_;
    job->index = index;
    job->url = url;
    job->v4.clear();
    job->v6.clear();
    job->address.clear();
    job->country.clear();
    job->ns.clear();
    job->ptr.clear();
    job->error.clear();
    job->http_status = 0;
    job->outcome = kOk;
    job->query_count = 0;
    job->start = Clock::now();
    if (!ParseUrl(job)) {
      job->dns_done = job->geo_done = Clock::now();
      job->outcome = kDnsError;
      Finish(job);
      return;
    }
    job->pending_addresses = 2;
    Enqueue(job, ns_t_a, job->host);
    Enqueue(job, ns_t_aaaa, job->host);
  }

  bool ParseUrl(Job* job) {
    CURLU* u = curl_url();
    bool ok = curl_url_set(u, CURLUPART_URL, job->url.c_str(), 0) == CURLUE_OK;
    char* host = nullptr;
    char* port = nullptr;
    char* scheme = nullptr;
    ok = ok && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
             CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
    if (ok) {
      job->host = host;
      std::transform(job->host.begin(), job->host.end(), job->host.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      job->port = std::strtol(port, nullptr, 10);
      job->scheme = scheme;
    } else {
      job->error = "unparsable URL";
    }
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
  }

  // The registrable domain of `host` as the worker computes it
  // (RegistrableDomain in common/net/url.cc): the ICANN public suffix plus
  // one label, an unlisted top-level domain counting as a public suffix;
  // "" when `host` is itself a public suffix.
  std::string RegistrableDomain(const std::string& host) const {
    if (psl_is_public_suffix2(psl_, host.c_str(), PSL_TYPE_ICANN)) return "";
    size_t label_start = 0;
    for (size_t dot = host.find('.'); dot != std::string::npos;
         dot = host.find('.', dot + 1)) {
      if (psl_is_public_suffix2(psl_, host.c_str() + dot + 1, PSL_TYPE_ICANN)) {
        return host.substr(label_start);
      }
      label_start = dot + 1;
    }
    return "";
  }

  // Adds a question to the job and to the end of the queue of questions
  // waiting for a DNS slot.
  Query& Enqueue(Job* job, int type, std::string name) {
    Query& q = job->queries[job->query_count++];
    q.type = type;
    q.name = std::move(name);
    q.family = AF_UNSPEC;
    dns_wait_.push_back(&q);
    return q;
  }

  // Sends queued questions, oldest first, while fewer than --dns-inflight
  // are outstanding.
  void SendWaitingQueries() {
    while (!dns_wait_.empty() && outstanding_queries_ < o_.dns_inflight) {
      Query* q = dns_wait_.front();
      dns_wait_.pop_front();
      ++outstanding_queries_;
      ++queries_;
      q->sent = Clock::now();
      ares_query(channel_, q->name.c_str(), ns_c_in, q->type,
                 &Pipeline::OnAnswer, q);
    }
  }

  static void OnAnswer(void* arg, int status, int /*timeouts*/,
                       unsigned char* abuf, int alen) {
    auto* q = static_cast<Query*>(arg);
    Pipeline* p = q->job->pipeline;
    --p->outstanding_queries_;
    if (q->type == ns_t_a || q->type == ns_t_aaaa) {
      p->OnAddressAnswer(*q, status, abuf, alen);
    } else {
      p->OnNsPtrAnswer(*q, status, abuf, alen);
    }
  }

  void OnAddressAnswer(const Query& q, int status, const unsigned char* abuf,
                       int alen) {
    Job* job = q.job;
    if (status == ARES_SUCCESS) {
      if (q.type == ns_t_a) {
        std::array<ares_addrttl, 16> out;
        int n = static_cast<int>(out.size());
        if (ares_parse_a_reply(abuf, alen, nullptr, out.data(), &n) ==
            ARES_SUCCESS) {
          for (int i = 0; i < n; ++i) job->v4.push_back(out[i].ipaddr);
        }
      } else {
        std::array<ares_addr6ttl, 16> out;
        int n = static_cast<int>(out.size());
        if (ares_parse_aaaa_reply(abuf, alen, nullptr, out.data(), &n) ==
            ARES_SUCCESS) {
          for (int i = 0; i < n; ++i) {
            in6_addr a;
            std::memcpy(&a, &out[i].ip6addr, sizeof a);
            job->v6.push_back(a);
          }
        }
      }
    } else if (status != ARES_ENODATA && job->error.empty()) {
      job->error = std::string("dns: ") + ares_strerror(status);
    }
    if (--job->pending_addresses == 0) OnResolved(job);
  }

  // Records the names of an NS or PTR answer; a failed question is counted,
  // never the URL's error (as in the worker).
  void OnNsPtrAnswer(const Query& q, int status, const unsigned char* abuf,
                     int alen) {
    Job* job = q.job;
    hostent* host = nullptr;  // stays null when parsing fails
    if (status == ARES_SUCCESS && q.type == ns_t_ns) {
      ares_parse_ns_reply(abuf, alen, &host);
    } else if (status == ARES_SUCCESS) {
      const int len = q.family == AF_INET ? sizeof(in_addr) : sizeof(in6_addr);
      ares_parse_ptr_reply(abuf, alen, &q.address, len, q.family, &host);
    }
    if (host != nullptr) {
      AppendAliases(host, q.type == ns_t_ns ? &job->ns : &job->ptr);
      ares_free_hostent(host);
    } else {
      ++ns_ptr_errors_;
    }
    if (--job->pending_ns_ptr == 0) {
      hist_[kNsPtr].Add(MsBetween(job->queries[2].sent, Clock::now()));
      MaybeFinish(job);
    }
  }

  // The A and AAAA answers are in: locate the pinned address, then ask the
  // NS and PTR questions and send the HEAD (unless --dns-only).
  void OnResolved(Job* job) {
    job->dns_done = Clock::now();
    char text[INET6_ADDRSTRLEN] = {};
    sockaddr_storage ss{};
    if (!job->v4.empty()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_addr = job->v4.front();
      inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    } else if (!job->v6.empty()) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = job->v6.front();
      inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
    } else {
      if (job->error.empty()) job->error = "dns: no address";
      job->geo_done = Clock::now();
      job->outcome = kDnsError;
      Finish(job);
      return;
    }
    job->address = text;
    int mmdb_error = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(
        &mmdb_, reinterpret_cast<sockaddr*>(&ss), &mmdb_error);
    if (mmdb_error == MMDB_SUCCESS && r.found_entry) {
      MMDB_entry_data_s data;
      if (MMDB_get_value(&r.entry, &data, "country", "iso_code", nullptr) ==
              MMDB_SUCCESS &&
          data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING) {
        job->country.assign(data.utf8_string, data.data_size);
      }
    }
    job->geo_done = Clock::now();
    hist_[kDns].Add(MsBetween(job->queries[0].sent, job->dns_done));
    hist_[kGeo].Add(MsBetween(job->dns_done, job->geo_done));

    const std::string domain = RegistrableDomain(job->host);
    if (!domain.empty()) Enqueue(job, ns_t_ns, domain);
    size_t ptrs = 0;
    for (size_t i = 0; i < job->v4.size() && ptrs < kMaxPtrLookups;
         ++i, ++ptrs) {
      Query& q = Enqueue(job, ns_t_ptr, ReverseName(job->v4[i]));
      q.family = AF_INET;
      std::memcpy(&q.address, &job->v4[i], sizeof(in_addr));
    }
    for (size_t i = 0; i < job->v6.size() && ptrs < kMaxPtrLookups;
         ++i, ++ptrs) {
      Query& q = Enqueue(job, ns_t_ptr, ReverseName(job->v6[i]));
      q.family = AF_INET6;
      q.address = job->v6[i];
    }
    // At least one PTR question (there is an address): the job finishes
    // with the last NS/PTR answer or the HEAD, whichever comes later.
    job->pending_ns_ptr = static_cast<int>(job->query_count) - 2;
    if (!o_.dns_only) StartHead(job);
  }

  static size_t RefuseBody(char*, size_t, size_t, void*) { return 0; }

  void StartHead(Job* job) {
    if (job->easy == nullptr) {
      job->easy = curl_easy_init();
    } else {
      curl_easy_reset(job->easy);
    }
    CURL* e = job->easy;
    const std::string pinned = job->address.find(':') == std::string::npos
                                   ? job->address
                                   : "[" + job->address + "]";
    const std::string port = std::to_string(job->port);
    curl_slist_free_all(job->connect_to);
    job->connect_to = curl_slist_append(
        nullptr, (job->host + ":" + port + ":" + pinned + ":" + port).c_str());
    curl_easy_setopt(e, CURLOPT_URL, job->url.c_str());
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, job->connect_to);
    curl_easy_setopt(e, CURLOPT_PRIVATE, job);
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(o_.connect_timeout_ms));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.timeout_ms));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Pipeline::RefuseBody);
    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
    if (o_.ca_file.empty()) {
      curl_easy_setopt(e, CURLOPT_CAINFO, nullptr);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
      curl_easy_setopt(e, CURLOPT_CAINFO, o_.ca_file.c_str());
    }
    job->head_pending = true;
    curl_multi_add_handle(multi_, e);
  }

  void OnHttpDone(Job* job, CURLcode code) {
    const auto done = Clock::now();
    curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &job->http_status);
    curl_off_t connect_us = 0;
    curl_off_t tls_us = 0;
    curl_easy_getinfo(job->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(job->easy, CURLINFO_APPCONNECT_TIME_T, &tls_us);
    curl_multi_remove_handle(multi_, job->easy);
    hist_[kHttp].Add(MsBetween(job->geo_done, done));
    if (connect_us > 0) hist_[kConnect].Add(connect_us / 1000.0);
    if (tls_us > 0) hist_[kTls].Add((tls_us - connect_us) / 1000.0);
    if (code != CURLE_OK) {
      job->error = std::string("http: ") + curl_easy_strerror(code);
      job->outcome = kHttpError;
    }
    job->head_pending = false;
    MaybeFinish(job);
  }

  // Finishes the job once neither its HEAD nor an NS/PTR answer is due.
  void MaybeFinish(Job* job) {
    if (!job->head_pending && job->pending_ns_ptr == 0) Finish(job);
  }

  // Stores the record (one put) and frees the slot.
  void Finish(Job* job) {
    char key[8];
    for (int i = 0; i < 8; ++i)
      key[i] = static_cast<char>(job->index >> (56 - 8 * i));
    std::string value = job->url;
    for (const std::string* field :
         {&job->address, &job->country, &job->ns, &job->ptr, &job->error}) {
      value += '\t';
      value += *field;
    }
    value += '\t';
    value += std::to_string(job->http_status);
    const auto t0 = Clock::now();
    rocksdb::Status s =
        db_->Put(write_options_, rocksdb::Slice(key, sizeof key), value);
    const auto t1 = Clock::now();
    hist_[kStore].Add(MsBetween(t0, t1));
    hist_[kTotal].Add(MsBetween(job->start, t1));
    if (!s.ok() && job->error.empty()) job->error = "store: " + s.ToString();
    switch (job->outcome) {
      case kOk:
        ++ok_;
        break;
      case kDnsError:
        ++dns_errors_;
        break;
      case kHttpError:
        ++http_errors_;
        break;
    }
    if (job->outcome != kOk && first_error_.empty()) {
      first_error_ = job->url + ": " + job->error;
      for (char& c : first_error_) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
          c = '?';
      }
    }
    free_.push_back(job);
    --active_;
  }

  const Options o_;
  ares_channel channel_ = nullptr;
  psl_ctx_t* psl_latest_ = nullptr;  // owned; null when only the built-in
  const psl_ctx_t* psl_ = nullptr;
  MMDB_s mmdb_{};
  bool mmdb_open_ = false;
  CURLM* multi_ = nullptr;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
  std::vector<std::unique_ptr<Job>> slots_;
  std::vector<Job*> free_;
  std::deque<Query*> dns_wait_;  // questions waiting for a DNS slot, FIFO
  int outstanding_queries_ = 0;
  size_t active_ = 0;
  uint64_t ok_ = 0, dns_errors_ = 0, http_errors_ = 0, ns_ptr_errors_ = 0,
           queries_ = 0;
  std::string first_error_;
  Histogram hist_[kStages];
  Clock::time_point start_, end_;
};

int Usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s --urls FILE --dns ADDR:PORT --mmdb COUNTRY.mmdb --db DIR\n"
      "          [--inflight K] [--dns-inflight Q] [--dns-only] [--ca-file "
      "PEM] [--json]\n"
      "          [--dns-timeout-ms MS] [--dns-tries N]\n"
      "          [--connect-timeout-ms MS] [--timeout-ms MS] [--rcvbuf BYTES]\n"
      "URLs: one per line; blank lines and lines starting with # skipped.\n"
      "Without --ca-file TLS certificates are not verified.\n",
      argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    auto number = [&](int* out) {
      std::string v;
      if (!value(&v)) return false;
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 1 << 30) return false;
      *out = static_cast<int>(n);
      return true;
    };
    bool ok = true;
    if (a == "--urls")
      ok = value(&o.urls);
    else if (a == "--dns")
      ok = value(&o.dns);
    else if (a == "--mmdb")
      ok = value(&o.mmdb);
    else if (a == "--db")
      ok = value(&o.db);
    else if (a == "--ca-file")
      ok = value(&o.ca_file);
    else if (a == "--inflight")
      ok = number(&o.inflight);
    else if (a == "--dns-inflight")
      ok = number(&o.dns_inflight);
    else if (a == "--dns-timeout-ms")
      ok = number(&o.dns_timeout_ms);
    else if (a == "--dns-tries")
      ok = number(&o.dns_tries);
    else if (a == "--connect-timeout-ms")
      ok = number(&o.connect_timeout_ms);
    else if (a == "--timeout-ms")
      ok = number(&o.timeout_ms);
    else if (a == "--rcvbuf")
      ok = number(&o.rcvbuf);
    else if (a == "--dns-only")
      o.dns_only = true;
    else if (a == "--json")
      o.json = true;
    else
      ok = false;
    if (!ok) return Usage(argv[0]);
  }
  if (o.urls.empty() || o.dns.empty() || o.mmdb.empty() || o.db.empty()) {
    return Usage(argv[0]);
  }
  std::vector<std::string> urls;
  {
    std::ifstream in(o.urls);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", o.urls.c_str());
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
      }
      if (line.empty() || line[0] == '#') continue;
      urls.push_back(line);
    }
  }
  curl_global_init(CURL_GLOBAL_ALL);
  ares_library_init(ARES_LIB_INIT_ALL);
  int rc = 0;
  {
    Pipeline p(o);
    const std::string err = p.Init();
    if (!err.empty()) {
      std::fprintf(stderr, "hl_reference_pipeline: %s\n", err.c_str());
      rc = 1;
    } else {
      p.Run(urls);
      p.Report(urls.size());
    }
  }
  ares_library_cleanup();
  curl_global_cleanup();
  return rc;
}
