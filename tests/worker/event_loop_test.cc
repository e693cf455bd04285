// The reactor's contract (worker/event_loop.h), with an injected clock and
// real descriptors (pipes).
#include "worker/event_loop.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace hl::worker {
namespace {

using ::testing::ElementsAre;

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create([this] { return now_; });
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    loop_ = std::move(loop).value();
  }

  // A pipe with one byte written: its read end is readable.
  std::pair<int, int> ReadablePipe() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    EXPECT_EQ(write(fds[1], "x", 1), 1);
    pipes_.push_back(fds[0]);
    pipes_.push_back(fds[1]);
    return {fds[0], fds[1]};
  }

  void TearDown() override {
    for (int fd : pipes_) close(fd);
  }

  int64_t now_ = 1000;
  std::unique_ptr<EventLoop> loop_;
  std::vector<int> pipes_;
};

TEST_F(EventLoopTest, TimersRunInDeadlineOrderThenInTheOrderAdded) {
  std::vector<std::string> ran;
  loop_->After(20, [&] { ran.push_back("20"); });
  loop_->After(10, [&] { ran.push_back("10a"); });
  loop_->After(10, [&] { ran.push_back("10b"); });
  loop_->After(-5, [&] { ran.push_back("-5 is now"); });
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_THAT(ran, ElementsAre("-5 is now"));
  now_ += 10;
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_THAT(ran, ElementsAre("-5 is now", "10a", "10b"));
  now_ += 100;
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_THAT(ran, ElementsAre("-5 is now", "10a", "10b", "20"));
  EXPECT_EQ(loop_->pending_timers(), 0u);
}

TEST_F(EventLoopTest, ACancelledTimerNeverRunsEvenWhenDueInTheSameTurn) {
  std::vector<std::string> ran;
  EventLoop::TimerId second = 0;
  loop_->After(0, [&] {
    ran.push_back("first");
    loop_->Cancel(second);
  });
  second = loop_->After(0, [&] { ran.push_back("second"); });
  const EventLoop::TimerId third = loop_->After(0, [&] { ran.push_back("x"); });
  loop_->Cancel(third);
  loop_->Cancel(third);  // twice: ignored
  loop_->Cancel(12345);  // unknown: ignored
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_THAT(ran, ElementsAre("first"));
}

TEST_F(EventLoopTest, ATimerThatReArmsItselfWaitsForTheNextTurn) {
  int runs = 0;
  std::function<void()> again = [&] {
    ++runs;
    loop_->After(0, again);
  };
  loop_->After(0, again);
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(runs, 1);
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(runs, 2);
}

TEST_F(EventLoopTest, DeferredCallsRunInTheTurnAndNeverInsideDefer) {
  std::vector<std::string> ran;
  loop_->Defer([&] {
    ran.push_back("a");
    loop_->Defer([&] { ran.push_back("c"); });
  });
  loop_->Defer([&] { ran.push_back("b"); });
  EXPECT_TRUE(ran.empty());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_THAT(ran, ElementsAre("a", "b", "c"));
}

TEST_F(EventLoopTest, RunUntilDoesNotBlockAfterADeferredCallMadeItTrue) {
  bool done = false;
  loop_->Defer([&] { done = true; });
  // Nothing else is watched or timed: blocking in epoll would hang.
  ASSERT_TRUE(loop_->RunUntil([&] { return done; }).ok());
  EXPECT_TRUE(done);
}

TEST_F(EventLoopTest, ReadyDescriptorsAreReportedUntilUnwatched) {
  auto [read_end, write_end] = ReadablePipe();
  int calls = 0;
  ASSERT_TRUE(loop_
                  ->Watch(read_end, EventLoop::kRead,
                          [&](uint32_t ready) {
                            EXPECT_EQ(ready, EventLoop::kRead);
                            ++calls;
                          })
                  .ok());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(calls, 2);  // level-triggered: still readable
  loop_->Unwatch(read_end);
  loop_->Unwatch(read_end);  // unknown now: ignored
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(loop_->watched(), 0u);
}

TEST_F(EventLoopTest, AnEventOfADescriptorUnwatchedDuringTheTurnIsDropped) {
  auto [first, first_w] = ReadablePipe();
  auto [second, second_w] = ReadablePipe();
  int calls = 0;
  // Whichever comes first unwatches the other: exactly one call.
  ASSERT_TRUE(loop_
                  ->Watch(first, EventLoop::kRead,
                          [&](uint32_t) {
                            ++calls;
                            loop_->Unwatch(second);
                          })
                  .ok());
  ASSERT_TRUE(loop_
                  ->Watch(second, EventLoop::kRead,
                          [&](uint32_t) {
                            ++calls;
                            loop_->Unwatch(first);
                          })
                  .ok());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLoopTest, ADescriptorClosedWithoutUnwatchCanBeWatchedAgain) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_TRUE(loop_->Watch(fds[0], EventLoop::kRead, [](uint32_t) {}).ok());
  close(fds[0]);  // the kernel forgets it; the loop still lists it
  close(fds[1]);
  auto [read_end, write_end] = ReadablePipe();  // likely the same number
  int calls = 0;
  ASSERT_TRUE(
      loop_->Watch(read_end, EventLoop::kRead, [&](uint32_t) { ++calls; })
          .ok());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(calls, 1);
  if (read_end != fds[0]) loop_->Unwatch(fds[0]);
}

TEST_F(EventLoopTest, CloseForgetsTheDescriptorAndDropsItsEventOfTheTurn) {
  auto [first, first_w] = ReadablePipe();
  auto [second, second_w] = ReadablePipe();
  std::erase(pipes_, first);
  std::erase(pipes_, second);
  int calls = 0;
  int close_result = -1;
  // Whichever comes first closes the other: exactly one call.
  ASSERT_TRUE(loop_
                  ->Watch(first, EventLoop::kRead,
                          [&](uint32_t) {
                            ++calls;
                            close_result = loop_->Close(second);
                          })
                  .ok());
  ASSERT_TRUE(loop_
                  ->Watch(second, EventLoop::kRead,
                          [&](uint32_t) {
                            ++calls;
                            close_result = loop_->Close(first);
                          })
                  .ok());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(close_result, 0);
  EXPECT_EQ(loop_->watched(), 1u);
  const int closed = fcntl(first, F_GETFD) == -1 ? first : second;
  const int open = closed == first ? second : first;
  EXPECT_EQ(fcntl(closed, F_GETFD), -1);
  EXPECT_EQ(loop_->Close(open), 0);
  EXPECT_EQ(loop_->watched(), 0u);
  // The numbers (likely) come back for a new pipe, which is watched anew.
  auto [again, again_w] = ReadablePipe();
  int again_calls = 0;
  ASSERT_TRUE(
      loop_->Watch(again, EventLoop::kRead, [&](uint32_t) { ++again_calls; })
          .ok());
  ASSERT_TRUE(loop_->RunOnce(0).ok());
  EXPECT_EQ(again_calls, 1);
  loop_->Unwatch(again);
}

}  // namespace
}  // namespace hl::worker
