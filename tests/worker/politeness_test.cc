// PolitenessGate from tables of scripted calls, and a randomized run
// checked against a brute-force model of the rules.
#include "worker/politeness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace hl::worker {
namespace {

using Ticket = PolitenessGate::Ticket;

PolitenessConfig Caps(uint32_t per_host, uint32_t per_address,
                      uint32_t interval_ms = 0) {
  PolitenessConfig config;
  config.max_per_host = per_host;
  config.max_per_address = per_address;
  config.min_host_interval_ms = interval_ms;
  return config;
}

// One call on the gate, or a check of its counters.
struct Step {
  enum Op { kRequest, kRelease, kWithdraw, kAdmit, kCheck } op = kCheck;
  int64_t now = 0;
  Ticket ticket = 0;
  std::string host;
  std::string address;
  std::vector<Ticket> admitted;     // kAdmit: expected, in request order per
                                    // host; across hosts in any order
  bool withdrawn = false;           // kWithdraw: expected result
  size_t waiting = 0;               // kCheck
  size_t hosts = 0;                 // kCheck
  size_t addresses = 0;             // kCheck
  std::optional<int64_t> deadline;  // kCheck
};

Step Req(Ticket ticket, std::string host, std::string address,
         int64_t now = 0) {
  Step step;
  step.op = Step::kRequest;
  step.now = now;
  step.ticket = ticket;
  step.host = std::move(host);
  step.address = std::move(address);
  return step;
}
Step Rel(std::string host, std::string address, int64_t now = 0) {
  Step step;
  step.op = Step::kRelease;
  step.now = now;
  step.host = std::move(host);
  step.address = std::move(address);
  return step;
}
Step Wd(Ticket ticket, std::string host, bool withdrawn, int64_t now = 0) {
  Step step;
  step.op = Step::kWithdraw;
  step.now = now;
  step.ticket = ticket;
  step.host = std::move(host);
  step.withdrawn = withdrawn;
  return step;
}
Step Adm(int64_t now, std::vector<Ticket> admitted) {
  Step step;
  step.op = Step::kAdmit;
  step.now = now;
  step.admitted = std::move(admitted);
  return step;
}
Step Chk(size_t waiting, size_t hosts, size_t addresses,
         std::optional<int64_t> deadline = std::nullopt) {
  Step step;
  step.op = Step::kCheck;
  step.waiting = waiting;
  step.hosts = hosts;
  step.addresses = addresses;
  step.deadline = deadline;
  return step;
}

struct Case {
  const char* name;
  PolitenessConfig config;
  std::vector<Step> steps;
};

const Case kCases[] = {
    {"withdrawn first ticket lets the next one start",
     Caps(1, 32),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"),
      Req(3, "a.test", "192.0.2.1"), Adm(0, {1}), Wd(1, "a.test", false),
      Wd(2, "a.test", true), Wd(2, "a.test", false), Chk(1, 1, 1),
      Rel("a.test", "192.0.2.1"), Adm(0, {3}), Chk(0, 1, 1)}},
    {"host waiting for a full address withdraws; the address is forgotten",
     Caps(4, 1),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "b.test", "192.0.2.1"), Adm(0, {1}),
      Wd(2, "b.test", true), Chk(0, 1, 1), Rel("a.test", "192.0.2.1"),
      Adm(0, {}), Chk(0, 0, 0)}},
    {"withdrawn ticket held by the interval; the next keeps the interval",
     Caps(4, 32, 100),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"),
      Req(3, "a.test", "192.0.2.1"), Adm(0, {1}), Wd(2, "a.test", true, 10),
      Chk(1, 1, 1, 100), Adm(99, {}), Adm(100, {3}), Wd(9, "b.test", false)}},
    {"one ticket starts at the next Admit",
     Caps(4, 32),
     {Req(1, "a.test", "192.0.2.1"), Chk(1, 1, 0), Adm(0, {1}), Chk(0, 1, 1),
      Adm(0, {})}},
    {"host cap holds the third ticket until a release",
     Caps(2, 32),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"),
      Req(3, "a.test", "192.0.2.1"), Adm(0, {1, 2}), Chk(1, 1, 1), Adm(1, {}),
      Rel("a.test", "192.0.2.1", 2), Adm(2, {3}), Chk(0, 1, 1)}},
    {"address cap is shared by the hosts on it",
     Caps(4, 1),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "b.test", "192.0.2.1"), Adm(0, {1}),
      Rel("a.test", "192.0.2.1"), Adm(0, {2}), Chk(0, 1, 1)}},
    {"interval spaces two starts on one host",
     Caps(4, 32, 100),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"),
      Req(3, "a.test", "192.0.2.1"), Adm(0, {1}), Chk(2, 1, 1, 100),
      Adm(99, {}), Adm(100, {2}), Chk(1, 1, 1, 200), Adm(250, {3}),
      Chk(0, 1, 1)}},
    {"interval applies after a release too",
     Caps(1, 32, 100),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"), Adm(0, {1}),
      Rel("a.test", "192.0.2.1", 10), Adm(10, {}), Chk(1, 1, 0, 100),
      Adm(100, {2})}},
    {"a host's tickets start in request order",
     Caps(1, 32),
     {Req(3, "a.test", "192.0.2.1"), Req(1, "a.test", "192.0.2.1"),
      Req(2, "a.test", "192.0.2.1"), Adm(0, {3}), Rel("a.test", "192.0.2.1"),
      Adm(0, {1}), Rel("a.test", "192.0.2.1"), Adm(0, {2})}},
    {"a host at its cap does not hold back other hosts",
     Caps(1, 32),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"), Adm(0, {1}),
      Req(3, "b.test", "192.0.2.2"), Req(4, "c.test", "192.0.2.1"),
      Adm(0, {3, 4}), Chk(1, 3, 2)}},
    {"a host in its interval does not hold back other hosts",
     Caps(4, 32, 1000),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"), Adm(0, {1}),
      Req(3, "b.test", "192.0.2.1", 5), Adm(5, {3}), Chk(1, 2, 1, 1000)}},
    {"a full address does not hold back other addresses",
     Caps(4, 1),
     {Req(1, "a.test", "192.0.2.1"), Adm(0, {1}), Req(2, "b.test", "192.0.2.1"),
      Req(3, "c.test", "192.0.2.2"), Req(4, "b.test", "192.0.2.3"), Adm(0, {3}),
      Chk(2, 3, 2)}},
    {"a ticket waiting for its address keeps its place in its host",
     Caps(4, 1),
     {Req(1, "x.test", "192.0.2.1"), Adm(0, {1}), Req(2, "a.test", "192.0.2.1"),
      Req(3, "a.test", "192.0.2.2"), Adm(0, {}), Rel("x.test", "192.0.2.1"),
      Adm(0, {2, 3}), Chk(0, 1, 2)}},
    {"hosts sharing an address get its freed slots in waiting order",
     Caps(4, 2),
     {Req(1, "a.test", "192.0.2.9"), Req(2, "b.test", "192.0.2.9"),
      Adm(0, {1, 2}), Req(3, "c.test", "192.0.2.9"),
      Req(4, "d.test", "192.0.2.9"), Req(5, "e.test", "192.0.2.9"), Adm(0, {}),
      Chk(3, 5, 1), Rel("b.test", "192.0.2.9"), Req(6, "f.test", "192.0.2.9"),
      Adm(0, {3}), Rel("a.test", "192.0.2.9"), Rel("c.test", "192.0.2.9"),
      Adm(0, {4, 5}), Rel("d.test", "192.0.2.9"), Adm(0, {6})}},
    {"releases in any order free the slots they name",
     Caps(1, 4),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "b.test", "192.0.2.1"),
      Req(3, "a.test", "192.0.2.1"), Req(4, "b.test", "192.0.2.1"),
      Adm(0, {1, 2}), Rel("b.test", "192.0.2.1"), Adm(0, {4}),
      Rel("b.test", "192.0.2.1"), Rel("a.test", "192.0.2.1"), Adm(0, {3}),
      Chk(0, 1, 1)}},
    {"idle hosts and addresses are forgotten at once without interval",
     Caps(4, 32),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "b.test", "192.0.2.2"),
      Adm(0, {1, 2}), Rel("a.test", "192.0.2.1"), Chk(0, 1, 1),
      Rel("b.test", "192.0.2.2"), Chk(0, 0, 0)}},
    {"idle hosts are forgotten when their interval ends",
     Caps(4, 32, 50),
     {Req(1, "a.test", "192.0.2.1"), Adm(10, {1}),
      Rel("a.test", "192.0.2.1", 20), Chk(0, 1, 0), Adm(59, {}), Chk(0, 1, 0),
      Adm(60, {}), Chk(0, 0, 0)}},
    {"an idle host asked again keeps its interval",
     Caps(4, 32, 50),
     {Req(1, "a.test", "192.0.2.1"), Adm(0, {1}), Rel("a.test", "192.0.2.1", 5),
      Req(2, "a.test", "192.0.2.1", 10), Adm(10, {}), Chk(1, 1, 0, 50),
      Adm(50, {2}), Chk(0, 1, 1)}},
    {"no deadline while the host cap holds the ticket back",
     Caps(1, 32, 10),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"), Adm(0, {1}),
      Chk(1, 1, 1), Rel("a.test", "192.0.2.1", 5), Adm(5, {}), Chk(1, 1, 0, 10),
      Adm(10, {2})}},
    {"deadline is the earliest of several hosts",
     Caps(4, 32, 100),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.1"), Adm(0, {1}),
      Req(3, "b.test", "192.0.2.2", 30), Req(4, "b.test", "192.0.2.2", 30),
      Adm(30, {3}), Chk(2, 2, 2, 100), Adm(100, {2}), Chk(1, 2, 2, 130),
      Adm(130, {4}), Chk(0, 2, 2)}},
    {"releases of unknown or free keys change nothing",
     Caps(1, 1),
     {Rel("nobody.test", "192.0.2.99"), Req(1, "a.test", "192.0.2.1"),
      Req(2, "a.test", "192.0.2.1"), Adm(0, {1}), Rel("b.test", "192.0.2.9"),
      Adm(0, {}), Chk(1, 1, 1), Rel("a.test", "192.0.2.1"), Adm(0, {2}),
      Rel("a.test", "192.0.2.1"), Rel("a.test", "192.0.2.1"), Chk(0, 0, 0),
      Req(3, "a.test", "192.0.2.1"), Req(4, "a.test", "192.0.2.1"), Adm(0, {3}),
      Chk(1, 1, 1)}},
    {"a release with another address frees only the host slot",
     Caps(1, 1),
     {Req(1, "a.test", "192.0.2.1"), Req(2, "a.test", "192.0.2.2"),
      Req(3, "b.test", "192.0.2.1"), Adm(0, {1}), Adm(0, {}),
      Rel("a.test", "192.0.2.2"), Adm(0, {2}), Chk(1, 2, 2)}},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class PolitenessTableTest : public ::testing::TestWithParam<Case> {};

