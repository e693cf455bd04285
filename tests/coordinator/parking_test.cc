// The parking lot of jobs held back by fleet politeness caps, from a table
// of operation sequences: each case runs its operations, then drains what
// is offered (Next, TakeNext) and compares the order and what stays parked.
#include "coordinator/parking.h"

#include <gtest/gtest.h>

#include <vector>

namespace hl::coordinator {
namespace {

enum class Op { kPark, kWake, kWakeAll, kTake, kRefuse, kClear };

struct Step {
  Op op;
  const char* key = "";
  uint64_t job = 0;
};

struct ParkingCase {
  const char* name;
  std::vector<Step> steps;
  std::vector<uint64_t> offered;  // drained after the steps, in order
  size_t left = 0;                // still parked after the drain
};

Step Park(const char* key, uint64_t job) { return {Op::kPark, key, job}; }
Step Wake(const char* key) { return {Op::kWake, key}; }
Step Refuse(const char* key) { return {Op::kRefuse, key}; }
constexpr Step kWakeAll{Op::kWakeAll};
constexpr Step kTake{Op::kTake};
constexpr Step kClear{Op::kClear};

TEST(ParkingLotTest, Table) {
  const ParkingCase cases[] = {
      {"a parked job waits for its key", {Park("a", 1)}, {}, 1},
      {"a woken key offers its jobs in id order",
       {Park("a", 3), Park("a", 1), Park("a", 2), Wake("a")},
       {1, 2, 3},
       0},
      {"awake keys interleave by job id",
       {Park("a", 1), Park("a", 4), Park("b", 2), Park("b", 3), Wake("b"),
        Wake("a")},
       {1, 2, 3, 4},
       0},
      {"a key not woken stays parked",
       {Park("a", 1), Park("b", 2), Wake("b")},
       {2},
       1},
      {"refused by its own key: the key sleeps, the job stays first",
       {Park("a", 1), Park("a", 2), Wake("a"), Refuse("a")},
       {},
       2},
      {"refused by its own key, woken again: same order",
       {Park("a", 1), Park("a", 2), Wake("a"), Refuse("a"), Wake("a")},
       {1, 2},
       0},
      {"refused by another key: both sleep",
       {Park("a", 1), Park("a", 2), Wake("a"), Refuse("b")},
       {},
       2},
      {"refused by another key: the job waits on that key",
       {Park("a", 1), Park("a", 2), Wake("a"), Refuse("b"), Wake("b")},
       {1},
       1},
      {"refused by another key: the rest wait on the former key",
       {Park("a", 1), Park("a", 2), Wake("a"), Refuse("b"), Wake("a")},
       {2},
       1},
      {"a moved job keeps its place among the other key's jobs",
       {Park("b", 3), Park("a", 1), Wake("a"), Refuse("b"), Wake("b")},
       {1, 3},
       0},
      {"parking under an awake key puts it to sleep",
       {Park("a", 1), Wake("a"), Park("a", 2)},
       {},
       2},
      {"wake all", {Park("a", 2), Park("b", 1), kWakeAll}, {1, 2}, 0},
      {"waking an unknown key does nothing", {Wake("z")}, {}, 0},
      {"take removes the first job for good",
       {Park("a", 1), Park("a", 2), Wake("a"), kTake},
       {2},
       0},
      {"take and refuse with nothing awake do nothing",
       {Park("a", 1), kTake, Refuse("b"), Wake("a")},
       {1},
       0},
      {"clear forgets every job",
       {Park("a", 1), Park("b", 2), kClear, kWakeAll},
       {},
       0},
  };
  for (const auto& c : cases) {
    ParkingLot lot;
    for (const Step& step : c.steps) {
      switch (step.op) {
        case Op::kPark:
          lot.Park(step.key, step.job);
          break;
        case Op::kWake:
          lot.Wake(step.key);
          break;
        case Op::kWakeAll:
          lot.WakeAll();
          break;
        case Op::kTake:
          lot.TakeNext();
          break;
        case Op::kRefuse:
          lot.RefuseNext(step.key);
          break;
        case Op::kClear:
          lot.Clear();
          break;
      }
    }
    std::vector<uint64_t> offered;
    while (auto next = lot.Next()) {
      offered.push_back(*next);
      lot.TakeNext();
    }
    EXPECT_EQ(offered, c.offered) << c.name;
    EXPECT_EQ(lot.size(), c.left) << c.name;
  }
}

}  // namespace
}  // namespace hl::coordinator
