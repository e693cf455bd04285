// A single-threaded reactor: epoll for file descriptors (level-triggered)
// and an ordered set of timers, so that one thread drives c-ares, libcurl's
// multi interface and the coordinator socket together.
//
// Contract:
// - every callback runs on the thread that calls RunOnce, never inside
//   Watch, After or Defer;
// - a callback may watch, unwatch, add and cancel timers (its own
//   included), defer, and destroy the owner of any watched descriptor: an
//   event of a descriptor unwatched (or re-watched) during the current turn
//   is not delivered;
// - timers run in deadline order, those with one deadline in the order they
//   were added; a cancelled timer never runs;
// - time is the monotonic clock given at creation (milliseconds).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace hl::worker {

// Milliseconds of std::chrono::steady_clock.
int64_t SteadyClockMs();

class EventLoop {
 public:
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;
  // `ready` holds kRead and/or kWrite; an error or hang-up on the
  // descriptor is reported as both, so the owner finds it on its next I/O.
  using IoCallback = std::function<void(uint32_t ready)>;
  using TimerId = uint64_t;

  static Result<std::unique_ptr<EventLoop>> Create(
      Clock monotonic_ms = SteadyClockMs);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches `fd` for `interest` (kRead | kWrite; 0 keeps it registered
  // without events), replacing an earlier interest and callback.
  Status Watch(int fd, uint32_t interest, IoCallback callback);
  // Stops watching `fd`; unknown descriptors are ignored. Call it before
  // the descriptor is closed.
  void Unwatch(int fd);
  // Stops watching `fd` (if watched) and closes it, returning close's
  // result. The kernel drops a closed descriptor from epoll by itself, so
  // this costs no epoll_ctl: `fd` must be the only descriptor of its open
  // file (never dup'ed), or epoll would keep reporting it.
  int Close(int fd);

  // Runs `callback` once `delay_ms` (clamped at 0) has passed.
  TimerId After(int64_t delay_ms, std::function<void()> callback);
  // Unknown or already run timers are ignored.
  void Cancel(TimerId id);
  // Runs `callback` in this turn after the current callbacks, or in the
  // next turn when called outside one, before waiting for I/O.
  void Defer(std::function<void()> callback);

  // One turn: runs the deferred calls, waits for I/O until the earliest
  // timer or `max_wait_ms` (-1: no limit besides that; no wait at all when
  // deferred calls ran), then runs the ready I/O callbacks, the due timers
  // and the deferred calls.
  Status RunOnce(int max_wait_ms);

  // Runs turns until `done()` holds (checked before every turn); for
  // callers with nothing else to do (the lookup command, tests).
  Status RunUntil(const std::function<bool()>& done);

  int64_t Now() const { return clock_(); }
  size_t watched() const { return watches_.size(); }
  size_t pending_timers() const { return timers_.size(); }

 private:
  EventLoop(int epoll_fd, Clock clock);
  void RunDeferred();

  struct Watched {
    uint32_t generation;
    uint32_t interest;
    std::shared_ptr<IoCallback> callback;
  };

  int epoll_fd_;
  Clock clock_;
  uint32_t next_generation_ = 1;
  std::unordered_map<int, Watched> watches_;
  TimerId next_timer_ = 1;
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> timers_;
  std::unordered_map<TimerId, int64_t> timer_deadlines_;
  std::vector<std::function<void()>> deferred_;
};

}  // namespace hl::worker