// `tickets` sorted by host, each host's in the order given.
std::vector<Ticket> ByHost(std::vector<Ticket> tickets,
                           const std::map<Ticket, std::string>& hosts) {
  std::stable_sort(tickets.begin(), tickets.end(), [&](Ticket a, Ticket b) {
    return hosts.at(a) < hosts.at(b);
  });
  return tickets;
}

TEST_P(PolitenessTableTest, Script) {
  const Case& c = GetParam();
  PolitenessGate gate(c.config);
  std::map<Ticket, std::string> host_of;
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& step = c.steps[i];
    SCOPED_TRACE("step " + std::to_string(i));
    switch (step.op) {
      case Step::kRequest:
        host_of[step.ticket] = step.host;
        gate.Request(step.ticket, step.host, step.address, step.now);
        break;
      case Step::kRelease:
        gate.Release(step.host, step.address, step.now);
        break;
      case Step::kWithdraw:
        EXPECT_EQ(gate.Withdraw(step.ticket, step.host, step.now),
                  step.withdrawn);
        break;
      case Step::kAdmit:
        EXPECT_EQ(ByHost(gate.Admit(step.now), host_of),
                  ByHost(step.admitted, host_of));
        break;
      case Step::kCheck:
        EXPECT_EQ(gate.waiting(), step.waiting);
        EXPECT_EQ(gate.hosts_tracked(), step.hosts);
        EXPECT_EQ(gate.addresses_tracked(), step.addresses);
        EXPECT_EQ(gate.NextIntervalDeadline(), step.deadline);
        break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolitenessTableTest, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name;
      for (const char* p = info.param.name; *p != '\0'; ++p) {
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      }
      return name;
    });

// Admit's cost follows the changes, not the tickets waiting: with 100,000
// tickets held back (host caps, full addresses), 20,000
// release-and-admit turns on another host stay far below what one pass over
// the waiting tickets per turn would take.
TEST(PolitenessCostTest, AdmitIgnoresTicketsHeldBack) {
  PolitenessGate gate(Caps(1, 1));
  Ticket ticket = 1;
  for (int host = 0; host < 20'000; ++host) {
    for (int i = 0; i < 5; ++i) {
      gate.Request(ticket++, "h" + std::to_string(host) + ".test",
                   "198.51.100." + std::to_string(host % 200), 0);
    }
  }
  ASSERT_EQ(gate.Admit(0).size(), 200u);  // one per address
  ASSERT_EQ(gate.waiting(), 99'800u);
  const auto start = std::chrono::steady_clock::now();
  for (int turn = 0; turn < 20'000; ++turn) {
    gate.Request(ticket, "busy.test", "192.0.2.1", turn);
    std::vector<Ticket> admitted = gate.Admit(turn);
    ASSERT_EQ(admitted, std::vector<Ticket>{ticket}) << turn;
    gate.Release("busy.test", "192.0.2.1", turn);
    ++ticket;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_EQ(gate.waiting(), 99'800u);
}

// The rules by brute force: every ticket, slot and last start kept.
class Model {
 public:
  explicit Model(const PolitenessConfig& config) : config_(config) {}

  void Request(Ticket ticket, const std::string& host,
               const std::string& address) {
    queue_[host].push_back({ticket, address});
    host_of_[ticket] = host;
  }
  // Releases the slot of one admitted (host, address) pair, as the gate
  // does for any pair.
  void Release(const std::string& host, const std::string& address) {
    if (host_admitted_[host] > 0) --host_admitted_[host];
    if (address_admitted_[address] > 0) --address_admitted_[address];
    auto it = std::find(admitted_.begin(), admitted_.end(),
                        std::make_pair(host, address));
    if (it != admitted_.end()) admitted_.erase(it);
  }
  // Removes a waiting ticket; false when it is not waiting.
  bool Withdraw(Ticket ticket) {
    auto host = host_of_.find(ticket);
    if (host == host_of_.end()) return false;
    auto& queue = queue_[host->second];
    auto it = std::find_if(queue.begin(), queue.end(),
                           [&](const auto& w) { return w.first == ticket; });
    if (it == queue.end()) return false;
    queue.erase(it);
    return true;
  }
  // Applies the gate's answer to Admit(now), checking each ticket against
  // the rules, then that nothing allowed was left waiting.
  void Admit(const std::vector<Ticket>& admitted, int64_t now) {
    for (Ticket ticket : admitted) {
      ASSERT_TRUE(host_of_.count(ticket)) << ticket;
      const std::string& host = host_of_[ticket];
      auto& queue = queue_[host];
      ASSERT_FALSE(queue.empty()) << host;
      ASSERT_EQ(queue.front().first, ticket) << "out of order on " << host;
      const std::string address = queue.front().second;
      ASSERT_FALSE(HeldBack(host, address, now)) << ticket;
      queue.erase(queue.begin());
      ++host_admitted_[host];
      ++address_admitted_[address];
      last_start_[host] = now;
      admitted_.emplace_back(host, address);
    }
    for (const auto& [host, queue] : queue_) {
      if (queue.empty()) continue;
      EXPECT_TRUE(HeldBack(host, queue.front().second, now))
          << "left waiting: ticket " << queue.front().first << " of " << host;
    }
  }

  // Expected counters and deadline after Admit(now).
  size_t waiting() const {
    size_t n = 0;
    for (const auto& [host, queue] : queue_) n += queue.size();
    return n;
  }
  size_t hosts_tracked(int64_t now) const {
    std::set<std::string> hosts;
    for (const auto& [host, queue] : queue_) {
      if (!queue.empty()) hosts.insert(host);
    }
    for (const auto& [host, n] : host_admitted_) {
      if (n > 0) hosts.insert(host);
    }
    for (const auto& [host, last] : last_start_) {
      if (now < last + config_.min_host_interval_ms) hosts.insert(host);
    }
    return hosts.size();
  }
  size_t addresses_tracked() const {
    size_t n = 0;
    for (const auto& [address, count] : address_admitted_) n += count > 0;
    return n;
  }
  std::optional<int64_t> NextIntervalDeadline(int64_t now) const {
    std::optional<int64_t> next;
    for (const auto& [host, queue] : queue_) {
      if (queue.empty() || AtHostCap(host)) continue;
      auto last = last_start_.find(host);
      if (last == last_start_.end()) continue;
      const int64_t end = last->second + config_.min_host_interval_ms;
      if (now < end && (!next || end < *next)) next = end;
    }
    return next;
  }

  const std::string& host_of(Ticket ticket) const {
    return host_of_.at(ticket);
  }
  const std::vector<std::pair<std::string, std::string>>& admitted() const {
    return admitted_;
  }

 private:
  bool AtHostCap(const std::string& host) const {
    auto it = host_admitted_.find(host);
    return it != host_admitted_.end() && it->second >= config_.max_per_host;
  }
  bool HeldBack(const std::string& host, const std::string& address,
                int64_t now) const {
    if (AtHostCap(host)) return true;
    auto last = last_start_.find(host);
    if (last != last_start_.end() &&
        now < last->second + config_.min_host_interval_ms) {
      return true;
    }
    auto it = address_admitted_.find(address);
    return it != address_admitted_.end() &&
           it->second >= config_.max_per_address;
  }

  PolitenessConfig config_;
  std::map<std::string, std::vector<std::pair<Ticket, std::string>>> queue_;
  std::map<Ticket, std::string> host_of_;
  std::map<std::string, uint32_t> host_admitted_;
  std::map<std::string, uint32_t> address_admitted_;
  std::map<std::string, int64_t> last_start_;
  std::vector<std::pair<std::string, std::string>> admitted_;
};

// Random calls (few hosts and addresses, so that caps, intervals and
// shared addresses collide), each Admit checked against the model.
TEST(PolitenessPropertyTest, AgreesWithBruteForceModel) {
  constexpr int kSeeds = 200;
  constexpr int kCalls = 1000;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    auto uniform = [&](int lo, int hi) {
      return std::uniform_int_distribution<int>(lo, hi)(random);
    };
    const uint32_t intervals[] = {0, 3, 10};
    const PolitenessConfig config =
        Caps(uniform(1, 3), uniform(1, 4), intervals[uniform(0, 2)]);
    PolitenessGate gate(config);
    Model model(config);
    int64_t now = 0;
    Ticket next_ticket = 1;
    for (int call = 0; call < kCalls && !HasFatalFailure(); ++call) {
      now += uniform(0, 3);
      const int host = uniform(0, 7);
      const std::string host_name = "h" + std::to_string(host) + ".test";
      // Mostly the host's own address; sometimes one shared with others.
      const std::string address =
          "192.0.2." +
          std::to_string(uniform(0, 4) == 0 ? uniform(0, 3) : host % 4);
      const int op = uniform(0, 99);
      if (op < 45) {
        gate.Request(next_ticket, host_name, address, now);
        model.Request(next_ticket, host_name, address);
        ++next_ticket;
      } else if (op < 75 && !model.admitted().empty()) {
        const auto pair = model.admitted()[uniform(
            0, static_cast<int>(model.admitted().size()) - 1)];
        gate.Release(pair.first, pair.second, now);
        model.Release(pair.first, pair.second);
      } else if (op < 80) {
        // Any pair, mostly holding no slot: each side freed if it holds one.
        gate.Release(host_name, address, now);
        model.Release(host_name, address);
      } else if (op < 88 && next_ticket > 1) {
        // Any ticket: waiting (first or later), admitted, or withdrawn.
        const Ticket ticket = uniform(1, static_cast<int>(next_ticket) - 1);
        const bool withdrawn = model.Withdraw(ticket);
        // The gate is told the ticket's own host, as the prober does.
        ASSERT_EQ(gate.Withdraw(ticket, model.host_of(ticket), now), withdrawn)
            << ticket;
      } else {
        model.Admit(gate.Admit(now), now);
        ASSERT_EQ(gate.waiting(), model.waiting());
        ASSERT_EQ(gate.hosts_tracked(), model.hosts_tracked(now));
        ASSERT_EQ(gate.addresses_tracked(), model.addresses_tracked());
        ASSERT_EQ(gate.NextIntervalDeadline(), model.NextIntervalDeadline(now));
      }
    }
  }
}

}  // namespace
}  // namespace hl::worker
